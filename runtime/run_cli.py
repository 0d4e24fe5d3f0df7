"""``tiss run``, ``tiss resume``, ``tiss runs`` and ``tiss log``.

Exit codes (docs/reference.md §8): 0 succeeded, 1 the task failed, 2 usage or
parse/check error, 3 rejected in review, 75 paused, 130 interrupted (Ctrl-C).
With ``--json`` exactly one JSON object goes to stdout; the progress display
then goes to stderr.
"""

from __future__ import annotations

import json
import sys
from datetime import datetime
from pathlib import Path

from .review import RUN_POLICIES
from .sandbox import BACKENDS as SANDBOXES

CHOOSE = ("model", "cheapest", "first", "ask")


def register(subparsers) -> None:
    run = subparsers.add_parser("run", help="run a plan")
    run.add_argument("plan", help="the .tiss file")
    _common(run)
    run.add_argument("--review", choices=RUN_POLICIES, help="answer to REQUEST_REVIEW/PAUSE "
                     "(default: ask on a terminal, pause otherwise)")
    run.add_argument("--choose", choices=CHOOSE, help="how CHOOSE picks an option (default: cheapest "
                     "when options have ESTIMATE_COST, else the model, else the first)")
    run.add_argument("--dry-run", action="store_true", help="run nothing; print each step's estimated cost")
    run.set_defaults(func=cmd_run)

    resume = subparsers.add_parser("resume", help="continue a paused, interrupted or crashed run")
    resume.add_argument("run_id", help="as printed by tiss run, or listed by tiss runs")
    verdict = resume.add_mutually_exclusive_group()
    verdict.add_argument("--approve", action="store_const", const="approve", dest="verdict",
                         help="approve the review (or PAUSE) the run stopped at")
    verdict.add_argument("--reject", action="store_const", const="reject", dest="verdict",
                         help="reject it: the run ends as rejected")
    _common(resume, sandbox_default="the one the run started with")
    resume.add_argument("--review", choices=RUN_POLICIES, help="policy for later reviews")
    resume.set_defaults(func=cmd_resume, sandbox=None)

    runs = subparsers.add_parser("runs", help="list the runs of a workspace")
    runs.add_argument("--workspace", default=".", help="default: the current directory")
    runs.add_argument("--json", action="store_true")
    runs.set_defaults(func=cmd_runs)

    log = subparsers.add_parser("log", help="show a run's timeline (steps, commands, reviews, choices)")
    log.add_argument("run_id")
    log.add_argument("--workspace", default=".", help="default: the current directory")
    log.add_argument("--json", action="store_true")
    log.add_argument("--events", action="store_true", help="every journal event, one per line")
    log.set_defaults(func=cmd_log)


def _common(parser, sandbox_default: str = "your config, else auto") -> None:
    parser.add_argument("--workspace", default=".", help="where the plan's files live (default: .)")
    parser.add_argument("--sandbox", choices=SANDBOXES,
                        help=f"where RUN executes (default: {sandbox_default})")
    parser.add_argument("--json", action="store_true", help="print one JSON summary on stdout")


# --- commands -------------------------------------------------------------------


def cmd_run(args) -> int:
    from .session import load_plan, run_plan
    warnings: list = []
    try:
        program, source = load_plan(Path(args.plan), warnings)
        for warning in warnings:
            print(warning.format(), file=sys.stderr)
        if args.dry_run:
            return dry_run(program, Path(args.workspace), args.json)
        sandbox = _sandbox(args.sandbox)
    except Exception as exc:
        return _usage_error(exc, args.json)
    display = _display(args.json)
    try:
        outcome = run_plan(program, args.workspace, source=source, sandbox=sandbox,
                           review=args.review, choose=args.choose or "auto", display=display)
    except Exception as exc:   # e.g. a run folder that is not a real directory
        return _usage_error(exc, args.json)
    finally:
        display.close()
    return _finish(outcome, args.json)


def cmd_resume(args) -> int:
    from .session import resume_run
    display = _display(args.json)
    try:
        outcome = resume_run(args.run_id, args.workspace, verdict=args.verdict,
                             sandbox=args.sandbox, review=args.review, display=display)
    except Exception as exc:
        return _usage_error(exc, args.json)
    finally:
        display.close()
    return _finish(outcome, args.json)


def cmd_runs(args) -> int:
    from .errors import RunError
    from .journal import list_runs
    try:
        runs = [folder.summary() for folder in list_runs(Path(args.workspace))]
    except RunError as exc:   # e.g. a .tiss that is a symlink
        return _usage_error(exc, args.json)
    if args.json:
        print(json.dumps({"runs": runs}))
        return 0
    if not runs:
        print(f"no runs in {Path(args.workspace).resolve()}/.tiss/runs")
        return 0
    print(f"{'RUN ID':24} {'STATUS':12} {'STARTED':20} PLAN")
    for run in runs:
        print(f"{run['run_id']:24} {run['status']:12} {_when(run['started']):20} {run['plan']}")
    return 0


