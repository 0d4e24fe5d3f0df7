"""``tiss batch SPEC``: many runs at once, on a local process pool (default)
or on a Ray cluster (``--ray``); ``tiss batch --resume ID`` finishes one.

Progress (done / failed / running, ETA) goes to the terminal while the jobs
run, then a summary table; with ``--json`` stdout gets one JSON object
(every job's result and the summary) and the rest goes to stderr. The exit
code is the batch's: 0 every job succeeded, 1 one failed (or was rejected,
invalid, or could not run), 75 none failed but some are paused, 130
interrupted, 2 a spec or usage error (nothing ran).
"""

from __future__ import annotations

import json
import os
import sys
import time
from pathlib import Path

from .review import POLICIES
from .run_cli import SANDBOXES, _sandbox, _usage_error

DEFAULT_OUT = Path(".tiss") / "batch"


def register(subparsers) -> None:
    batch = subparsers.add_parser("batch", help="run many plans at once, locally or on a Ray cluster")
    batch.add_argument("spec", nargs="?", help="a folder of .tiss plans, or a .jsonl file of jobs")
    where = batch.add_mutually_exclusive_group()
    where.add_argument("--workers", type=int, metavar="N",
                       help="local worker processes (default: the number of CPUs)")
    where.add_argument("--ray", metavar="ADDRESS", help="run the jobs as Ray tasks: local (a Ray instance "
                       "for this batch), auto (the running cluster), HOST:PORT or ray://HOST:PORT")
    batch.add_argument("--resume", metavar="BATCH_ID", help="finish an interrupted batch; finished jobs "
                       "are not run again")
    verdict = batch.add_mutually_exclusive_group()
    verdict.add_argument("--approve", action="store_const", const="approve", dest="verdict",
                         help="with --resume: approve every paused job")
    verdict.add_argument("--reject", action="store_const", const="reject", dest="verdict",
                         help="with --resume: reject every paused job")
    batch.add_argument("--out", default=str(DEFAULT_OUT), metavar="DIR",
                       help="where batches live: DIR/<batch-id>/<job-id>/ (default: .tiss/batch)")
    batch.add_argument("--sandbox", choices=SANDBOXES, help="for jobs that name none (default: your config, else auto)")
    batch.add_argument("--review", choices=[p for p in POLICIES if p != "ask"],
                       help="for jobs that name none: answer REQUEST_REVIEW/PAUSE (default: pause)")
    batch.add_argument("--retries", type=int, default=None, metavar="N",
                       help="times a job whose worker died is run again (default 2)")
    batch.add_argument("--json", action="store_true", help="print one JSON object on stdout")
    batch.set_defaults(func=cmd_batch)


def cmd_batch(args) -> int:
    from .batch import DEFAULT_RETRIES, BatchFolder, BatchInterrupted, SpecError, Task, load_spec, summarize
    try:
        _check_usage(args, SpecError)
        sandbox = _sandbox(args.sandbox)
        if args.resume:
            folder = BatchFolder.open(Path(args.out), args.resume)
            jobs = folder.todo(args.verdict)
        else:
            jobs = load_spec(Path(args.spec))
            folder = BatchFolder.create(Path(args.out), jobs)
    except Exception as exc:
        return _usage_error(exc, args.json)
    retries = DEFAULT_RETRIES if args.retries is None else args.retries
    tasks = [Task(job, folder.job_dir(job), args.verdict, sandbox, args.review or "pause") for job in jobs]
    workers = args.workers or os.cpu_count() or 1
    progress = Progress(folder, len(tasks), sys.stderr if args.json else sys.stdout)
    progress.say(f"batch {folder.batch_id}: {len(tasks)} job(s) to run of {len(folder.jobs)}, "
                 + (f"on Ray ({args.ray})" if args.ray else f"on {workers} local worker(s)") + f"; {folder.path}")
    started = time.monotonic()
    interrupted = False
    try:
        if args.ray:
            from .batch_ray import run_ray
            run_ray(args.ray, tasks, progress, retries)
        else:
            from .batch_pool import run_local
            run_local(tasks, workers, progress, retries)
    except BatchInterrupted:
        interrupted = True
    except Exception as exc:   # Ray missing or unreachable
        progress.close()
        return _usage_error(exc, args.json)
    progress.close()
    results = [folder.result(job) or _not_run(job, folder) for job in folder.jobs]
    summary = summarize(results, progress.done, time.monotonic() - started)
    if interrupted:
        summary["exit_code"] = 130
    _report(folder, results, summary, args.json, interrupted)
    return summary["exit_code"]


