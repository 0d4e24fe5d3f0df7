"""Interpreter overhead per non-RUN statement, journaling on vs off.

A 10,000-statement plan of VAR, LOG, ASSERT and IF (interpolation and
conditions included) is parsed once, then executed by a fresh Session with the
journal on (events.jsonl flushed per statement + checkpoints) and off, in
alternating rounds so the load of a shared machine hits both alike. Prints the
median microseconds per statement side by side and their ratio.

    python bench/runtime.py [--quick] [--json]

Targets (issue 3): <= 200 us per statement with journaling on, and
journaling on <= 2x journaling off. With --json, one JSON object on stdout.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import tempfile
import time
from pathlib import Path

# This file is named runtime.py, so Python would import it instead of the
# runtime package: take bench/ off the import path first.
sys.path = [p for p in sys.path if Path(p or ".").resolve() != Path(__file__).resolve().parent]

from runtime import Session  # noqa: E402
from tisslang import parse  # noqa: E402

TARGET_US = 200.0
TARGET_RATIO = 2.0

PATTERN = [
    'VAR n{i} = {i}',
    'LOG "statement {{{{n{i}}}}} of the plan"',
    'ASSERT n{i} == {i} AND "abc" CONTAINS "b"',
    'IF n{i} > 5 {{ VAR big = true }} ELSE {{ VAR big = false }}',
]


def make_plan(statements: int) -> str:
    lines = []
    for i in range(statements // len(PATTERN)):
        lines += [line.format(i=i) for line in PATTERN]
    return "\n".join(lines) + "\n"


def time_once(program, journal: bool) -> float:
    """Seconds to execute the whole program in a new session."""
    with tempfile.TemporaryDirectory() as workspace:
        with Session(workspace, sandbox="host", journal=journal, review="approve") as session:
            started = time.perf_counter()
            outcome = session.execute(program.body)
            elapsed = time.perf_counter() - started
        if outcome.status != "succeeded":
            raise SystemExit(f"the benchmark plan failed: {outcome.error}")
    return elapsed


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="fewer rounds (for make bench)")
    parser.add_argument("--json", action="store_true", help="print one JSON object")
    args = parser.parse_args()

    statements = 10_000
    rounds = 3 if args.quick else 7
    program = parse(make_plan(statements))
    log = (lambda *a: print(*a, file=sys.stderr)) if args.json else print
    log(f"{statements} statements (VAR, LOG, ASSERT, IF), {rounds} alternating rounds")

    times = {True: [], False: []}
    for _ in range(rounds):
        for journal in (True, False):
            times[journal].append(time_once(program, journal))
    on = statistics.median(times[True]) / statements * 1e6
    off = statistics.median(times[False]) / statements * 1e6
    ratio = on / off
    result = {
        "statements": statements, "rounds": rounds,
        "us_per_statement": round(on, 1), "us_per_statement_no_journal": round(off, 1),
        "journal_overhead_ratio": round(ratio, 2),
        "target_us_per_statement": TARGET_US, "target_journal_overhead_ratio": TARGET_RATIO,
        "meets_targets": on <= TARGET_US and ratio <= TARGET_RATIO,
    }
    if args.json:
        print(json.dumps(result))
    else:
        print(f"{'':24}{'journal on':>12}{'journal off':>13}")
        print(f"{'us per statement':24}{on:12.1f}{off:13.1f}")
        print(f"journal overhead: {ratio:.2f}x (target <= {TARGET_RATIO}x); "
              f"per statement {on:.1f} us (target <= {TARGET_US:g} us)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
