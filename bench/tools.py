"""Overhead of a tool call beside a direct Python function call.

Measures, per call (best of --repeat runs, CPU time of this process):

  direct      add(a=2, b=3)                                  the bare function
  validated   Tool.call({"a": 2, "b": 3})                    schema check + call
  call        CALL add {a: 2, b: 3} INTO r  in a Session     the whole statement: evaluate the
                                                             arguments, API_CALLS, ToolContext,
                                                             journal event (run folder on disk)

and prints microseconds per call and each as a multiple of the direct call.
(Helper B adds the MCP tool's figure: a CALL through a stdio MCP server.)

    python bench/tools.py            # full run, a table
    python bench/tools.py --quick    # fewer calls
    python bench/tools.py --json     # one JSON object on stdout
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path

# bench/ holds runtime.py and this tools.py: take it off the import path so
# that `runtime` and `tools` are the packages, as bench/runtime.py does.
sys.path = [p for p in sys.path if Path(p or ".").resolve() != Path(__file__).resolve().parent]

import tisslang  # noqa: E402
from runtime import Session  # noqa: E402
from tools import tool  # noqa: E402


def add(a: int, b: int) -> int:
    return a + b


def per_call(work, calls: int, repeat: int) -> float:
    """Best CPU seconds per call of ``work(calls)`` over ``repeat`` runs."""
    best = float("inf")
    for _ in range(repeat):
        started = time.process_time()
        work(calls)
        best = min(best, (time.process_time() - started) / calls)
    return best


def measure(calls: int, repeat: int) -> dict:
    wrapped = tool(add)

    def direct(n):
        for _ in range(n):
            add(a=2, b=3)

    def validated(n):
        for _ in range(n):
            wrapped.call({"a": 2, "b": 3})

    plan_calls = max(1, calls // 20)
    with tempfile.TemporaryDirectory() as workspace, \
            Session(workspace, sandbox="host", review="approve", tools={"add": add}) as session:
        source = "CALL add {a: 2, b: 3} INTO r\n" * plan_calls
        statements = tisslang.parse(source).body

        def in_plan(n):
            session.execute(statements)

        call = per_call(in_plan, plan_calls, repeat)
    figures = {"direct_us": per_call(direct, calls, repeat) * 1e6,
               "validated_us": per_call(validated, calls, repeat) * 1e6,
               "call_us": call * 1e6}
    figures["validated_x"] = figures["validated_us"] / figures["direct_us"]
    figures["call_x"] = figures["call_us"] / figures["direct_us"]
    return figures


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="fewer calls")
    parser.add_argument("--json", action="store_true", help="print one JSON object")
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    figures = measure(2_000 if args.quick else 20_000, 1 if args.quick else args.repeat)
    if args.json:
        print(json.dumps({k: round(v, 3) for k, v in figures.items()}))
        return
    print(f"{'':12}{'µs/call':>10}{'× direct':>10}")
    print(f"{'direct':12}{figures['direct_us']:10.3f}{1:10.1f}")
    print(f"{'validated':12}{figures['validated_us']:10.3f}{figures['validated_x']:10.1f}")
    print(f"{'CALL':12}{figures['call_us']:10.3f}{figures['call_x']:10.1f}")


if __name__ == "__main__":
    main()
