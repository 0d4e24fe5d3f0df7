"""``tiss repl``: the command line of the REPL (runtime/repl.py), kept apart so
that ``tiss`` starts without loading prompt-toolkit for every other command."""

from __future__ import annotations

import signal
import sys

from .errors import RunError


def register(subparsers) -> None:
    from .run_cli import CHOOSE, SANDBOXES
    parser = subparsers.add_parser("repl", help="interactive TissLang session")
    parser.add_argument("--workspace", default=".", help="where the session's files live (default: .)")
    parser.add_argument("--sandbox", choices=SANDBOXES,
                        help="where RUN executes (default: your config, else auto)")
    parser.add_argument("--choose", choices=CHOOSE, help="how CHOOSE picks an option; ask: you pick "
                        "(default: cheapest when options have ESTIMATE_COST, else the model, else the first)")
    parser.add_argument("--resume", metavar="ID", help="continue an earlier REPL session")
    parser.set_defaults(func=cmd_repl)


def cmd_repl(args) -> int:
    from .run_cli import _sandbox
    if not sys.stdin.isatty():
        return _error("tiss repl needs a terminal, and its input is not one",
                      "to run statements from a file or a pipe, use `tiss run FILE`")
    from .repl import Repl

    try:
        repl = Repl(args.workspace, sandbox=_sandbox(args.sandbox), choose=args.choose or "auto",
                    resume=args.resume)
    except RunError as exc:
        return _error(exc.message, exc.hint)
    except OSError as exc:
        return _error(f"cannot use the workspace {args.workspace}: {exc.strerror} ({exc.filename})",
                      "pass an existing, writable directory with --workspace")
    for hangup in (signal.SIGHUP, signal.SIGTERM):   # a closed terminal, a kill: leave cleanly
        signal.signal(hangup, _leave)
    return repl.loop()


def _leave(signum, _frame):
    raise SystemExit(128 + signum)


def _error(message: str, hint: str | None) -> int:
    print(f"error: {message}" + (f"\nhint: {hint}" if hint else ""), file=sys.stderr)
    return 2
