"""The planner on goals it never saw: parse, check, success, repair, speed.

    python bench/planner.py [--quick] [--json] [--model DIR] [--goals N] [--sandbox S]

Held-out goals come from runtime/planner_corpus.py's held-out split: wordings,
literals (file names, texts, identifiers, commands) and two-task combinations
that training never uses. For each goal the embedded model (the shipped
weights unless --model) plans it, and the plan is judged by the goal's own
check (runtime/planner_corpus.py ``judge``: the run succeeded, ran what the
goal names, left the files the goal asks for; a plan that only asserts what
it did itself does not pass). A failed run is fed back as a repair (as
``tiss plan --run --repair 2`` does) and judged again.

Figures: parse_rate (constrained), parse_rate_unconstrained (the same model
without the grammar), check_rate, success_rate, success_rate_repair,
constrained_slowdown (seconds per token constrained / unconstrained),
mask_us_per_token (median time of the grammar mask), plan_seconds_p50 (goal to
checked plan), and success per task family.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import tempfile
import time
from collections import defaultdict
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from model.backend import SHIPPED, TissLMBackend  # noqa: E402
from runtime import planner_corpus as corpus  # noqa: E402
from runtime.planner import PlannerError, check, plan, prompt_for, run_report  # noqa: E402
from runtime.slots import slot  # noqa: E402
from tisslang.constrain import for_tokenizer  # noqa: E402


class TimedConstraint:
    """A constraint that records how long each mask takes."""

    def __init__(self, inner):
        self.inner, self.times = inner, []

    def allowed(self, ids):
        start = time.perf_counter()
        mask = self.inner.allowed(ids)
        self.times.append(time.perf_counter() - start)
        return mask

    def advance(self, token_id):
        self.inner.advance(token_id)

    def done(self):
        return self.inner.done()


def generation_figures(backend, goal: str) -> dict:
    """One constrained and one unconstrained generation of the same prompt."""
    from runtime.planner import _whole_plan
    slotted = slot(goal)
    prompt = prompt_for(slotted.text)
    room = backend.room(512, prompt)
    constraint = TimedConstraint(for_tokenizer(backend.tokenizer, room, markers=tuple(slotted.values)))
    start = time.perf_counter()
    constrained = backend.generate(prompt, max_tokens=room, constraint=constraint)
    constrained_s = time.perf_counter() - start
    start = time.perf_counter()
    free = backend.generate(prompt, max_tokens=room, stop=["GOAL:"])
    free_s = time.perf_counter() - start
    parses = {}
    for name, body in (("constrained", constrained), ("free", free)):
        program, diagnostics = check(_whole_plan(goal, body.split("<|eos|>")[0], slotted))
        parses[name] = program is not None
    return {"parse": parses["constrained"], "parse_free": parses["free"],
            "s_per_token": constrained_s / max(1, backend.count_tokens(constrained)),
            "s_per_token_free": free_s / max(1, backend.count_tokens(free)),
            "mask_times": constraint.times}


def evaluate(backend, goals, sandbox: str, repairs: int = 2, log=print, cover: bool = True) -> dict:
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        for i, goal in enumerate(goals):
            gen = generation_figures(backend, goal.text)
            start = time.perf_counter()
            try:
                result = plan(goal.text, backend, repair=2, cover=cover)
            except PlannerError as exc:
                rows.append({"family": goal.family, "goal": goal.text, **gen, "checked": False,
                             "success": False, "success_repair": False, "reason": exc.message,
                             "plan_s": time.perf_counter() - start})
                log(f"{i + 1:3}/{len(goals)} no plan  {goal.text}")
                continue
            plan_s = time.perf_counter() - start
            verdict = corpus.judge(goal, result.source, Path(tmp) / f"g{i}", sandbox=sandbox)
            repaired, attempt = verdict, 0
            # as `tiss plan --run --repair N`: only a run that failed has a report
            # to feed back (a run that succeeded without doing the goal has none)
            while not repaired.success and repaired.run_error and attempt < repairs:
                attempt += 1
                try:
                    again = plan(goal.text, backend, repair=2, cover=cover,
                                 failure=(result.body, run_report(repaired.run_error)))
                except PlannerError:
                    break
                result = again
                repaired = corpus.judge(goal, again.source, Path(tmp) / f"g{i}-r{attempt}", sandbox=sandbox)
            rows.append({"family": goal.family, "goal": goal.text, **gen, "checked": True,
                         "success": verdict.success, "success_repair": repaired.success,
                         "reason": verdict.reason, "plan_s": plan_s,
                         "confidence": result.confidence})
            mark = "ok " if verdict.success else ("ok*" if repaired.success else "FAIL")
            log(f"{i + 1:3}/{len(goals)} {mark} {plan_s:5.2f}s  {goal.text}"
                + ("" if verdict.success else f"\n           {verdict.reason.splitlines()[0][:150]}"))
    return summarise(rows)


def summarise(rows: list[dict]) -> dict:
    def rate(key):
        return round(sum(bool(r[key]) for r in rows) / len(rows), 3)
    masks = [t for r in rows for t in r["mask_times"]]
    slow = [r["s_per_token"] / r["s_per_token_free"] for r in rows if r["s_per_token_free"] > 0]
    families = defaultdict(list)
    for r in rows:
        families[r["family"]].append(r["success"])
    ok_conf = [r["confidence"] for r in rows if r.get("confidence") is not None and r["success"]]
    bad_conf = [r["confidence"] for r in rows if r.get("confidence") is not None and not r["success"]]
    return {
        "goals": len(rows),
        "parse_rate": rate("parse"),
        "parse_rate_unconstrained": rate("parse_free"),
        "check_rate": rate("checked"),
        "success_rate": rate("success"),
        "success_rate_repair": rate("success_repair"),
        "constrained_slowdown": round(statistics.median(slow), 2) if slow else None,
        "mask_us_per_token": round(statistics.median(masks) * 1e6, 1) if masks else None,
        "plan_seconds_p50": round(statistics.median(r["plan_s"] for r in rows), 2),
        "plan_seconds_p95": round(sorted(r["plan_s"] for r in rows)[int(0.95 * (len(rows) - 1))], 2),
        "confidence_median_success": round(statistics.median(ok_conf), 3) if ok_conf else None,
        "confidence_median_failure": round(statistics.median(bad_conf), 3) if bad_conf else None,
        "by_family": {f: f"{sum(v)}/{len(v)}" for f, v in sorted(families.items())},
        "failures": [{"goal": r["goal"], "reason": r["reason"][:200]} for r in rows if not r["success"]],
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="20 goals")
    parser.add_argument("--goals", type=int, default=100)
    parser.add_argument("--model", type=Path, default=SHIPPED)
    parser.add_argument("--sandbox", default="auto")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--json", action="store_true")
    parser.add_argument("--no-cover", action="store_true",
                        help="let a plan end before it uses every literal of the goal")
    args = parser.parse_args()
    goals = corpus.goals("held_out", 20 if args.quick else args.goals, seed=args.seed)
    backend = TissLMBackend(args.model)
    log = (lambda *a: print(*a, file=sys.stderr)) if args.json else print
    figures = evaluate(backend, goals, args.sandbox, log=log, cover=not args.no_cover)
    if args.json:
        print(json.dumps(figures))
        return
    print()
    for key, value in figures.items():
        if key != "failures":
            print(f"{key:28} {value}")


if __name__ == "__main__":
    main()