def cmd_log(args) -> int:
    from .errors import RunError
    from .journal import RunFolder
    try:
        folder = RunFolder.open(Path(args.workspace), args.run_id)
    except RunError as exc:
        return _usage_error(exc, args.json)
    events = list(folder.events())
    if args.json:
        print(json.dumps({"run_id": folder.run_id, "events": events}))
        return 0
    if args.events:
        for event in events:
            print(f"{_when(event['t'])}  {describe_event(event)}")
        return 0
    from rich.console import Console

    from .report import build_view, print_terminal
    print_terminal(build_view(folder), Console(highlight=False))
    return 0


def describe_event(event: dict) -> str:
    kind = event["event"]
    fields = {k: v for k, v in event.items() if k not in ("seq", "t", "event", "delta")}
    if kind == "done":
        extra = "".join(f" {k}={json.dumps(v)}" for k, v in fields.items() if k not in ("key", "line", "stmt"))
        return f"line {fields.get('line')}: {fields.get('stmt')} done{extra}"
    return kind + "".join(f" {k}={json.dumps(v)}" for k, v in fields.items())


# --- dry run -------------------------------------------------------------------


def dry_run(program, workspace: Path, as_json: bool) -> int:
    """Cost every step without running anything."""
    from . import cost
    history = cost.load_history(workspace)
    rows = cost.per_step(program, history)
    total = cost.estimate(program.body, history)
    if as_json:
        print(json.dumps({"status": "dry-run", "steps": rows, "total": total}))
        return 0
    for row in rows:
        print(f"STEP {row['name']}: {cost.summary(row['estimate'])}")
    print(f"TOTAL: {cost.summary(total)}" + (
        f" ({total['UNSEEN_COMMANDS']} commands never run here before, guessed at "
        f"{cost.UNKNOWN_RUN_SECONDS:g}s each)" if total["UNSEEN_COMMANDS"] else ""))
    return 0


# --- helpers -------------------------------------------------------------------


def _sandbox(flag: str | None) -> str:
    """The --sandbox flag wins over the user's configuration."""
    if flag:
        return flag
    from .session import sandbox_settings
    return sandbox_settings().backend


def _display(as_json: bool):
    from .display import make_display
    return make_display(sys.stderr if as_json else sys.stdout)


def _finish(outcome, as_json: bool) -> int:
    if as_json:
        print(json.dumps(outcome.to_json()))
        return outcome.exit_code
    out = sys.stdout
    if outcome.status == "succeeded":
        print(f"succeeded (run {outcome.run_id})", file=out)
    elif outcome.status == "failed":
        print(f"failed (run {outcome.run_id}):\n{outcome.error}", file=out)
    elif outcome.status == "rejected":
        print(f"rejected (run {outcome.run_id}): {outcome.error}", file=out)
    elif outcome.status == "paused":
        print(f"paused: {outcome.error}\nresume with: {outcome.resume_command} --approve "
              f"(or --reject)", file=out)
    else:   # Ctrl-C, or what stopped the run without failing it (an MCP server that died)
        if outcome.error not in (None, "interrupted"):
            print(f"stopped: {outcome.error}", file=out)
        print(f"interrupted; nothing completed is lost.\nresume with: {outcome.resume_command}", file=out)
    return outcome.exit_code


def _usage_error(exc: Exception, as_json: bool = False) -> int:
    """Exit 2 with one clear message (and, with --json, one JSON object)."""
    from tisslang.errors import TissSyntaxError

    from .errors import RunError, Stop
    if isinstance(exc, TissSyntaxError):
        for diagnostic in exc.diagnostics:
            print(diagnostic.format(), file=sys.stderr)
        summary = {"status": "invalid", "exit_code": 2, "diagnostics": [d.to_json() for d in exc.diagnostics]}
    elif isinstance(exc, (RunError, Stop)):
        print(f"error: {exc.message}" + (f"\nhint: {exc.hint}" if exc.hint else ""), file=sys.stderr)
        summary = {"status": "error", "exit_code": 2, "error": exc.message, "hint": exc.hint}
    else:
        raise exc
    if as_json:
        print(json.dumps(summary))
    return 2


def _when(timestamp) -> str:
    return datetime.fromtimestamp(timestamp).strftime("%Y-%m-%d %H:%M:%S") if timestamp else "-"