def _check_usage(args, error) -> None:
    if bool(args.spec) == bool(args.resume):
        raise error("give a SPEC (a folder of .tiss plans or a .jsonl file) or --resume BATCH_ID, not both",
                    hint="e.g. tiss batch plans/ or tiss batch --resume 20260101-120000-ab12")
    if args.verdict and not args.resume:
        raise error("--approve/--reject answer the paused jobs of a batch: use them with --resume BATCH_ID",
                    hint="tiss batch --resume BATCH_ID --approve")
    if args.workers is not None and args.workers < 1:
        raise error("--workers must be 1 or more", hint="e.g. --workers 4")
    if args.retries is not None and args.retries < 0:
        raise error("--retries must be 0 or more", hint="e.g. --retries 2")


def _not_run(job, folder) -> dict:
    return {"job": job.id, "status": "interrupted", "exit_code": 130, "run_id": None, "duration": 0.0,
            "error": "not run yet", "workspace": str(folder.job_dir(job) / "workspace"), "resume": None}


class Progress:
    """The executors' events: each result saved as it arrives, and shown as
    a rich progress bar on a terminal, else as one line per job."""

    def __init__(self, folder, total: int, stream):
        from rich.console import Console
        self.folder, self.total, self.stream = folder, total, stream
        self.done = self.failed = self.running = 0
        self.console = Console(file=stream, soft_wrap=True)
        self.bar = None
        if stream.isatty() and total:
            from rich.progress import BarColumn, Progress as Bar, TextColumn, TimeRemainingColumn
            self.bar = Bar(TextColumn("{task.description}"), BarColumn(), TimeRemainingColumn(),
                           console=self.console, transient=True)
            self.task_id = self.bar.add_task(self._line(), total=total)
            self.bar.start()

    def _line(self) -> str:
        return f"{self.done}/{self.total} done · {self.failed} failed · {self.running} running"

    def _update(self) -> None:
        if self.bar is not None:
            self.bar.update(self.task_id, completed=self.done, description=self._line())

    def say(self, text: str) -> None:
        self.console.print(text, markup=False, highlight=False)

    def started(self, task) -> None:
        self.running += 1
        self._update()

    def retried(self, task, why: str) -> None:
        self.running -= 1
        self.say(f"↻ {task.job.id}: {why}; running it again from its journal")
        self._update()

    def finished(self, task, result: dict) -> None:
        self.folder.save_result(task.job, result)
        self.running -= 1
        self.done += 1
        self.failed += result["status"] not in ("succeeded", "paused")
        mark = {"succeeded": "✓", "paused": "■"}.get(result["status"], "✗")
        self.say(f"{mark} {task.job.id} {result['status']} ({result['duration']:.1f}s) [{self._line()}]")
        self._update()

    def close(self) -> None:
        if self.bar is not None:
            self.bar.stop()
            self.bar = None


def _report(folder, results: list[dict], summary: dict, as_json: bool, interrupted: bool) -> None:
    if as_json:
        print(json.dumps({"batch_id": folder.batch_id, "folder": str(folder.path), "jobs": results,
                          "summary": summary}))
    from rich.console import Console
    from rich.table import Table
    console = Console(file=sys.stderr if as_json else sys.stdout, soft_wrap=True)
    table = Table("job", "status", "exit", "seconds", "run", title=f"batch {folder.batch_id}")
    for result in results:
        table.add_row(result["job"], result["status"], str(result["exit_code"]),
                      f"{result['duration']:.1f}", result.get("run_id") or "-")
    console.print(table)
    counts = ", ".join(f"{n} {status}" for status, n in sorted(summary["by_status"].items()))
    rate = f"; {summary['jobs_per_min']} jobs/min" if summary["jobs_per_min"] else ""
    console.print(f"{summary['jobs']} job(s): {counts}{rate}", markup=False, highlight=False)
    for result in results:
        if result["status"] != "succeeded" and result.get("error"):
            console.print(f"{result['job']}: {result['error']}", markup=False, highlight=False)
    paused = [r for r in results if r["status"] == "paused"]
    if paused:
        console.print(f"{len(paused)} job(s) paused; answer them all with: tiss batch --resume "
                      f"{folder.batch_id} --approve (or --reject)" + _out_flag(folder)
                      + ", or one at a time with the `tiss resume` command in their result.json",
                      markup=False, highlight=False)
    if interrupted or summary["by_status"].get("interrupted"):
        console.print(f"interrupted; nothing completed is lost. Finish with: tiss batch --resume "
                      f"{folder.batch_id}" + _out_flag(folder), markup=False, highlight=False)


def _out_flag(folder) -> str:
    return "" if folder.path.parent == (Path.cwd() / DEFAULT_OUT).resolve() else f" --out {folder.path.parent}"
