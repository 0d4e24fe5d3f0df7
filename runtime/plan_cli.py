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
                      help="regenerate up to N times with the checker's diagnostics, and with "
                           "--run, replan up to N times with a failed run's report (default 2)")
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
        backend = load_default_backend()
        result = plan(args.goal, backend, repair=args.repair)
        if args.output:
            Path(args.output).write_text(result.source)
    except PlannerError as exc:
        return _no_plan(exc, args.json)
    except OSError as exc:
        return _usage_error(_error(f"cannot write {args.output}: {exc.strerror}",
                                   "give -o a file in a folder you can write"), args.json)
    except Exception as exc:  # no model configured: the registry's error and hint
        return _usage_error(exc, args.json)
    _warn(result)
    summary = {"status": "planned", "plan": result.source, "attempts": result.attempts,
               "constrained": result.constrained, "output": args.output,
               "confidence": result.confidence, "low_confidence": result.low_confidence,
               "warnings": [d.to_json() for d in result.diagnostics]}
    if not args.run:
        _show(result.source, args, summary)
        return 0
    _show(result.source, args, None)
    return _review_and_run(result, args, summary, backend)


def _warn(result) -> None:
    for warning in result.diagnostics:
        print(warning.format(), file=sys.stderr)
    if result.low_confidence:
        print(f"warning: the planner is unsure of this plan (confidence {result.confidence:.2f}): "
              "the goal is unlike what it learnt; read the plan closely before running it",
              file=sys.stderr)


def _review_and_run(result, args, summary: dict, backend) -> int:
    """Review, run, and while the run fails and --repair allows, replan with
    its report, review and run again (in the same workspace)."""
    from .planner import PlannerError, plan, run_report
    from .session import run_plan

    for replans in range(args.repair + 1):
        result, verdict = _review(result, args)
        if verdict != "approve":
            code = 3 if verdict == "reject" else 75
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
        if outcome.status != "failed" or replans == args.repair or not result.body:
            return _finish(outcome, args.json)
        print(f"the run failed; asking the planner for a repaired plan "
              f"({replans + 1} of {args.repair})", file=sys.stderr)
        try:
            result = plan(args.goal, backend, repair=args.repair, failure=(result.body, run_report(outcome.error)))
        except PlannerError:
            return _finish(outcome, args.json)
        _warn(result)
        _show(result.source, args, None)
    return _finish(outcome, args.json)


def _review(result, args):
    """The reviewer's verdict on the plan: on a terminal (no --review given)
    approve, edit (in $VISUAL/$EDITOR, checked again) or reject; otherwise
    the review policy's answer."""
    from .review import Request, make_reviewer

    if args.review not in (None, "ask") or not sys.stdin.isatty():
        return result, make_reviewer(args.review)(Request("review", "run this plan?")).verdict
    from .repl_review import ask_key
    while True:
        word = ask_key("run this plan?", {"a": "approve", "e": "edit", "r": "reject"})
        if word != "edit":
            return result, word
        result = _edited(result)
        _show(result.source, args, None)


def _edited(result):
    """The plan after the reviewer edited it: kept only if it parses and checks."""
    import os
    import subprocess
    import tempfile

    from .planner import check

    editor = os.environ.get("VISUAL") or os.environ.get("EDITOR") or "vi"
    with tempfile.NamedTemporaryFile("w+", suffix=".tiss", delete=False) as handle:
        handle.write(result.source)
    try:
        subprocess.run([*editor.split(), handle.name], check=False)
        source = Path(handle.name).read_text()
    finally:
        os.unlink(handle.name)
    program, diagnostics = check(source)
    errors = [d for d in diagnostics if d.severity == "error"]
    if errors:
        print("the edited plan does not check; keeping the previous one:\n"
              + "\n".join(d.format() for d in errors), file=sys.stderr)
        return result
    result.source, result.program, result.body = source, program, ""
    return result


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
