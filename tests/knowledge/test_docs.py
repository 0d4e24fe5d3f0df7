"""The knowledge-base examples of README.md and docs/knowledge.md run as written."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

from tisslang import parse
from tisslang.checker import check

ROOT = Path(__file__).parents[2]


def shell_block(document: Path, after: str) -> str:
    text = document.read_text(encoding="utf-8")
    return re.search(r"^```sh\n(.*?)^```", text[text.index(after):], re.S | re.M).group(1)


def run_shell(script: str, cwd: Path) -> subprocess.CompletedProcess:
    env = {**os.environ, "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}"}
    return subprocess.run(["bash", "-e", "-c", script], cwd=cwd, env=env, capture_output=True,
                          text=True, timeout=120)


def test_the_readme_section_runs(tmp_path):
    (tmp_path / "src").mkdir()
    (tmp_path / "src" / "api.py").write_text("def get(url):\n    return url\n")
    result = run_shell(shell_block(ROOT / "README.md", "## Knowledge bases"), tmp_path)
    assert result.returncode == 0, result.stderr
    assert "1. notes/deploy.md:5-7  Deploying > Rolling back\n" in result.stdout
    assert '"source": "notes/deploy.md:5-7"' in result.stdout
    assert "into knowledge base 'api'" in result.stdout


def test_the_guide_commands_run(tmp_path):
    (tmp_path / "docs").mkdir()
    (tmp_path / "docs" / "guide.md").write_text("# Guide\n\n## Installing\n\nRun pip install quanta.\n")
    (tmp_path / "README.md").write_text("# Readme\n\nHow to install it.\n")
    (tmp_path / "notes").mkdir()
    (tmp_path / "notes" / "a.txt").write_text("notes\n")
    (tmp_path / "src").mkdir()
    (tmp_path / "src" / "m.py").write_text("def f():\n    pass\n")
    result = run_shell(shell_block(ROOT / "docs" / "knowledge.md", "# Knowledge bases"), tmp_path)
    assert result.returncode == 0, result.stderr
    assert "1. docs/guide.md:3-5  Guide > Installing" in result.stdout


def test_the_guide_plans_check():
    text = (ROOT / "docs" / "knowledge.md").read_text(encoding="utf-8")
    plans = re.findall(r"^```tiss\n(.*?)^```", text, re.S | re.M)
    assert plans
    for plan in plans:
        assert [d.format() for d in check(parse(plan, "knowledge.md")) if d.severity == "error"] == []
