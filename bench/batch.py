"""Jobs per minute of ``tiss batch``: 50 short plans (a RUN, a WRITE, an
ASSERT each) on the local pool at 1 worker and at N (the CPUs), and as Ray
tasks on a local Ray instance with N CPUs; Ray's overhead per job over the
pool at N.

    python bench/batch.py [--quick] [--json] [--repeat K]

Commands run in the host sandbox: what is measured is the batch machinery
(workers, journals, Ray's scheduling and the tar of each job folder coming
back), not a sandbox's start. The jobs report to the CLI's own progress
display (its lines to /dev/null), which saves each job's result.json, as
``tiss batch`` does. Each local run happens in a fresh interpreter, so each
pays for starting its pool (fork server, imports, workers) and none finds
one warmed by the run before; 1 worker and N workers run alternately,
``--repeat`` times each (default 3, 1 with --quick), and the rates are
those of the median run (every run's seconds are in the JSON).

Modules load from cached bytecode, as they do after ``pip install`` (which
compiles every module) or in any checkout Python may write ``__pycache__``
in: the runs get a fresh ``PYTHONPYCACHEPREFIX``, filled by one unmeasured
run first. Where this environment forbids bytecode (``PYTHONDONTWRITEBYTECODE``,
so every fork server compiles our modules again), the same runs are made
as it is too: the ``*_uncached`` figures. Ray's start
(``ray.init``) and its workers' first jobs are timed apart and left out of
``jobs_per_min_ray_n`` (``jobs_per_min_ray_n_cold`` has them). Targets
(issue 17): N workers >= 0.8 x N times the jobs per minute of one; Ray's
overhead <= 50 ms per job. With --json, one JSON object on stdout.
"""

from __future__ import annotations

import argparse
import contextlib
import ctypes
import json
import os
import resource
import shutil
import statistics
import subprocess
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


def progress(tasks: list[Task]):
    """The CLI's progress display (runtime/batch_cli.py), lines to /dev/null."""
    from runtime.batch_cli import Progress
    folder = BatchFolder(tasks[0].job_dir.parent, [t.job for t in tasks])
    return Progress(folder, len(tasks), open(os.devnull, "w", encoding="utf-8"))


def local_seconds(root: Path, count: int, workers: int, env: dict | None = None) -> tuple[float, float, float]:
    """(seconds, CPU seconds of every process, CPU seconds of the driver) for
    ``count`` jobs on a new pool of ``workers``, in a fresh interpreter.

    The CPU of every process is what this process's children used, the
    orphans included: the fork server, its workers and their executors are
    re-parented here (a child subreaper) and reaped, so their rusage counts."""
    before = _children_cpu()
    out = subprocess.run([sys.executable, __file__, "--local-run", str(workers), "--jobs", str(count),
                          "--root", str(root)], check=True, stdout=subprocess.PIPE, text=True, env=env).stdout
    _reap_orphans()
    seconds, driver_cpu = map(float, out.split())
    return seconds, _children_cpu() - before, driver_cpu


def _children_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def become_subreaper() -> None:
    ctypes.CDLL(None, use_errno=True).prctl(36, 1, 0, 0, 0)   # PR_SET_CHILD_SUBREAPER


def _reap_orphans() -> None:
    with contextlib.suppress(ChildProcessError):
        while True:
            os.waitpid(-1, 0)


