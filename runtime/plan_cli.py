"""``tiss plan "GOAL"``: the planner (runtime/planner.py) writes a checked
plan; ``--run`` shows it, asks for review and runs it as ``tiss run`` would.

Exit codes as ``tiss run`` (docs/reference.md §8): 0, 1 the run failed, 2 no
model / no plan that checks / usage, 3 rejected in review, 75 paused (the
plan was not run; with ``-o`` it is saved for ``tiss run``).
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

from .review import POLICIES
from .run_cli import CHOOSE, SANDBOXES, _display, _finish, _sandbox, _usage_error


def register(subparsers) -> None:
    plan = subparsers.add_parser("plan", help="write a checked plan for a goal with the model")
    plan.add_argument("goal", help="what the plan should do, in words")
    plan.add_argument("-o", "--output", metavar="FILE", help="write the plan to FILE (default: print it)")
    plan.add_argument("--repair", type=int, default=2, metavar="N",
                      help="regenerate up to N times with the checker's diagnostics (default 2)")
    plan.add_argument("--run", action="store_true", help="after review, run the plan")
    plan.add_argument("--review", choices=POLICIES, help="answer to the plan's review and its "
                      "REQUEST_REVIEW/PAUSE (default: ask on a terminal, pause otherwise)")
    plan.add_argument("--choose", choices=CHOOSE, help="as for tiss run")
    plan.add_argument("--workspace", default=".", help="where the plan runs (default: .)")
    plan.add_argument("--sandbox", choices=SANDBOXES, help="where RUN executes (default: your config, else auto)")
    plan.add_argument("--json", action="store_true", help="print one JSON object on stdout")
    plan.set_defaults(func=cmd_plan)


def cmd_plan(args) -> int:
    from .models import load_default_backend
    from .planner import PlannerError, plan

    if args.repair < 0:
        return _usage_error(_error("--repair must be 0 or more", "e.g. --repair 2"), args.json)
    try:
        result = plan(args.goal, load_default_backend(), repair=args.repair)
        if args.output:
            Path(args.output).write_text(result.source)
    except PlannerError as exc:
        return _no_plan(exc, args.json)
    except OSError as exc:
        return _usage_error(_error(f"cannot write {args.output}: {exc.strerror}",
                                   "give -o a file in a folder you can write"), args.json)
    except Exception as exc:  # no model configured: the registry's error and hint
        return _usage_error(exc, args.json)
    for warning in result.diagnostics:
        print(warning.format(), file=sys.stderr)
    summary = {"status": "planned", "plan": result.source, "attempts": result.attempts,
               "constrained": result.constrained, "output": args.output,
               "warnings": [d.to_json() for d in result.diagnostics]}
    if not args.run:
        _show(result.source, args, summary)
        return 0
    _show(result.source, args, None)
    return _review_and_run(result, args, summary)


def _review_and_run(result, args, summary: dict) -> int:
    from .review import Request, make_reviewer
    from .session import run_plan

    answer = make_reviewer(args.review)(Request("review", "run this plan?"))
    if answer.verdict != "approve":
        code = 3 if answer.verdict == "reject" else 75
        message = "rejected: nothing ran" if code == 3 else \
            "paused: nothing ran" + (f"; run it later with: tiss run {args.output}" if args.output else "")
        summary.update(status="rejected" if code == 3 else "paused", exit_code=code)
        print(json.dumps(summary) if args.json else message)
        return code
    try:
        sandbox = _sandbox(args.sandbox)
        display = _display(args.json)
    except Exception as exc:
        return _usage_error(exc, args.json)
    try:
        outcome = run_plan(result.program, args.workspace, source=result.source, sandbox=sandbox,
                           review=args.review, choose=args.choose or "auto", display=display)
    except Exception as exc:
        return _usage_error(exc, args.json)
    finally:
        display.close()
    return _finish(outcome, args.json)


def _show(source: str, args, summary: dict | None) -> None:
    """The plan on stdout (highlighted on a terminal), or the JSON summary;
    with --run and --json, the plan goes to stderr (stdout keeps the run's)."""
    if args.json:
        if summary is not None:
            print(json.dumps(summary))
        else:
            print(source, file=sys.stderr)
        return
    if args.output and not args.run:
        print(f"wrote {args.output}")
        return
    from .planner import highlighted
    print(highlighted(source, sys.stdout))


def _no_plan(exc, as_json: bool) -> int:
    print(f"error: {exc.message}\nhint: {exc.hint}", file=sys.stderr)
    if as_json:
        print(json.dumps({"status": "invalid", "exit_code": 2, "error": exc.message.split("\n")[0],
                          "hint": exc.hint, "diagnostics": [d.to_json() for d in exc.diagnostics]}))
    return 2


def _error(message: str, hint: str):
    from .errors import RunError
    return RunError(message, hint=hint)
