"""``make demo``: the toolchain and the runtime end to end on the examples.

1. check and format-check every examples/*.tiss, and print a parse summary;
2. run one real example plan in the sandbox (``auto``: Docker, else
   bubblewrap) with the live progress display, in a fresh workspace;
3. show the run folder it left behind.

    python -m runtime.demo [--plan examples/06_parallel_checks.tiss] [--sandbox auto]
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
DEFAULT_PLAN = EXAMPLES / "06_parallel_checks.tiss"


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


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description="QuantaTissu demo")
    parser.add_argument("--plan", type=Path, default=DEFAULT_PLAN)
    parser.add_argument("--sandbox", default="auto", choices=BACKENDS)
    args = parser.parse_args(argv)

    if not check_examples():
        return 2
    workspace = Path(tempfile.mkdtemp(prefix="tiss-demo-"))
    print(f"\n== Running {args.plan.name} in the {args.sandbox} sandbox (workspace {workspace})")
    display = make_display(sys.stdout)
    try:
        outcome = run_plan(args.plan, workspace, sandbox=args.sandbox, review="approve", display=display)
    finally:
        display.close()
    print(f"\n{outcome.status} in run {outcome.run_id}" + (f": {outcome.error}" if outcome.error else ""))
    for step in outcome.steps:
        print(f"  {step.status:10} {step.duration:6.2f}s  {step.name}")
    folder = outcome.journal
    print(f"\n== Run folder {folder}")
    for item in sorted(folder.iterdir()):
        print(f"  {item.name}")
    print(f"  ({sum(1 for _ in open(folder / 'events.jsonl'))} events; "
          f"see them with: tiss log {outcome.run_id} --workspace {workspace})")
    return outcome.exit_code


if __name__ == "__main__":
    sys.exit(main())
