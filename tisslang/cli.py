"""``tiss check``, ``tiss fmt`` and ``tiss parse`` (docs/language.md, "Command line").

Each takes files, or ``-`` for standard input, so editors and scripts can pipe
a buffer through them. Exit codes: 0 fine, 1 ``fmt --check`` found a file to
reformat, 2 a file is unreadable or has errors (docs/reference.md §8).
"""

from __future__ import annotations

import dataclasses
import json
import sys
from pathlib import Path

from .errors import Diagnostic, TissSyntaxError
from .heredoc import normalise_newlines
from .source import UnreadableSource, read_source

EXIT_OK, EXIT_WOULD_CHANGE, EXIT_ERROR = 0, 1, 2


def register(subparsers, tools=None) -> None:
    """``tools``: a callable returning the registered tools (name -> object
    with ``check_arguments``), handed in by the caller: tisslang imports
    nothing of the tools layer."""
    check = subparsers.add_parser(
        "check", help="parse and statically check plans",
        description="Report syntax errors and checker findings, one per problem.")
    check.add_argument("files", nargs="+", metavar="FILE", help="a .tiss plan, or - for stdin")
    check.set_defaults(func=cmd_check, tools=tools)

    fmt = subparsers.add_parser(
        "fmt", help="rewrite plans in the canonical style",
        description="Format plans in place; '-' reads stdin and prints the result.")
    fmt.add_argument("files", nargs="+", metavar="FILE", help="a .tiss plan, or - for stdin")
    fmt.add_argument("--check", action="store_true",
                     help="change nothing; exit 1 if a file would be reformatted")
    fmt.set_defaults(func=cmd_fmt)

    parse = subparsers.add_parser(
        "parse", help="print a plan's syntax tree",
        description="Print the AST of a plan (as JSON with --json).")
    parse.add_argument("file", metavar="FILE", help="a .tiss plan, or - for stdin")
    parse.add_argument("--json", action="store_true", help="print the AST as JSON")
    parse.set_defaults(func=cmd_parse)


def _display_name(name: str) -> str:
    return "<stdin>" if name == "-" else name


def _report(diagnostics: list[Diagnostic], source: str | None = None) -> None:
    # Split exactly as the parser does (str.splitlines also breaks at \f, \x1c …).
    lines = normalise_newlines(source).split("\n") if source is not None else []
    for diagnostic in diagnostics:
        if diagnostic.source_line is None and 0 < diagnostic.line <= len(lines):
            diagnostic = dataclasses.replace(diagnostic, source_line=lines[diagnostic.line - 1])
        print(diagnostic.format(), file=sys.stderr)


def _load(name: str, work):
    """Read file ``name`` (``-``: stdin) and return ``(source, work(source,
    display_name))``; an unreadable file or a syntax error is reported and
    gives None."""
    try:
        source = read_source(name)
        return source, work(source, _display_name(name))
    except UnreadableSource as exc:
        print(f"{_display_name(name)}: error: {exc.reason}", file=sys.stderr)
    except TissSyntaxError as exc:
        _report(exc.diagnostics)
    return None


def cmd_check(args) -> int:
    from . import parse
    from .checker import check

    status = EXIT_OK
    tools = args.tools() if getattr(args, "tools", None) else None
    for name in args.files:
        loaded = _load(name, parse)
        if loaded is None:
            status = EXIT_ERROR
            continue
        source, program = loaded
        findings = check(program, tools=tools)
        _report(findings, source)
        if any(d.severity == "error" for d in findings):
            status = EXIT_ERROR
    return status


def cmd_fmt(args) -> int:
    from .formatter import format_source

    status = EXIT_OK
    for name in args.files:
        loaded = _load(name, format_source)
        if loaded is None:
            status = EXIT_ERROR
            continue
        source, formatted = loaded
        changed = formatted != source
        if args.check:
            if changed:
                print(f"would reformat {_display_name(name)}", file=sys.stderr)
                status = max(status, EXIT_WOULD_CHANGE)
        elif name == "-":
            sys.stdout.write(formatted)
        elif changed:
            try:
                Path(name).write_text(formatted, encoding="utf-8")
            except OSError as exc:   # e.g. a read-only file
                print(f"{name}: error: cannot write: {exc.strerror}", file=sys.stderr)
                status = EXIT_ERROR
                continue
            print(f"reformatted {name}", file=sys.stderr)
    return status


def cmd_parse(args) -> int:
    from . import parse
    from .jsonast import to_json

    loaded = _load(args.file, parse)
    if loaded is None:
        return EXIT_ERROR
    _, program = loaded
    tree = to_json(program)
    # json.dumps and the outline recurse per level: fine, as the parser bounds
    # nesting (fastpath.MAX_NESTING) to fit the default recursion limit.
    if args.json:
        print(json.dumps(tree, indent=2, ensure_ascii=False))
    else:
        _print_outline(tree, 0)
    return EXIT_OK


def _print_outline(node, depth: int) -> None:
    """A compact tree: one line per node with its position."""
    if isinstance(node, list):
        for item in node:
            _print_outline(item, depth)
        return
    if not isinstance(node, dict) or "type" not in node:
        return
    scalars = {k: v for k, v in node.items()
               if k not in ("type", "line", "col", "end_line", "end_col")
               and not isinstance(v, dict)
               and not (isinstance(v, list) and any(isinstance(i, dict) for i in v))}
    detail = " ".join(f"{k}={v!r}" for k, v in scalars.items())
    print(f"{'  ' * depth}{node['type']} {node['line']}:{node['col']} {detail}".rstrip())
    for key, value in node.items():
        if isinstance(value, (dict, list)):
            _print_outline(value, depth + 1)
