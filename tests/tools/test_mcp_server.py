"""``tiss mcp`` as an MCP client sees it: the SDK's own client spawns the
installed ``tiss mcp`` over stdio, lists the tools and calls them."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import anyio
import pytest
from mcp import Client, StdioServerParameters, stdio_client

from runtime.cli import main as tiss
from runtime.mcp_server import ToolServer

TISS = str(Path(sys.executable).with_name("tiss"))


@pytest.fixture
def workspace(tmp_path):
    path = tmp_path / "ws"
    path.mkdir()
    (path / "notes.txt").write_text("alpha\nbeta\n")
    return path


def session(workspace: Path, *flags: str):
    """``async with session(ws) as client``: tiss mcp over stdio, its stderr kept."""
    log = (workspace.parent / "server.err").open("w")
    params = StdioServerParameters(command=TISS, args=["mcp", "--sandbox", "host", *flags], cwd=str(workspace),
                                   env={"TISS_CONFIG": "/dev/null",
                                        "XDG_STATE_HOME": str(workspace.parent / "state")})
    return Client(stdio_client(params, errlog=log))


def run(body):
    """Run ``body(client)`` against a fresh tiss mcp."""
    async def main(workspace, flags):
        async with session(workspace, *flags) as client:
            return await body(client)
    return lambda workspace, *flags: anyio.run(main, workspace, flags)


def test_the_sdk_client_lists_and_calls_our_tools_and_plans(workspace):
    """One tiss mcp process (each costs a second or more of imports)."""
    good = 'TASK "t" {\n    STEP "s" {\n        RUN "echo hi" AS said\n        WRITE "said.txt" "{{said.STDOUT}}"\n    }\n}\n'
    bad = 'TASK "t" {\n    STEP "s" {\n        CALL no_such_tool {}\n    }\n}\n'

    async def body(client):
        tools = {t.name: t for t in (await client.list_tools()).tools}
        calls = {
            "read": await client.call_tool("read_file", {"path": "notes.txt"}),
            "wrote": await client.call_tool("write_file", {"path": "out/greeting.txt", "content": "hi {{x}}\n"}),
            "escape": await client.call_tool("read_file", {"path": "../server.err"}),
            "shell": await client.call_tool("shell", {"command": "wc -l < notes.txt"}),
            "bad": await client.call_tool("read_file", {"path": 3}),
            "checked_good": await client.call_tool("check_plan", {"plan": good}),
            "checked_bad": await client.call_tool("check_plan", {"plan": bad}),
            "ran": await client.call_tool("run_plan", {"plan": good}),
            "refused": await client.call_tool("run_plan", {"plan": bad}),
            "failed": await client.call_tool("run_plan", {"plan": "ASSERT 1 == 2\n"}),
        }
        return client.server_info.name, tools, calls
    name, tools, calls = run(body)(workspace)

    assert name == "quanta-tissu"
    assert {"shell", "read_file", "write_file", "list_files", "search_files", "run_plan",
            "check_plan"} <= set(tools)
    assert tools["read_file"].input_schema["required"] == ["path"]
    assert tools["check_plan"].input_schema["properties"]["plan"]["type"] == "string"

    assert not calls["read"].is_error and calls["read"].content[0].text == "alpha\nbeta\n"
    assert not calls["wrote"].is_error
    assert (workspace / "out" / "greeting.txt").read_text() == "hi {{x}}\n"   # data, not a template
    assert calls["escape"].is_error and "../server.err" in calls["escape"].content[0].text
    assert not calls["shell"].is_error and calls["shell"].structured_content["stdout"].strip() == "2"
    assert calls["bad"].is_error and "argument 'path'" in calls["bad"].content[0].text

    assert calls["checked_good"].structured_content == {"ok": True, "problems": []}
    problem = calls["checked_bad"].structured_content["problems"][0]
    assert not calls["checked_bad"].structured_content["ok"]
    assert (problem["line"], problem["severity"]) == (3, "error") and "no_such_tool" in problem["message"]
    ran = calls["ran"]
    assert not ran.is_error and ran.structured_content["status"] == "succeeded"
    assert ran.structured_content["steps"] == [{"name": "s", "status": "succeeded"}]
    assert (workspace / "said.txt").read_text() == "hi\n"
    assert calls["refused"].is_error and json.loads(calls["refused"].content[0].text)["status"] == "invalid"
    assert calls["failed"].is_error and "1 == 2 failed" in json.loads(calls["failed"].content[0].text)["error"]

    runs = list((workspace / ".tiss" / "runs").iterdir())
    assert len(runs) == 1                                     # one session, every call journaled
    events = [json.loads(line) for line in (runs[0] / "events.jsonl").read_text().splitlines()]
    called = [e["tool"] for e in events if e.get("stmt") == "Call"]
    assert called == ["read_file", "write_file", "shell"]     # the refused calls did not complete


def test_review_reject_refuses_risky_tools(workspace, monkeypatch):
    """In process: the same ToolServer that tiss mcp serves."""
    monkeypatch.setenv("TISS_CONFIG", "/dev/null")
    server = ToolServer(workspace, sandbox="host", review="reject")
    try:
        text, failed = server.call("shell", {"command": "touch made.txt"})
        assert failed and "rejected" in text
        assert server.call("list_files", {}) == (["notes.txt"], False)
        assert server.call("nope", {}) [1] and "unknown tool 'nope'" in server.call("nope", {})[0]
        assert server.call("read_file", {"a-b": 1}) == ("argument name 'a-b' is not an identifier", True)
        assert server.call("run_plan", {}) == ("run_plan needs `plan`: the TissLang text of a plan", True)
    finally:
        server.close()
    assert not (workspace / "made.txt").exists()


def test_a_bad_workspace_is_one_clear_error(tmp_path, capsys, monkeypatch):
    monkeypatch.setenv("TISS_CONFIG", "/dev/null")
    (tmp_path / "file").write_text("")
    assert tiss(["mcp", "--workspace", str(tmp_path / "file")]) == 2
    assert capsys.readouterr().err.startswith("error: ")
