"""MCP tools in real TissLang plans run by the installed ``tiss``: configured in
the user's config or a workspace's tiss.yaml (which must be trusted first),
called with CALL, journaled, and a server that dies mid-run stops the run so
that ``tiss resume`` finishes it without repeating what was done."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
import yaml

from tests.sandbox.conftest import require_backend

from .test_mcp_client import BIN, FIXTURE, git_repository

TISS = [sys.executable, "-m", "runtime.cli"]


@pytest.fixture
def home(tmp_path):
    """The user's own config (``$TISS_CONFIG``) and state folder, and a workspace
    that is a git repository. ``tiss(*args)`` runs there."""
    workspace = git_repository(tmp_path / "ws")
    config = tmp_path / "config.yaml"
    env = {**os.environ, "TISS_CONFIG": str(config), "XDG_STATE_HOME": str(tmp_path / "state")}

    def tiss(*args):
        return subprocess.run([*TISS, *args], cwd=workspace, env=env, capture_output=True, text=True,
                              timeout=180)

    def configure(path: Path, servers: dict):
        path.write_text(yaml.safe_dump({"mcp_servers": servers}))

    config.write_text("{}\n")
    return type("Home", (), {"workspace": workspace, "config": config, "tiss": staticmethod(tiss),
                             "configure": staticmethod(configure), "root": tmp_path})


TIME = {"command": str(BIN / "mcp-server-time"), "args": ["--local-timezone", "UTC"]}
GIT = {"command": str(BIN / "mcp-server-git"), "args": ["--repository", "."]}

ASK_THE_SERVERS = """\
TASK "Ask MCP servers" {
    STEP "time and history" {
        CALL get_current_time {timezone: "Asia/Tokyo"} INTO now
        ASSERT now.timezone == "Asia/Tokyo"
        CALL git_log {repo_path: "."} INTO history
        ASSERT history CONTAINS "first notes"
        WRITE "now.txt" "{{now.day_of_week}}"
    }
    STEP "the sandbox sees it" {
        RUN "cat now.txt" AS shown
        ASSERT shown.STDOUT == now.day_of_week
    }
}
"""


def events(workspace: Path, run_id: str) -> list[dict]:
    lines = (workspace / ".tiss" / "runs" / run_id / "events.jsonl").read_text().splitlines()
    return [json.loads(line) for line in lines if line.strip()]


@pytest.mark.parametrize("sandbox", ["docker"])   # on the host: test_mcp_docs.py
def test_a_plan_calls_mcp_tools_and_the_calls_are_journaled(home, sandbox):
    if sandbox == "docker":
        require_backend("docker")
    home.configure(home.config, {"time": TIME, "git": GIT})
    (home.workspace / "plan.tiss").write_text(ASK_THE_SERVERS)
    result = home.tiss("run", "plan.tiss", "--sandbox", sandbox, "--json")
    assert result.returncode == 0, result.stdout + result.stderr
    run_id = json.loads(result.stdout)["run_id"]
    calls = [e for e in events(home.workspace, run_id) if e.get("tool")]
    assert [(e["tool"], e["source"]) for e in calls] == [
        ("get_current_time", "mcp server 'time'"), ("git_log", "mcp server 'git'")]
    changed = {change[1]: change[2] for e in calls for change in e.get("delta", []) if len(change) == 3}
    assert changed["now"]["timezone"] == "Asia/Tokyo" and "first notes" in changed["history"]


def test_tiss_check_knows_the_servers_tools_and_schemas(home):
    home.configure(home.config, {"time": TIME})
    (home.workspace / "plan.tiss").write_text(textwrap.dedent("""\
        CALL get_current_time {timezone: "UTC"} INTO fine
        CALL get_current_time {timezone: 3} INTO wrong
        CALL get_time {timezone: "UTC"}
        """))
    checked = home.tiss("check", "plan.tiss")
    assert checked.returncode == 2
    lines = [line for line in checked.stderr.splitlines() if ": error: " in line]
    assert len(lines) == 2, checked.stderr
    assert lines[0].startswith("plan.tiss:2:") and "argument 'timezone': expected a string, got 3" in lines[0]
    assert lines[1].startswith("plan.tiss:3:") and "get_time" in lines[1]


def test_a_call_to_a_server_that_did_not_start_says_why(home):
    home.configure(home.config, {"clock": {"command": "no-such-mcp-server-here"}})
    (home.workspace / "plan.tiss").write_text('CALL get_current_time {timezone: "UTC"}\n')
    failed = home.tiss("run", "plan.tiss", "--sandbox", "host")
    assert failed.returncode == 1
    assert "unknown tool 'get_current_time'" in failed.stdout
    assert "mcp server 'clock' (no-such-mcp-server-here" in failed.stdout
    assert "failed to start: command not found" in failed.stdout


def test_a_server_that_dies_mid_run_stops_it_and_resume_finishes_it(home):
    die = home.root / "die"
    home.configure(home.config, {"fx": {"command": sys.executable, "args": [str(FIXTURE), "stdio"],
                                        "env": {"DIE_IF_EXISTS": str(die),
                                                "CALLS_LOG": str(home.root / "calls.log")}}})
    (home.workspace / "plan.tiss").write_text(textwrap.dedent("""\
        TASK "Survive a dying server" {
            STEP "before" { CALL count {label: "before"} }
            STEP "flaky" {
                CALL flaky {text: "made it"} INTO said
                ASSERT said.result == "made it"
            }
            STEP "after" { CALL count {label: "after"} }
        }
        """))
    die.touch()
    stopped = home.tiss("run", "plan.tiss", "--sandbox", "host")
    assert stopped.returncode == 130, stopped.stdout + stopped.stderr
    assert "stopped: " in stopped.stdout
    assert "tool 'flaky': mcp server 'fx'" in stopped.stdout
    assert "died during the call to 'flaky'" in stopped.stdout and "dying on purpose" in stopped.stdout
    assert "Traceback" not in stopped.stdout + stopped.stderr
    resume = stopped.stdout.strip().splitlines()[-1].removeprefix("resume with: ")
    assert resume.startswith("tiss resume ")
    die.unlink()                                 # the server is fixed
    resumed = home.tiss(*resume.split()[1:])
    assert resumed.returncode == 0, resumed.stdout + resumed.stderr
    assert (home.root / "calls.log").read_text().split() == ["before", "after"]   # not repeated


def test_a_workspace_tiss_yaml_needs_trust_and_a_change_withdraws_it(home):
    started = home.root / "started"
    local = home.workspace / "tiss.yaml"
    home.configure(local, {"fx": {"command": "/bin/sh", "args": [
        "-c", f'touch "{started}"; exec "{sys.executable}" "{FIXTURE}" stdio'],
        "env": {"CALLS_LOG": str(home.root / "calls.log")}}})
    (home.workspace / "plan.tiss").write_text('CALL count {label: "trusted"} INTO said\n')

    refused = home.tiss("run", "plan.tiss", "--sandbox", "host")
    assert refused.returncode == 2
    assert "tiss.yaml: it names MCP servers, which run on this machine outside the sandbox; " \
           "you have not trusted this file" in refused.stderr
    assert "hint: read it, then trust it with: tiss trust tiss.yaml" in refused.stderr
    other = home.tiss("check", "plan.tiss")                  # any command says it the same way
    assert other.returncode == 2 and "you have not trusted this file" in other.stderr
    assert "Traceback" not in other.stderr
    assert not started.exists()                   # nothing ran

    trusted = home.tiss("trust")
    assert trusted.returncode == 0 and f"trusted {local}" in trusted.stdout
    assert "mcp server fx: /bin/sh -c" in trusted.stdout          # what was allowed
    assert home.tiss("run", "plan.tiss", "--sandbox", "host").returncode == 0
    assert started.exists()

    local.write_text(local.read_text() + "# one more line\n")
    changed = home.tiss("run", "plan.tiss", "--sandbox", "host")
    assert changed.returncode == 2 and "changed since you trusted it" in changed.stderr
    assert f"changed  {local}" in home.tiss("trust", "--list").stdout

    assert home.tiss("trust", "tiss.yaml").returncode == 0
    assert home.tiss("trust", "--revoke").returncode == 0
    revoked = home.tiss("run", "plan.tiss", "--sandbox", "host")
    assert revoked.returncode == 2 and "you have not trusted this file" in revoked.stderr
    assert (home.root / "calls.log").read_text().split() == ["trusted"]


def test_trust_refuses_a_missing_file_and_lists_nothing_at_first(home):
    missing = home.tiss("trust", "nope.yaml")
    assert missing.returncode == 2 and "nope.yaml: no such file" in missing.stderr
    assert home.tiss("trust", "--list").stdout.strip() == "no trusted files"


def test_a_tiss_yaml_without_servers_or_model_url_needs_no_trust(home, tmp_path):
    from runtime.config import ConfigError
    from runtime.trust import workspace_config

    (home.workspace / "tiss.yaml").write_text("sandbox: {pids: 64}\n")
    assert workspace_config(home.workspace)[0] == {"sandbox": {"pids": 64}}
    (home.workspace / "tiss.yaml").write_text("model: {backend: openai, base_url: http://127.0.0.1:9/v1}\n")
    with pytest.raises(ConfigError, match="base URL, which would receive your API key"):
        workspace_config(home.workspace)


def test_trust_judges_the_very_bytes_it_parses(home, monkeypatch):
    """A sandboxed command can rewrite tiss.yaml at any moment: the bytes that
    are hashed must be the bytes that are used, not a second read's."""
    import runtime.trust as trust
    from runtime.config import ConfigError

    monkeypatch.setenv("XDG_STATE_HOME", str(home.root / "state"))
    local = home.workspace / "tiss.yaml"
    home.configure(local, {"time": TIME})
    trusted = local.read_bytes()
    trust.trust(local, trusted)
    assert trust.workspace_config(home.workspace)[0]["mcp_servers"]["time"] == TIME
    swapped = trusted.replace(b"mcp-server-time", b"evil-server")
    monkeypatch.setattr(trust, "_read", lambda path: swapped)   # what one read saw; the file is unchanged
    with pytest.raises(ConfigError, match="changed since you trusted it"):
        trust.workspace_config(home.workspace)