def local_run(root: Path, count: int, workers: int) -> str:
    tasks = tasks_for(root, count)
    display = progress(tasks)
    cpu_before = time.process_time()
    seconds = timed(lambda t: run_local(t, workers, display), tasks)
    return f"{seconds} {time.process_time() - cpu_before}"


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
        tasks = tasks_for(root / "ray", count)
        display = progress(tasks)
        return start, warm, timed(lambda t: run_tasks(ray, t, display, 0), tasks)
    finally:
        ray.shutdown()
        shutil.rmtree(temp, ignore_errors=True)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="12 plans instead of 50, one run each")
    parser.add_argument("--json", action="store_true", help="one JSON object on stdout")
    parser.add_argument("--repeat", type=int, metavar="K", help="local runs per worker count (default 3)")
    parser.add_argument("--local-only", action="store_true", help="leave Ray out (while working on the pool)")
    # one timed local run, in this (fresh) interpreter: what local_seconds calls
    parser.add_argument("--local-run", type=int, metavar="WORKERS", help=argparse.SUPPRESS)
    parser.add_argument("--jobs", type=int, help=argparse.SUPPRESS)
    parser.add_argument("--root", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.local_run:
        print(local_run(Path(args.root), args.jobs, args.local_run))
        return 0
    count, cpus = (12 if args.quick else 50), os.cpu_count() or 1
    repeat = args.repeat or (1 if args.quick else 3)
    os.environ.setdefault("RAY_USAGE_STATS_ENABLED", "0")
    root = Path(tempfile.mkdtemp(prefix="tiss-bench-batch-"))
    try:
        become_subreaper()
        cached = {**os.environ, "PYTHONPYCACHEPREFIX": str(root / "pycache")}
        cached.pop("PYTHONDONTWRITEBYTECODE", None)
        local_seconds(root / "fill-pycache", cpus, cpus, cached)
        settings = {"": cached}
        if os.environ.get("PYTHONDONTWRITEBYTECODE"):
            settings["_uncached"] = dict(os.environ)
        measured = {(name, w): [] for name in settings for w in (1, cpus)}
        for k in range(repeat):
            for (name, workers), runs in measured.items():
                runs.append(local_seconds(root / f"w{workers}{name}-{k}", count, workers, settings[name]))
        ray = None if args.local_only else ray_run(root, count, cpus)
    finally:
        shutil.rmtree(root, ignore_errors=True)
    result = {"jobs": count, "workers": cpus, "load_average": [round(x, 2) for x in os.getloadavg()]}
    for name in settings:
        result.update(local_figures({w: measured[(name, w)] for w in (1, cpus)}, count, cpus, name))
    if ray:
        local_n = statistics.median(m[0] for m in measured[("", cpus)])
        result.update(ray_figures(count, cpus, local_n, *ray))
    if args.json:
        print(json.dumps(result))
        return 0
    report(result, count, cpus, repeat)
    return 0


def local_figures(measured: dict, count: int, cpus: int, suffix: str) -> dict:
    """The pool's figures from {workers: [(seconds, cpu, driver cpu), ...]},
    each key ending in ``suffix``."""
    runs = {w: [m[0] for m in ms] for w, ms in measured.items()}
    local_1, local_n = statistics.median(runs[1]), statistics.median(runs[cpus])
    figures = {"jobs_per_min_local_1": round(60 * count / local_1, 1),
               "jobs_per_min_local_n": round(60 * count / local_n, 1),
               "speedup_local_n": round(local_1 / local_n, 2),
               "seconds_local_1": [round(s, 3) for s in runs[1]],
               "seconds_local_n": [round(s, 3) for s in runs[cpus]],
               **cpu_figures(measured, count, cpus)}
    return {key + suffix: value for key, value in figures.items()}


def cpu_figures(measured: dict, count: int, cpus: int) -> dict:
    """Where the CPU goes, per job (medians over the runs). With one worker
    a job already keeps ``cpu / wall`` cores busy (its executor and the
    driver work beside it), so N workers can be at most
    ``cpus * wall / cpu`` times faster: ``speedup_bound_local_n``."""
    def per_job_ms(workers: int, index: int) -> float:
        return round(1000 * statistics.median(m[index] for m in measured[workers]) / count, 1)
    wall_1, cpu_1 = per_job_ms(1, 0), per_job_ms(1, 1)
    return {"cpu_ms_per_job_local_1": cpu_1, "cpu_ms_per_job_local_n": per_job_ms(cpus, 1),
            "driver_cpu_ms_per_job_local_1": per_job_ms(1, 2),
            "speedup_bound_local_n": round(min(cpus, cpus * wall_1 / cpu_1), 2)}


def ray_figures(count: int, cpus: int, local_n: float, start: float, warm: float, seconds: float) -> dict:
    return {"jobs_per_min_ray_n": round(60 * count / seconds, 1),
            "ray_overhead_ms_per_job": round(1000 * (seconds - local_n) / count, 1),
            "ray_start_s": round(start, 2),
            # as a user sees it: ray.init and the workers' first jobs included
            "jobs_per_min_ray_n_cold": round(60 * (count + cpus) / (start + warm + seconds), 1)}


def report(result: dict, count: int, cpus: int, repeat: int) -> None:
    print(f"{count} short plans, {cpus} CPUs (host sandbox); median of {repeat} local run(s); "
          f"load average {result['load_average']}")
    for suffix, how in (("", "bytecode cached"), ("_uncached", "modules compiled at each start")):
        if "speedup_local_n" + suffix not in result:
            continue
        r = {key.removesuffix(suffix): value for key, value in result.items() if key.endswith(suffix)}
        print(f"{how}:")
        print(f"  local pool, 1 worker : {r['jobs_per_min_local_1']:8.1f} jobs/min  (runs: {r['seconds_local_1']} s)")
        print(f"  local pool, {cpus} workers: {r['jobs_per_min_local_n']:8.1f} jobs/min "
              f"({r['speedup_local_n']}x; target >= {0.8 * cpus:.1f}x)  (runs: {r['seconds_local_n']} s)")
        print(f"  CPU per job          : {r['cpu_ms_per_job_local_1']} ms at 1 worker "
              f"(driver {r['driver_cpu_ms_per_job_local_1']} ms), {r['cpu_ms_per_job_local_n']} ms at {cpus}; "
              f"so at most {r['speedup_bound_local_n']}x on {cpus} cores")
    if "jobs_per_min_ray_n" in result:
        print(f"Ray, {cpus} CPUs        : {result['jobs_per_min_ray_n']:8.1f} jobs/min "
              f"(+{result['ray_overhead_ms_per_job']} ms/job over the pool; target <= 50)")
        print(f"Ray, cold            : {result['jobs_per_min_ray_n_cold']:8.1f} jobs/min "
              f"(ray.init {result['ray_start_s']} s included)")


if __name__ == "__main__":
    sys.exit(main())
