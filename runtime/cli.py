"""``tiss``: the one command-line entry point.

Each area registers its own subcommands, so this file stays a table of
contents: ``register(subparsers)`` adds parsers whose ``func(args) -> int``
does the work and returns the exit code (docs/reference.md §8: 0 ok, 1 task failed,
2 usage/parse/check error, 3 rejected, 75 paused).
"""

from __future__ import annotations

import argparse
import importlib
import sys

# Modules that provide ``register(subparsers)``, in help order. Each keeps its
# imports light, so that ``tiss --help`` starts fast.
COMMAND_MODULES = [
    "tisslang.cli",        # check, fmt, parse
    "runtime.run_cli",     # run, resume, runs, log
    "runtime.report_cli",  # report, ui
    "runtime.plan_cli",    # plan
    "runtime.agent_cli",   # agent (the ReAct tool loop)
    "runtime.batch_cli",   # batch
    "runtime.repl_cli",    # repl
    "runtime.tools_cli",   # tools
    "runtime.trust",       # trust (a workspace's tiss.yaml)
    "runtime.mcp_server",  # mcp (our tools over MCP, stdio)
    "runtime.sandbox.cli", # sandbox (image build, status)
    "runtime.kb_cli",      # kb add|search|list|remove|stats
    "model.cli",           # model train|generate|eval|gradcheck
    "model.tokenizer_cli", # tokenizer train
    "model.serve_cli",     # serve
    "runtime.config_cli",  # config show
]


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="tiss",
        description="QuantaTissu: write agent plans in TissLang and run them safely.",
    )
    parser.add_argument("--version", action="version", version=f"tiss {installed_version()}")
    subparsers = parser.add_subparsers(dest="command", metavar="COMMAND")
    for name in COMMAND_MODULES:
        module = importlib.import_module(name)
        if name == "model.cli":  # model/ imports nothing of ours: hand the grammar in
            module.register(subparsers, constraints={"tisslang": _tisslang_constraint})
        elif name == "tisslang.cli":  # tisslang/ neither: hand the tool registry in
            module.register(subparsers, tools=_tool_registry)
        else:
            module.register(subparsers)
    return parser


def _tisslang_constraint(tokenizer, max_tokens: int):
    """``tiss model generate --constrain tisslang``: only whole TissLang plans."""
    from tisslang.constrain import for_tokenizer  # numpy and llguidance: only when used
    return for_tokenizer(tokenizer, max_tokens)


def _tool_registry():
    """``tiss check``: unknown tools and constant arguments that break a schema."""
    from .tools_cli import registry_for_cli   # plugins load only when checking
    return registry_for_cli()


def installed_version() -> str:
    """The version pip installed (pyproject.toml's), so it cannot drift."""
    from importlib.metadata import PackageNotFoundError, version
    try:
        return version("quanta-tissu")
    except PackageNotFoundError:   # run from a source tree that was never installed
        return "unknown (not installed)"


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if not getattr(args, "func", None):
        parser.print_help()
        return 2
    from .errors import RunError, Stop
    try:
        return int(args.func(args) or 0)
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130
    except (RunError, Stop) as exc:   # e.g. an untrusted tiss.yaml, met by any command
        print(f"error: {exc.message}" + (f"\nhint: {exc.hint}" if exc.hint else ""), file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
