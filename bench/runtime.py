"""Interpreter overhead per non-RUN statement, by journal durability.

A 10,000-statement plan of VAR, LOG, ASSERT and IF (interpolation and
conditions included) is parsed once, then executed by a fresh Session with the
journal in each ``journal.fsync`` mode (``step``, the default: group commit;
``always``: fsync per event; ``never``: written to the OS only) and with the
journal off, in alternating rounds so the load of a shared machine hits all
alike. ``always`` runs a fifth of the plan (one fsync per event would make
the full plan take seconds a round); the figures are per statement either way.
Prints the median microseconds per statement side by side and the ratios.

    python bench/runtime.py [--quick] [--json]

Targets (issue 3): <= 200 us per statement with the journal on (default
mode), and journal on <= 2x journal off. With --json, one JSON object on stdout.
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
from runtime.journal import DEFAULT_FSYNC, FSYNC_MODES, RunFolder  # noqa: E402
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


def time_once(program, fsync: str | None) -> float:
    """Seconds to execute the whole program in a new session; ``fsync`` is
    the journal's mode, None for no journal."""
    with tempfile.TemporaryDirectory() as workspace:
        folder = RunFolder.create(Path(workspace), "", fsync=fsync) if fsync else None
        with Session(workspace, sandbox="host", journal=bool(fsync), folder=folder,
                     review="approve") as session:
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
    sizes = {mode: statements // 5 if mode == "always" else statements for mode in (*FSYNC_MODES, None)}
    programs = {size: parse(make_plan(size)) for size in set(sizes.values())}
    log = (lambda *a: print(*a, file=sys.stderr)) if args.json else print
    log(f"{statements} statements (VAR, LOG, ASSERT, IF; {sizes['always']} for fsync always), "
        f"{rounds} alternating rounds")

    times = {mode: [] for mode in sizes}
    for _ in range(rounds):
        for mode, size in sizes.items():
            times[mode].append(time_once(programs[size], mode))
    us = {mode: statistics.median(times[mode]) / sizes[mode] * 1e6 for mode in sizes}
    on, off = us[DEFAULT_FSYNC], us[None]
    ratio = on / off
    result = {
        "statements": statements, "statements_fsync_always": sizes["always"], "rounds": rounds,
        "us_per_statement": round(on, 1), "us_per_statement_no_journal": round(off, 1),
        **{f"us_per_statement_fsync_{mode}": round(us[mode], 1) for mode in FSYNC_MODES},
        "journal_overhead_ratio": round(ratio, 2),
        "fsync_always_vs_step_ratio": round(us["always"] / us["step"], 1),
        "target_us_per_statement": TARGET_US, "target_journal_overhead_ratio": TARGET_RATIO,
        "meets_targets": on <= TARGET_US and ratio <= TARGET_RATIO,
    }
    if args.json:
        print(json.dumps(result))
    else:
        columns = [(f"fsync {mode}", us[mode]) for mode in FSYNC_MODES] + [("no journal", off)]
        print(f"{'':20}" + "".join(f"{name:>14}" for name, _ in columns))
        print(f"{'us per statement':20}" + "".join(f"{value:14.1f}" for _, value in columns))
        print(f"journal overhead ({DEFAULT_FSYNC}, the default): {ratio:.2f}x (target <= {TARGET_RATIO}x); "
              f"per statement {on:.1f} us (target <= {TARGET_US:g} us); "
              f"fsync always costs {us['always'] / us['step']:.1f}x step")
    return 0


if __name__ == "__main__":
    sys.exit(main())
