"""tools/mcp_client.py against real MCP servers: ``mcp-server-time`` and
``mcp-server-git`` from the package registry (installed by the ``test``
extra), and a fixture server written with the SDK (for what those cannot do
on demand: die mid-call, serve streamable HTTP on loopback)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.waiting import wait_for
from tools import ToolError
from tools.mcp_client import McpConfigError, McpServerError, close_tools, mcp_tools, parse_servers

BIN = Path(sys.executable).parent
FIXTURE = Path(__file__).with_name("mcp_fixture_server.py")


def time_server(**extra) -> dict:
    return {"command": str(BIN / "mcp-server-time"), "args": ["--local-timezone", "UTC"], **extra}


def fixture_server(tmp_path, **env) -> dict:
    return {"command": sys.executable, "args": [str(FIXTURE), "stdio"],
            "env": {"CALLS_LOG": str(tmp_path / "calls.log"), **env}}


@pytest.fixture
def servers():
    """``servers(config) -> {name: Tool}``, problems; closes them after the test."""
    opened = []

    def start(section: dict, workspace=None):
        tools, problems = mcp_tools({"mcp_servers": section, "mcp_origins": {n: "test.yaml" for n in section}},
                                    workspace=workspace)
        opened.extend(tools)
        return {t.name: t for t in tools}, problems

    yield start
    close_tools(opened)


def git_repository(path: Path) -> Path:
    path.mkdir()
    for command in (["init", "-q", "-b", "main"], ["add", "notes.txt"], ["commit", "-q", "-m", "first notes"]):
        if command[0] == "add":
            (path / "notes.txt").write_text("hello\n")
        subprocess.run(["git", "-c", "user.name=T", "-c", "user.email=t@example.org", *command],
                       cwd=path, check=True)
    return path


# --- configuration -------------------------------------------------------------


@pytest.mark.parametrize("entry, says", [
    ("mcp-server-time", "must be a mapping with `command` or `url`"),
    ({}, "needs exactly one of `command`"),
    ({"command": "a", "url": "http://x"}, "needs exactly one of `command`"),
    ({"command": "a", "port": 3}, "unknown setting 'port'"),
    ({"command": "a", "args": "--x"}, "args must be a list of strings"),
    ({"command": "a", "env": ["A=1"]}, "env must map names to strings"),
    ({"command": ""}, "command must be a non-empty string"),
    ({"url": "ftp://x"}, "url must be an http:// or https:// address"),
    ({"url": "http://x", "args": ["a"]}, "'args' goes with `command`"),
    ({"command": "a", "headers": {"A": "b"}}, "`headers` goes with `url`"),
    ({"command": "a", "timeout": 0}, "timeout must be a positive number"),
    ({"command": "a", "startup_timeout": True}, "startup_timeout must be a positive number"),
])
def test_a_bad_entry_names_its_file_and_key(entry, says):
    with pytest.raises(McpConfigError) as error:
        parse_servers({"time": entry}, "/home/u/tiss.yaml")
    assert error.value.message.startswith("/home/u/tiss.yaml: mcp_servers.time")
    assert says in error.value.message


def test_a_good_entry_is_parsed():
    (spec,) = parse_servers({"t": {"command": "srv", "args": ["-v", 2], "env": {"A": 1}, "timeout": 5}}, "f")
    assert (spec.command, spec.args, spec.env, spec.timeout) == ("srv", ("-v", "2"), (("A", "1"),), 5.0)
    assert parse_servers(None, "f") == []
    with pytest.raises(McpConfigError, match="must map names to servers"):
        parse_servers(["time"], "f")


def test_a_malformed_entry_is_a_problem_not_a_crash(servers):
    tools, problems = servers({"bad": {"command": "x", "colour": "red"}})
    assert tools == {} and "mcp_servers.bad: unknown setting 'colour'" in problems[0]


# --- real servers from the registry --------------------------------------------------


def test_time_server_tools_join_with_their_schemas_and_answer(servers):
    tools, problems = servers({"time": time_server()})
    assert problems == []
    now = tools["get_current_time"]
    assert now.source == "mcp server 'time'"
    assert now.parameters["required"] == ["timezone"]
    assert now.parameters["properties"]["timezone"]["type"] == "string"
    answer = now.call({"timezone": "Europe/Paris"})
    assert answer["timezone"] == "Europe/Paris" and answer["datetime"][:2] == "20"
    converted = tools["convert_time"].call({"source_timezone": "UTC", "time": "12:00",
                                            "target_timezone": "Asia/Tokyo"})
    assert converted["target"]["datetime"].endswith("21:00:00+09:00")


def test_a_server_side_failure_and_a_bad_argument_are_tool_errors(servers):
    tools, _ = servers({"time": time_server()})
    with pytest.raises(ToolError) as failed:
        tools["get_current_time"].call({"timezone": "Nowhere/Atlantis"})
    assert failed.value.message.startswith("mcp server 'time' answered: ")
    assert "Nowhere/Atlantis" in failed.value.message
    assert not isinstance(failed.value, McpServerError)   # the server is fine: a step failure
    with pytest.raises(ToolError, match="argument 'timezone': expected a string, got 3"):
        tools["get_current_time"].call({"timezone": 3})


def test_git_server_on_a_repository_the_test_made(servers, tmp_path):
    repo = git_repository(tmp_path / "repo")
    tools, problems = servers({"git": {"command": str(BIN / "mcp-server-git"), "args": ["--repository", "."]}},
                              workspace=repo)
    assert problems == []
    assert "first notes" in tools["git_log"].call({"repo_path": str(repo)})
    (repo / "notes.txt").write_text("hello\nworld\n")
    assert "+world" in tools["git_diff_unstaged"].call({"repo_path": str(repo)})
    tools["git_add"].call({"repo_path": str(repo), "files": ["notes.txt"]})
    tools["git_commit"].call({"repo_path": str(repo), "message": "second notes"})
    log = subprocess.run(["git", "log", "--format=%s"], cwd=repo, capture_output=True, text=True).stdout
    assert log.split() == ["second", "notes", "first", "notes"]


def test_prefix_renames_and_other_names_become_identifiers(servers):
    tools, _ = servers({"time": time_server(prefix="clock_")})
    assert sorted(tools) == ["clock_convert_time", "clock_get_current_time"]
    assert tools["clock_get_current_time"].call({"timezone": "UTC"})["timezone"] == "UTC"


# --- failures name the server --------------------------------------------------------


def test_servers_that_fail_to_start_are_problems_naming_them(servers, tmp_path):
    tools, problems = servers({
        "missing": {"command": "no-such-mcp-server-here"},
        "quits": {"command": "/bin/false"},
        "silent": {"command": "/bin/sh", "args": ["-c", "echo not an mcp server >&2; exec sleep 30"],
                   "startup_timeout": 1},
        "time": time_server(),
    })
    assert sorted(tools) == ["convert_time", "get_current_time"]    # the others still load
    text = "\n".join(problems)
    assert "mcp server 'missing' (no-such-mcp-server-here, from test.yaml) failed to start: command not found" in text
    assert "mcp server 'quits' (/bin/false, from test.yaml) failed to start: it exited" in text
    assert "mcp server 'silent'" in text and "did not answer within 1 s" in text
    assert "| not an mcp server" in text                            # what it said on stderr


def test_when_every_server_fails_nothing_is_left_running(servers):
    import threading
    before = threading.active_count()
    tools, problems = servers({"missing": {"command": "no-such-mcp-server-here"}})
    assert tools == {} and len(problems) == 1
    assert threading.active_count() == before          # the event loop's thread ended too


def test_a_missing_environment_variable_is_named(servers, monkeypatch):
    monkeypatch.delenv("TISS_TEST_UNSET", raising=False)
    _, problems = servers({"time": time_server(env={"TOKEN": "${TISS_TEST_UNSET}"})})
    assert "env TOKEN uses ${TISS_TEST_UNSET}, which is not set" in problems[0]


def test_a_server_that_dies_mid_call_is_named_and_starts_again(servers, tmp_path):
    die = tmp_path / "die"
    tools, _ = servers({"fx": fixture_server(tmp_path, DIE_IF_EXISTS=str(die))})
    assert tools["flaky"].call({"text": "one"}) == {"result": "one"}
    first = tools["pid"].call({})["result"]
    die.touch()
    with pytest.raises(McpServerError) as died:
        tools["flaky"].call({"text": "two"})
    assert "mcp server 'fx'" in died.value.message and "died during the call to 'flaky'" in died.value.message
    assert "| fixture: dying on purpose" in died.value.message
    assert "mcp_servers.fx in test.yaml" in died.value.hint
    die.unlink()
    assert tools["flaky"].call({"text": "three"}) == {"result": "three"}   # a new session
    assert tools["pid"].call({})["result"] != first


def test_concurrent_calls_share_one_session(servers, tmp_path):
    """PARALLEL branches call from several threads at once, also while the
    server has to start again: one new process, every answer its own."""
    from concurrent.futures import ThreadPoolExecutor
    die = tmp_path / "die"
    tools, _ = servers({"fx": fixture_server(tmp_path, DIE_IF_EXISTS=str(die))})
    die.touch()
    with pytest.raises(McpServerError):
        tools["flaky"].call({"text": "bye"})
    die.unlink()
    with ThreadPoolExecutor(8) as pool:
        pids = set(pool.map(lambda i: tools["pid"].call({})["result"], range(8)))
        answers = list(pool.map(lambda i: tools["flaky"].call({"text": f"branch {i}"}), range(16)))
    assert len(pids) == 1                            # started once, not once per thread
    assert answers == [{"result": f"branch {i}"} for i in range(16)]


def test_a_server_slower_than_its_timeout_is_named(servers, tmp_path):
    tools, _ = servers({"fx": {**fixture_server(tmp_path), "timeout": 1}})
    with pytest.raises(McpServerError) as slow:
        tools["nap"].call({"seconds": 30})
    assert "mcp server 'fx'" in slow.value.message
    assert "did not answer the call to 'nap' within 1 s" in slow.value.message
    assert tools["nap"].call({"seconds": 0}) == {"result": "rested"}   # a new session answers


def test_servers_start_in_the_workspace_or_their_cwd_inside_it(servers, tmp_path):
    (tmp_path / "sub").mkdir()
    tools, _ = servers({"here": fixture_server(tmp_path), "there": {**fixture_server(tmp_path), "cwd": "sub",
                                                                   "prefix": "there_"}}, workspace=tmp_path)
    assert tools["where"].call({}) == {"result": str(tmp_path)}
    assert tools["there_where"].call({}) == {"result": str(tmp_path / "sub")}


def test_close_ends_the_server_process(tmp_path):
    tools, _ = mcp_tools({"mcp_servers": {"fx": fixture_server(tmp_path)}})
    pid = {t.name: t for t in tools}["pid"].call({})["result"]
    os.kill(pid, 0)                         # alive
    close_tools(tools)
    with pytest.raises(ProcessLookupError):
        os.kill(pid, 0)


def test_streamable_http_server_with_headers(servers, tmp_path, monkeypatch):
    port_file = tmp_path / "port"
    process = subprocess.Popen([sys.executable, str(FIXTURE), "http", str(port_file)],
                               env={**os.environ, "CALLS_LOG": str(tmp_path / "calls.log")})
    try:
        port = int(wait_for(lambda: port_file.exists() and port_file.read_text(), "the HTTP server's port"))
        monkeypatch.setenv("TISS_TEST_TOKEN", "s3cret")
        tools, problems = servers({"web": {"url": f"http://127.0.0.1:{port}/mcp",
                                           "headers": {"Authorization": "Bearer ${TISS_TEST_TOKEN}"}}})
        assert problems == []
        assert tools["count"].call({"label": "over http"}) == {"result": "over http #1"}
        assert tools["header"].call({"name": "authorization"}) == {"result": "Bearer s3cret"}
    finally:
        process.terminate()
        process.wait(10)
