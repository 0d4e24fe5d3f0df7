"""Overhead of a tool call beside a direct Python function call.

Measures, per call (best of --repeat runs, CPU time of this process):

  direct      add(a=2, b=3)                                  the bare function
  validated   Tool.call({"a": 2, "b": 3})                    schema check + call
  call        CALL add {a: 2, b: 3} INTO r  in a Session     the whole statement: evaluate the
                                                             arguments, API_CALLS, ToolContext,
                                                             journal event (run folder on disk)

and the same add served by an MCP server (the SDK's, over stdio, a process
of its own), in wall-clock time since the work is split across two processes:

  call_wall   the Python CALL above, wall clock                   (the baseline for MCP)
  mcp         Tool.call of the MCP tool: a JSON-RPC round trip    through the background loop
  mcp_call    CALL add {a: 2, b: 3} INTO r  with the MCP tool     the whole statement

and prints microseconds per call and each as a multiple of the direct call.
Both journaled CALLs use the configuration's journal.fsync: at the default
(step) a wall-clock CALL outside a STEP is mostly the journal's fsync; with
TISS_CONFIG naming a file with `journal: {fsync: never}` it is the call alone.

    python bench/tools.py            # full run, a table
    python bench/tools.py --quick    # fewer calls
    python bench/tools.py --json     # one JSON object on stdout
"""

from __future__ import annotations

import argparse
import json
import os
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


def per_call(work, calls: int, repeat: int, clock=time.process_time) -> float:
    """Best seconds per call of ``work(calls)`` over ``repeat`` runs: CPU time
    of this process, or ``clock=time.perf_counter`` (wall clock) for work done
    partly in another process."""
    best = float("inf")
    for _ in range(repeat):
        started = clock()
        work(calls)
        best = min(best, (clock() - started) / calls)
    return best


def per_call_wall(work, calls: int, repeat: int) -> float:
    return per_call(work, calls, repeat, clock=time.perf_counter)


MCP_SERVER = """\
from mcp.server import MCPServer
server = MCPServer("bench")

@server.tool()
def add(a: int, b: int) -> int:
    return a + b

server.run("stdio")
"""


def measure_mcp(calls: int, repeat: int, workspace: str) -> dict:
    """The MCP figures: the same ``add`` through a stdio MCP server named in a
    configuration file, loaded as a run loads it (the Session's registry)."""
    folder = Path(workspace)
    (folder / "bench_mcp_server.py").write_text(MCP_SERVER)
    from runtime.config import load_config
    fsync = load_config().journal.fsync    # as the Python CALL's run: the same journal cost
    (folder / "config.yaml").write_text(json.dumps({"journal": {"fsync": fsync}, "mcp_servers": {"bench": {
        "command": sys.executable, "args": [str(folder / "bench_mcp_server.py")]}}}))
    before = os.environ.get("TISS_CONFIG")
    os.environ["TISS_CONFIG"] = str(folder / "config.yaml")
    try:
        with Session(folder / "mcp", sandbox="host", review="approve") as session:
            mcp_add = session.interp.tools["add"]
            problems = session.interp.tools.problems
            if problems or mcp_add.source != "mcp server 'bench'":
                raise SystemExit("\n".join(problems) or f"add comes from {mcp_add.source}")

            def mcp(n):
                for _ in range(n):
                    mcp_add.call({"a": 2, "b": 3})

            statements = tisslang.parse("CALL add {a: 2, b: 3} INTO r\n" * calls).body
            mcp_call = per_call_wall(lambda n: session.execute(statements), calls, repeat)
            return {"mcp_us": per_call_wall(mcp, calls, repeat) * 1e6, "mcp_call_us": mcp_call * 1e6}
    finally:
        if before is None:
            os.environ.pop("TISS_CONFIG")
        else:
            os.environ["TISS_CONFIG"] = before


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
        call_wall = per_call_wall(in_plan, plan_calls, repeat)
        figures = measure_mcp(max(1, calls // 100), repeat, workspace)
    figures.update({"direct_us": per_call(direct, calls, repeat) * 1e6,
                    "validated_us": per_call(validated, calls, repeat) * 1e6,
                    "call_us": call * 1e6, "call_wall_us": call_wall * 1e6})
    for name in ("validated", "call", "call_wall", "mcp", "mcp_call"):
        figures[f"{name}_x"] = figures[f"{name}_us"] / figures["direct_us"]
    figures["mcp_call_over_call"] = figures["mcp_call_us"] / figures["call_wall_us"]
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
    print("wall clock (an MCP call spans two processes):")
    print(f"{'CALL':12}{figures['call_wall_us']:10.3f}{figures['call_wall_x']:10.1f}")
    print(f"{'MCP tool':12}{figures['mcp_us']:10.3f}{figures['mcp_x']:10.1f}")
    print(f"{'MCP CALL':12}{figures['mcp_call_us']:10.3f}{figures['mcp_call_x']:10.1f}"
          f"   ({figures['mcp_call_over_call']:.1f}x the Python CALL)")


if __name__ == "__main__":
    main()
