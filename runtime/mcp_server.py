"""``tiss mcp``: QuantaTissu's tools for any MCP client, over stdio.

    tiss mcp [--workspace DIR] [--sandbox auto|docker|bwrap|host] [--review approve|reject]

Served with the SDK's low-level server: every tool of the registry
(built-ins and installed plugins; not the MCP servers it would itself start),
plus ``run_plan`` (a TissLang plan, run in this server's session) and
``check_plan`` (parse and check a plan, nothing runs).

The server is one runtime Session, like the REPL's: each tool call is a CALL
statement run in it, so calls are journaled (``tiss runs`` lists the
session), charged to budgets, confined to the workspace, and ``shell`` runs
in the sandbox. Risky tools ask the review policy: ``approve`` by default,
since an MCP client confirms each call with its user; ``--review reject``
refuses them. Calls run one at a time, in a worker thread, so the protocol
keeps answering.
"""

from __future__ import annotations

import json
import re
import sys
import threading
from pathlib import Path
from typing import Any

from .ours import our_names

ARGUMENTS = "MCP_ARGUMENTS"     # the session variable a call's arguments are passed in
RESULT = "MCP_RESULT"
_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")

PLAN_TOOLS = {
    "run_plan": ("Run a TissLang plan (a TASK with STEPs, or a fragment of statements) in this "
                 "server's session: its commands run in the sandbox, everything is journaled. "
                 "Returns the status, the steps, the error if any, and the variables.",
                 {"plan": "the TissLang text of the plan"}),
    "check_plan": ("Parse and check a TissLang plan without running it: every problem with its "
                   "line, column and a hint; ok is true when it would run.",
                   {"plan": "the TissLang text of the plan"}),
}


def register(subparsers) -> None:
    parser = subparsers.add_parser(
        "mcp", help="serve QuantaTissu's tools, run_plan and check_plan to MCP clients (stdio)",
        description="An MCP server on stdin/stdout: the tool registry plus run_plan and check_plan, "
                    "all calls journaled in one session of the workspace.")
    parser.add_argument("--workspace", default=".", help="the workspace (default: the current directory)")
    parser.add_argument("--sandbox", choices=("auto", "docker", "bwrap", "host"), default=None,
                        help="where commands run (default: your configuration's, else auto)")
    parser.add_argument("--review", choices=("approve", "reject"), default="approve",
                        help="what risky tools (shell) get from the review policy (default: approve)")
    parser.set_defaults(func=serve_command)


def serve_command(args) -> int:
    from .errors import RunError, Stop
    try:
        server = ToolServer(Path(args.workspace), sandbox=args.sandbox, review=args.review)
    except (RunError, Stop) as exc:
        print(f"error: {exc.message}" + (f"\nhint: {exc.hint}" if exc.hint else ""), file=sys.stderr)
        return 2
    try:
        server.serve_stdio()
    finally:
        server.close()
    return 0


