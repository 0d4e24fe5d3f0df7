"""The MCP examples of README.md and docs/mcp.md really work: the README
section's configuration and shell commands run as written (with that
configuration as $TISS_CONFIG); docs/mcp.md's configuration parses and its
plan runs against the real time and git servers."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import yaml

from tools.mcp_client import parse_servers

from .test_mcp_client import git_repository

ROOT = Path(__file__).resolve().parents[2]
BIN = Path(sys.executable).parent


def blocks(text: str, language: str) -> list[str]:
    return re.findall(rf"^```{language}\n(.*?)^```", text, re.S | re.M)


def readme_section() -> str:
    text = (ROOT / "README.md").read_text()
    start = text.index("## MCP servers, both ways")
    return text[start:text.index("\n## ", start + 1)]


def user(tmp_path: Path, config: str) -> dict:
    (tmp_path / "config.yaml").write_text(config)
    return {**os.environ, "TISS_CONFIG": str(tmp_path / "config.yaml"), "XDG_STATE_HOME": str(tmp_path / "state"),
            "PATH": f"{BIN}{os.pathsep}{os.environ['PATH']}"}


def test_the_readme_section_runs_as_written(tmp_path):
    section = readme_section()
    (config,), (commands,) = blocks(section, "yaml"), blocks(section, "sh")
    workspace = tmp_path / "ws"
    workspace.mkdir()
    result = subprocess.run(["bash", "-euo", "pipefail", "-c", commands], cwd=workspace,
                            env=user(tmp_path, config), capture_output=True, text=True, timeout=300,
                            stdin=subprocess.DEVNULL)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "get_current_time  (mcp server 'time')" in result.stdout
    assert re.search(r"LOG it is a \w+day in Paris", result.stdout)


def test_docs_mcp_configuration_parses_and_its_plan_runs(tmp_path):
    text = (ROOT / "docs" / "mcp.md").read_text()
    (config, *_), (plan,) = blocks(text, "yaml"), blocks(text, "tiss")
    names = [spec.name for spec in parse_servers(yaml.safe_load(config)["mcp_servers"], "docs/mcp.md")]
    assert names == ["time", "git"] + ["search"]
    workspace = git_repository(tmp_path / "ws")
    (workspace / "plan.tiss").write_text(plan)
    only_local = {"mcp_servers": {"time": {"command": "mcp-server-time", "args": ["--local-timezone", "UTC"]},
                                  "git": {"command": "mcp-server-git", "args": ["--repository", "."]}}}
    result = subprocess.run([str(BIN / "tiss"), "run", "plan.tiss", "--sandbox", "host"], cwd=workspace,
                            env=user(tmp_path, yaml.safe_dump(only_local)), capture_output=True, text=True,
                            timeout=300)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "in Tokyo; last commits:" in result.stdout and "first notes" in result.stdout
