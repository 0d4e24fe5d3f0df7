"""``tiss agent "GOAL"``: the ReAct loop (runtime/agent.py) from the shell.

The loop is shown live (thoughts dimmed, actions → and observations ←),
then the final answer. Exit codes as ``tiss run``: 0 answered, 1 failed (no
answer within the steps, a repeated action, a budget), 2 usage error,
3 rejected in review, 75 paused (``tiss resume RUN_ID --approve``).
"""

from __future__ import annotations

import json
from pathlib import Path

from .review import RUN_POLICIES


def register(subparsers) -> None:
    agent = subparsers.add_parser("agent", help="solve a goal with the ReAct tool loop")
    agent.add_argument("goal", help='what to do, e.g. "Fix the failing test in tests/"')
    agent.add_argument("--tools", help="comma-separated tool names (default: every registered tool; "
                       "see tiss tools)")
    agent.add_argument("--max-steps", type=_positive, default=20, help="model answers at most (default 20)")
    agent.add_argument("--backend", help="model backend (default: your config's model.backend)")
    agent.add_argument("--review", choices=RUN_POLICIES,
                       help="answer to risky actions (default: ask on a terminal, pause otherwise)")
    agent.add_argument("--max-observation", type=_positive, default=2000,
                       help="characters of a tool's result shown to the model (head and tail kept)")
    agent.add_argument("--risky-command", action="append", metavar="PATTERN",
                       help="shell commands matching this glob ask for review first "
                            "(repeatable; default: every command)")
    agent.add_argument("--risky-path", action="append", metavar="GLOB",
                       help="write_file and replace_in_file paths matching this glob ask for review first (repeatable)")
    agent.add_argument("--workspace", default=".", help="where the agent's files live (default: .)")
    from .sandbox import BACKENDS as SANDBOXES
    agent.add_argument("--sandbox", choices=SANDBOXES, help="where shell commands run (default: your config, else auto)")
    agent.add_argument("--json", action="store_true", help="print one JSON summary on stdout")
    agent.set_defaults(func=cmd_agent)


def _positive(text: str) -> int:
    import argparse
    if not text.isdigit() or int(text) < 1:
        raise argparse.ArgumentTypeError(f"{text!r} is not a whole number of at least 1")
    return int(text)


def cmd_agent(args) -> int:
    from .agent import AgentSettings, run_agent
    from .models import load_named_backend
    from .run_cli import _display, _finish, _sandbox, _usage_error
    from .tool_context import close_registry, registry_for

    try:
        workspace = Path(args.workspace).resolve()
        registry = registry_for(None, workspace)
        names = _tool_names(args.tools, registry)
        model = load_named_backend(args.backend) if args.backend else None
        sandbox = _sandbox(args.sandbox)
    except Exception as exc:
        return _usage_error(exc, args.json)
    settings = AgentSettings(max_steps=args.max_steps, max_observation=args.max_observation,
                             risky_commands=tuple(args.risky_command or ("*",)),
                             risky_paths=tuple(args.risky_path or ()), backend=args.backend)
    display = _display(args.json)
    try:
        outcome = run_agent(args.goal, workspace, tools=names, settings=settings, model=model,
                            registry=registry, sandbox=sandbox, review=args.review, display=display)
    except Exception as exc:
        return _usage_error(exc, args.json)
    finally:
        display.close()
        close_registry(registry)
    answer = outcome.variables.get("answer")
    if args.json:
        print(json.dumps({**outcome.to_json(), "answer": answer}))
        return outcome.exit_code
    if outcome.status == "succeeded":
        print(f"\nanswer: {answer}")
    return _finish(outcome, False)


def _tool_names(text: str | None, registry) -> list[str] | None:
    """--tools checked against the registry before anything runs."""
    from .errors import RunError
    if not text:
        return None
    names = [n.strip() for n in text.split(",") if n.strip()]
    unknown = [n for n in names if n not in registry]
    if unknown or not names:
        raise RunError(f"--tools: unknown tool(s): {', '.join(unknown) or '(none given)'}",
                       hint="registered tools: " + ", ".join(sorted(registry)))
    return names

