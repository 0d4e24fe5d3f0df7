"""``make demo``: the product's main job end to end, on a fresh machine.

1. check and format-check every examples/*.tiss (one line each);
2. the embedded planner (TissLM, weights shipped in the package) writes a
   plan for a small coding goal, under the TissLang grammar;
3. the plan is shown for review (the demo approves it for you; ``--ask``
   asks you, as ``tiss plan --run`` does);
4. it runs in the sandbox (``auto``: Docker, else bubblewrap) with the live
   display, in a fresh workspace, and the demo lists the assertions that
   passed and the files the plan wrote.

    python -m runtime.demo [--goal "…"] [--sandbox auto] [--ask]
"""

from __future__ import annotations

import argparse
import sys
import tempfile
from collections import Counter
from pathlib import Path

import tisslang
from tisslang.errors import TissSyntaxError

from .display import make_display
from .sandbox import BACKENDS
from .session import check_program, run_plan

EXAMPLES = Path(__file__).resolve().parent.parent / "examples"


def count_statements(stmts, counts: Counter) -> Counter:
    for stmt in stmts:
        counts[type(stmt).__name__] += 1
        for name in ("body", "catch", "orelse"):
            inner = getattr(stmt, name, None)
            if isinstance(inner, tuple):
                count_statements(inner, counts)
        for branch in getattr(stmt, "branches", ()):
            count_statements(branch.body, counts)
    return counts


def check_examples() -> bool:
    """Parse, check and format-check every example; print one line each."""
    from tisslang.formatter import format_source
    print(f"== Checking {len(list(EXAMPLES.glob('*.tiss')))} example plans in {EXAMPLES}")
    total, ok = Counter(), True
    for path in sorted(EXAMPLES.glob("*.tiss")):
        source = path.read_text(encoding="utf-8")
        try:
            program = tisslang.parse(source, str(path))
        except TissSyntaxError as exc:
            print(exc)
            ok = False
            continue
        problems = check_program(program)
        errors = [d for d in problems if d.severity == "error"]
        formatted = "formatted" if format_source(source, str(path)) == source else "would reformat"
        counts = count_statements(program.body, Counter())
        total.update(counts)
        steps = counts["Step"] + counts["Setup"]
        status = "ok" if not errors else f"{len(errors)} errors"
        print(f"  {path.name:32} {status:10} {formatted:15} {sum(counts.values()):3} statements, {steps} steps")
        ok = ok and not errors
    print("  constructs used: " + ", ".join(f"{name} {n}" for name, n in total.most_common()))
    return ok


DEFAULT_GOAL = ("write a function add_numbers in calc.py that returns the sum of two "
                "numbers and test it")


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description="QuantaTissu demo: plan a goal, review, run")
    parser.add_argument("--goal", default=DEFAULT_GOAL)
    parser.add_argument("--sandbox", default="auto", choices=BACKENDS)
    parser.add_argument("--ask", action="store_true", help="review the plan yourself")
    args = parser.parse_args(argv)

    if not check_examples():
        return 2
    result = plan_goal(args.goal)
    if result is None:
        return 2
    if not review(result, args.ask):
        print("rejected: nothing ran")
        return 3
    return run_reviewed(result, args.sandbox)


def plan_goal(goal: str):
    """The embedded planner's plan for ``goal``, shown highlighted."""
    import time

    from .models import load_default_backend
    from .planner import PlannerError, highlighted, plan
    from .slots import slot

    print(f"\n== Planning with the embedded TissLM\n  goal:        {goal}\n"
          f"  model sees:  {slot(goal).text}")
    try:
        backend = load_default_backend()
        start = time.perf_counter()
        result = plan(goal, backend)
    except PlannerError as exc:
        print(f"error: {exc.message}\nhint: {exc.hint}")
        return None
    print(f"  planned in {time.perf_counter() - start:.2f}s, {result.attempts} attempt(s), "
          f"{'constrained by the grammar' if result.constrained else 'unconstrained'}, "
          f"confidence {result.confidence:.2f}\n")
    print(highlighted(result.source, sys.stdout))
    return result


def review(result, ask: bool) -> bool:
    print("\n== Review")
    if not ask:
        print("  run this plan?  approve   (answered by the demo; --ask to answer yourself)")
        return True
    answer = input("  run this plan? [a]pprove / [r]eject: ").strip().lower()
    return answer.startswith("a")


def run_reviewed(result, sandbox: str) -> int:
    import json

    workspace = Path(tempfile.mkdtemp(prefix="tiss-demo-"))
    print(f"\n== Running it in the {sandbox} sandbox (workspace {workspace})")
    display = make_display(sys.stdout)
    try:
        outcome = run_plan(result.program, workspace, source=result.source, sandbox=sandbox,
                           review="approve", display=display)
    finally:
        display.close()
    print(f"\n{outcome.status} in run {outcome.run_id}" + (f": {outcome.error}" if outcome.error else ""))
    events = [json.loads(line) for line in (outcome.journal / "events.jsonl").read_text().splitlines()]
    asserts = [e for e in events if e.get("stmt") == "Assert"]
    print(f"\n== {len(asserts)} assertion(s) passed")
    for event in asserts:
        print(f"  ✓ line {event['line']}: ASSERT {event['condition']}   ({'; '.join(event['actual'])})")
    print("\n== Files the plan wrote")
    for path in sorted(p for p in workspace.rglob("*") if p.is_file()
                       and not {".tiss", "__pycache__"} & set(p.parts)):
        print(f"  {path.relative_to(workspace)}  ({path.stat().st_size} bytes)")
    print(f"\n  the journal: tiss log {outcome.run_id} --workspace {workspace}")
    return outcome.exit_code


if __name__ == "__main__":
    sys.exit(main())