class ToolServer:
    """The tools of one Session, answered as MCP tool calls."""

    def __init__(self, workspace: Path, *, sandbox: str | None = None, review: str = "approve"):
        from tools import load_registry

        from .run_cli import _sandbox
        from .session import Session
        with our_names():   # plugins' `from tools import tool` is ours
            self.registry = load_registry(None, workspace=workspace, include_mcp=False)
        self.session = Session(workspace, sandbox=_sandbox(sandbox), review=review, tools=self.registry)
        self.lock = threading.Lock()      # one call at a time in the session

    # --- the MCP side ---------------------------------------------------------

    def tool_list(self) -> list[dict]:
        """name, description and input schema of every tool served."""
        listed = [{"name": t.name, "description": t.description, "inputSchema": t.parameters}
                  for t in self.registry.values() if t.name not in PLAN_TOOLS]
        for name, (description, fields) in PLAN_TOOLS.items():
            listed.append({"name": name, "description": description, "inputSchema": {
                "type": "object", "required": list(fields), "additionalProperties": False,
                "properties": {k: {"type": "string", "description": v} for k, v in fields.items()}}})
        return listed

    def call(self, name: str, arguments: dict[str, Any]) -> tuple[Any, bool]:
        """(result, is_error) of one call; never raises for a user's mistake."""
        with self.lock:
            if name in PLAN_TOOLS:
                plan = arguments.get("plan")
                if not isinstance(plan, str):
                    return f"{name} needs `plan`: the TissLang text of a plan", True
                return self.check_plan(plan) if name == "check_plan" else self.run_plan(plan)
            return self.call_tool(name, arguments)

    def call_tool(self, name: str, arguments: dict[str, Any]) -> tuple[Any, bool]:
        """A CALL statement in the session: the arguments travel in a
        variable, never as TissLang text (data never becomes syntax)."""
        if name not in self.registry:
            return f"unknown tool {name!r}; the tools: {', '.join(sorted(self.registry))}", True
        odd = [key for key in arguments if not _NAME.match(key)]
        if odd:
            return f"argument name {odd[0]!r} is not an identifier", True
        self.session.state.set("vars", ARGUMENTS, arguments)
        fields = ", ".join(f"{key}: {ARGUMENTS}.{key}" for key in arguments)
        outcome = self.session.execute(f"CALL {name} {{{fields}}} INTO {RESULT}\n", path=f"<mcp {name}>")
        if outcome.status != "succeeded":
            return outcome.error or outcome.status, True
        return self.session.variables.get(RESULT), False

    def run_plan(self, plan: str) -> tuple[Any, bool]:
        problems = self._problems(plan)
        if any(p["severity"] == "error" for p in problems):
            return {"status": "invalid", "problems": problems}, True
        outcome = self.session.execute(plan, source=plan, path="<run_plan>")
        variables = {k: v for k, v in outcome.variables.items() if k not in (ARGUMENTS, RESULT)}
        summary = {"status": outcome.status, "run_id": outcome.run_id,
                   "steps": [{"name": s.name, "status": s.status} for s in outcome.steps],
                   "error": outcome.error, "variables": variables}
        return summary, outcome.status != "succeeded"

    def check_plan(self, plan: str) -> tuple[Any, bool]:
        problems = self._problems(plan)
        return {"ok": not any(p["severity"] == "error" for p in problems), "problems": problems}, False

    def _problems(self, plan: str) -> list[dict]:
        """Parse and check errors of ``plan`` as ``tiss check --json`` shows them."""
        import tisslang
        from tisslang.checker import check
        try:
            program = tisslang.parse(plan, "<plan>")
        except tisslang.TissSyntaxError as exc:
            return [d.to_json() for d in exc.diagnostics]
        return [d.to_json() for d in check(program, source=plan, tools=self.registry)]

    # --- serving -----------------------------------------------------------------

    def serve_stdio(self) -> None:
        import anyio
        import mcp_types as types
        from mcp.server.lowlevel import Server
        from mcp.server.stdio import stdio_server

        from .cli import installed_version

        async def list_tools(ctx, params) -> types.ListToolsResult:
            return types.ListToolsResult(tools=[types.Tool(name=t["name"], description=t["description"],
                                                           input_schema=t["inputSchema"])
                                                for t in self.tool_list()])

        async def call_tool(ctx, params) -> types.CallToolResult:
            result, failed = await anyio.to_thread.run_sync(self.call, params.name, params.arguments or {})
            text = result if isinstance(result, str) else json.dumps(result, ensure_ascii=False, default=str)
            return types.CallToolResult(
                content=[types.TextContent(type="text", text=text)], is_error=failed,
                structured_content=result if isinstance(result, dict) and not failed else None)

        server = Server("quanta-tissu", version=installed_version(), on_list_tools=list_tools,
                        on_call_tool=call_tool,
                        instructions="QuantaTissu: run and check TissLang plans; workspace tools, "
                                     "commands in a sandbox, every call journaled.")

        async def main():
            async with stdio_server() as (read, write):
                await server.run(read, write, server.create_initialization_options())

        anyio.run(main)

    def close(self) -> None:
        self.session.close()
