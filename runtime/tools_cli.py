"""``tiss tools [--json]``: every registered tool (built-in, plugin, MCP
server) with its argument schema and where it comes from; plugins that
could not be loaded are listed after them (exit 1 when there are any)."""

from __future__ import annotations

import json
import sys
from pathlib import Path


def register(subparsers) -> None:
    parser = subparsers.add_parser(
        "tools", help="list the tools CALL and the agent can use",
        description="List every registered tool: built-ins, plugins (entry point group "
                    "'tisslang.tools') and MCP servers' tools, with their JSON schemas.")
    parser.add_argument("--json", action="store_true", help="print one JSON object: tools and problems")
    parser.set_defaults(func=cmd_tools)


def registry_for_cli():
    """The registry as a run in the current directory would see it."""
    from .tool_context import registry_for
    return registry_for(None, Path.cwd())


def cmd_tools(args) -> int:
    registry = registry_for_cli()
    if args.json:
        print(json.dumps({"tools": [tool.to_json() for tool in registry.values()],
                          "problems": registry.problems}, indent=2, ensure_ascii=False))
    else:
        for tool in registry.values():
            print(f"{tool.name}  ({tool.source}{', reviewed' if tool.risky else ''})")
            summary = tool.description.split("\n\n")[0].replace("\n", " ")
            if summary:
                print(f"    {summary}")
            for name, schema in tool.parameters.get("properties", {}).items():
                needed = "" if name in tool.parameters.get("required", ()) else "?"
                print(f"    {name}{needed}: {_type(schema)}"
                      + (f" — {schema['description']}" if schema.get("description") else ""))
    for problem in registry.problems:
        print(f"error: {problem}", file=sys.stderr)
    return 1 if registry.problems else 0


def _type(schema: dict) -> str:
    from tools.schema import describe
    return describe(schema)
