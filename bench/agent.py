"""The agent loop on goals it never saw: success, steps, time.

    python bench/agent.py [--quick] [--json] [--model DIR] [--goals N] [--sandbox S]

Held-out goals come from runtime/agent_corpus.py's held-out split (wordings,
file names and texts that training never uses): create, read, fix (replace),
append to files, search the workspace, run a script and report its output.
For each goal a fresh workspace gets the goal's files, the embedded model
(model/weights/agent unless --model) runs the real loop with the real tools
(grammar-constrained), and the goal's own check judges the workspace and
the answer afterwards, never the agent's word that it succeeded.

Figures: agent_success_rate, agent_steps_mean (model answers per goal),
agent_seconds_p50 (wall time per goal), and success per family.
"""

from __future__ import annotations

import argparse
import contextlib
import io
import json
import statistics
import sys
import tempfile
import time
from collections import defaultdict
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from model.backend import SHIPPED_AGENT, TissLMBackend  # noqa: E402
from runtime.agent import AgentSettings, run_agent  # noqa: E402
from runtime.agent_corpus import TOOLS, goals, prepare  # noqa: E402



class Counted:
    """The backend, counting its answers (the steps a goal took)."""

    def __init__(self, inner):
        self.inner, self.calls = inner, 0

    def __getattr__(self, name):   # tokenizer, supports_constraint, plans_with_slots, score …
        return getattr(self.inner, name)

    def for_agent(self):   # the model measured is the one given, as it is
        return self

    def generate(self, prompt, **options):
        self.calls += 1
        return self.inner.generate(prompt, **options)


def solve(goal, backend, workspace: Path, sandbox: str, max_steps: int) -> dict:
    prepare(goal, workspace)
    model = Counted(backend)
    started = time.perf_counter()
    with contextlib.redirect_stderr(io.StringIO()):
        outcome = run_agent(goal.text, workspace, tools=list(TOOLS), model=model, sandbox=sandbox,
                            review="approve", settings=AgentSettings(max_steps=max_steps), journal=False)
    seconds = time.perf_counter() - started
    answer = str(outcome.variables.get("answer", ""))
    return {"family": goal.family, "goal": goal.text, "status": outcome.status, "answer": answer[:200],
            "success": outcome.status == "succeeded" and goal.check(workspace, answer),
            "steps": model.calls, "seconds": round(seconds, 3), "error": (outcome.error or "")[:300]}


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="12 goals instead of 60")
    parser.add_argument("--goals", type=int, help="how many held-out goals")
    parser.add_argument("--model", type=Path, default=SHIPPED_AGENT, help="a TissLM directory")
    parser.add_argument("--sandbox", default="host", help="where shell runs (default host: the scripts are ours)")
    parser.add_argument("--max-steps", type=int, default=6)
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args(argv)
    from model.checkpoint import CheckpointError
    try:
        backend = TissLMBackend(args.model)
    except (CheckpointError, OSError) as exc:
        print(f"error: no model in {args.model}: {str(exc).splitlines()[0]}\nhint: train one with `tiss model train --config "
              "model/configs/agent.yaml --out build/agent-run`, then pass --model build/agent-run",
              file=sys.stderr)
        return 2
    count = args.goals or (12 if args.quick else 60)
    rows = []
    with tempfile.TemporaryDirectory(prefix="tiss-bench-agent-") as scratch:
        for number, goal in enumerate(goals("heldout", count)):
            rows.append(solve(goal, backend, Path(scratch) / str(number), args.sandbox, args.max_steps))
            if not args.json:
                row = rows[-1]
                print(f"{'✓' if row['success'] else '✗'} {row['steps']} steps {row['seconds']:6.2f}s  {row['goal']}"
                      + ("" if row["success"] else f"  [{row['status']}: {row['answer'] or row['error'][:80]}]"))
    families = defaultdict(list)
    for row in rows:
        families[row["family"]].append(row["success"])
    summary = {
        "agent_success_rate": round(sum(r["success"] for r in rows) / len(rows), 4),
        "agent_steps_mean": round(statistics.mean(r["steps"] for r in rows), 3),
        "agent_seconds_p50": round(statistics.median(r["seconds"] for r in rows), 3),
        "goals": len(rows), "model": str(args.model),
        "success_by_family": {f: round(sum(v) / len(v), 4) for f, v in sorted(families.items())},
    }
    if args.json:
        print(json.dumps({**summary, "results": rows}))
    else:
        print(json.dumps(summary, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
