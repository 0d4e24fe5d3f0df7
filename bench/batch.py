"""Jobs per minute of ``tiss batch``: 50 short plans (a RUN, a WRITE, an
ASSERT each) on the local pool at 1 worker and at N (the CPUs), and as Ray
tasks on a local Ray instance with N CPUs; Ray's overhead per job over the
pool at N.

    python bench/batch.py [--quick] [--json]

Commands run in the host sandbox: what is measured is the batch machinery
(workers, journals, Ray's scheduling and the tar of each job folder coming
back), not a sandbox's start. The pool's rates include starting its worker
processes; Ray's start (``ray.init``) and its workers' first jobs are timed
apart and left out of ``jobs_per_min_ray_n`` (``jobs_per_min_ray_n_cold``
has them). Targets (issue 17): N workers >= 0.8 x N
times the jobs per minute of one; Ray's overhead <= 50 ms per job. With
--json, one JSON object on stdout.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import sys
import tempfile
import time
from pathlib import Path

# Run as a script, bench/ is first on sys.path, where a bench/runtime.py would
# shadow the runtime package: look for packages elsewhere.
sys.path[:] = [p for p in sys.path if Path(p or ".").resolve() != Path(__file__).resolve().parent]

from runtime.batch import BatchFolder, Events, Job, Task  # noqa: E402
from runtime.batch_pool import run_local  # noqa: E402

PLAN = 'TASK "job {n}"\nRUN "echo {n}" AS said\nWRITE "out.txt" "{{{{said.STDOUT}}}}"\nASSERT said.EXIT_CODE == 0\n'


def tasks_for(root: Path, count: int) -> list[Task]:
    jobs = [Job(id=f"job{n:03d}", plan=PLAN.format(n=n), plan_path=f"job{n}.tiss") for n in range(count)]
    folder = BatchFolder.create(root, jobs)
    return [Task(job, folder.job_dir(job), sandbox="host", review="approve") for job in jobs]


def timed(run, tasks: list[Task]) -> float:
    started = time.perf_counter()
    results = run(tasks)
    seconds = time.perf_counter() - started
    bad = [r for r in results if r["status"] != "succeeded"]
    if len(results) != len(tasks) or bad:
        sys.exit(f"bench/batch.py: {len(bad)} job(s) did not succeed: {bad[:1]}")
    return seconds


def ray_run(root: Path, count: int, cpus: int) -> tuple[float, float, float]:
    """(ray.init seconds, warm-up seconds, batch seconds) on a local Ray instance."""
    from runtime.batch_ray import connect, import_ray, run_tasks
    ray = import_ray()
    started = time.perf_counter()
    temp = connect(ray, "local", cpus)
    start = time.perf_counter() - started
    try:
        warm = timed(lambda t: run_tasks(ray, t, Events(), 0), tasks_for(root / "warm", cpus))   # first imports
        return start, warm, timed(lambda t: run_tasks(ray, t, Events(), 0), tasks_for(root / "ray", count))
    finally:
        ray.shutdown()
        shutil.rmtree(temp, ignore_errors=True)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="12 plans instead of 50")
    parser.add_argument("--json", action="store_true", help="one JSON object on stdout")
    args = parser.parse_args()
    count, cpus = (12 if args.quick else 50), os.cpu_count() or 1
    os.environ.setdefault("RAY_USAGE_STATS_ENABLED", "0")
    root = Path(tempfile.mkdtemp(prefix="tiss-bench-batch-"))
    try:
        local_1 = timed(lambda t: run_local(t, 1, Events()), tasks_for(root / "one", count))
        local_n = timed(lambda t: run_local(t, cpus, Events()), tasks_for(root / "n", count))
        ray_start, ray_warm, ray_n = ray_run(root, count, cpus)
    finally:
        shutil.rmtree(root, ignore_errors=True)
    per_min = {key: round(60 * count / seconds, 1) for key, seconds in
               (("jobs_per_min_local_1", local_1), ("jobs_per_min_local_n", local_n), ("jobs_per_min_ray_n", ray_n))}
    result = {"jobs": count, "workers": cpus, **per_min,
              "speedup_local_n": round(local_1 / local_n, 2),
              "ray_overhead_ms_per_job": round(1000 * (ray_n - local_n) / count, 1),
              "ray_start_s": round(ray_start, 2),
              # as a user sees it: ray.init and the workers' first jobs included
              "jobs_per_min_ray_n_cold": round(60 * (count + cpus) / (ray_start + ray_warm + ray_n), 1)}
    if args.json:
        print(json.dumps(result))
        return 0
    print(f"{count} short plans, {cpus} CPUs (host sandbox)")
    print(f"local pool, 1 worker : {per_min['jobs_per_min_local_1']:8.1f} jobs/min")
    print(f"local pool, {cpus} workers: {per_min['jobs_per_min_local_n']:8.1f} jobs/min "
          f"({result['speedup_local_n']}x; target >= {0.8 * cpus:.1f}x)")
    print(f"Ray, {cpus} CPUs        : {per_min['jobs_per_min_ray_n']:8.1f} jobs/min "
          f"(+{result['ray_overhead_ms_per_job']} ms/job over the pool; target <= 50)")
    print(f"Ray, cold            : {result['jobs_per_min_ray_n_cold']:8.1f} jobs/min (ray.init {result['ray_start_s']} s included)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
