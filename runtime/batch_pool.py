"""The local process pool of ``tiss batch`` (the default executor).

Why not concurrent.futures: when one of its workers dies, ProcessPoolExecutor
breaks as a whole and kills the others' jobs too. Here each worker is watched
on its own (its pipe and its process sentinel), so a worker that dies costs
only its own job, which is run again on a fresh worker and resumes from its
journal (runtime/batch.py, ``run_job``).

Workers start warm: they are forked from multiprocessing's fork server, which
imports the modules a job needs once (``PRELOAD``), instead of each worker
starting a fresh interpreter and importing them again (about half a second
of CPU per worker, more than ten short jobs' worth). Each worker then takes
the driver's current environment and working directory, as a spawned
process would have, since the fork server may have started earlier.
"""

from __future__ import annotations

import contextlib
import multiprocessing
import os
import signal
import time
from collections import deque
from multiprocessing.connection import wait

from .batch import DEFAULT_RETRIES, EXIT_CODES, BatchInterrupted, Events, Task


# What every job imports (runtime/batch.py's run_job, a plan's session, its
# interpreter, the sandboxes, the tool registry); a goal's planner and model
# are left to the jobs that need them.
PRELOAD = ["runtime.batch", "runtime.session", "runtime.interpreter", "runtime.config", "runtime.trust",
           "runtime.tool_context", "tools.builtin", "tisslang.checker",
           "runtime.sandbox.host", "runtime.sandbox.bwrap", "runtime.sandbox.docker"]


def pool_context():
    """Fork-server workers where the platform has them, else spawned ones."""
    if "forkserver" not in multiprocessing.get_all_start_methods():
        return multiprocessing.get_context("spawn")
    context = multiprocessing.get_context("forkserver")
    context.set_forkserver_preload(PRELOAD)
    return context


class _Worker:
    def __init__(self, context):
        self.conn, child = context.Pipe()
        self.process = context.Process(target=_worker_main, args=(child, dict(os.environ), os.getcwd()),
                                       daemon=True)
        self.process.start()
        child.close()
        self.task: Task | None = None


def _worker_main(conn, environ: dict, cwd: str) -> None:
    """A pool worker: run the tasks it is sent until told to stop. Ctrl-C at
    the terminal is the driver's to handle; the driver's SIGTERM interrupts
    the job in hand, which then journals itself as interrupted."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGTERM, _interrupt)
    os.environ.clear()
    os.environ.update(environ)
    os.chdir(cwd)
    try:
        while (task := conn.recv()) is not None:
            conn.send(task.run())
    except (EOFError, KeyboardInterrupt):
        pass


def _interrupt(signum, frame):
    raise KeyboardInterrupt


def run_local(tasks: list[Task], workers: int, events: Events, retries: int = DEFAULT_RETRIES) -> list[dict]:
    """Run ``tasks`` on ``workers`` processes; a task whose worker dies runs
    again (resuming from its journal) up to ``retries`` times."""
    context = pool_context()
    pending, idle, busy, results = deque(tasks), [], [], []
    unreported: list[tuple[Task, dict]] = []   # ended, not yet given to ``events``
    try:
        _hand_out(pending, idle, busy, workers, context, events)
        while busy:
            ready = wait([w.conn for w in busy] + [w.process.sentinel for w in busy])
            for worker in [w for w in busy if w.conn in ready or w.process.sentinel in ready]:
                busy.remove(worker)
                ended = _ended(worker, retries, pending, idle, events)
                if ended is not None:
                    results.append(ended[1])
                    unreported.append(ended)
            # idle workers get their next job before the driver saves and
            # shows what ended, so no worker waits on the driver's writes
            _hand_out(pending, idle, busy, workers, context, events)
            _report(unreported, events)
    except KeyboardInterrupt:
        _report(unreported, events)
        results += _interrupt_all(busy, events)
        raise BatchInterrupted(results) from None
    finally:
        for worker in idle + busy:
            _discard(worker, polite=True)
    return results


def _hand_out(pending: deque, idle: list, busy: list, workers: int, context, events: Events) -> None:
    """Give pending tasks to idle workers (or new ones) up to ``workers`` busy."""
    while pending and len(busy) < workers:
        worker = idle.pop() if idle else _Worker(context)
        worker.task = pending.popleft()
        worker.task.attempts += 1
        worker.conn.send(worker.task)
        busy.append(worker)
        events.started(worker.task)


def _ended(worker: _Worker, retries: int, pending: deque, idle: list, events: Events) -> tuple[Task, dict] | None:
    """A busy worker that is ready: its task and result, or None when its
    worker died and the task goes back to ``pending`` to run again."""
    result = _received(worker)
    if result is not None:
        idle.append(worker)
        return worker.task, result
    _discard(worker)
    task = worker.task
    if task.attempts <= retries:
        events.retried(task, f"worker {worker.process.pid} died ({_death(worker)})")
        pending.appendleft(task)
        return None
    return task, _died(task, worker)


def _report(unreported: list[tuple[Task, dict]], events: Events) -> None:
    # each is taken off before it is reported: a Ctrl-C in the middle of a
    # report, reported again from the interrupt's handler, reports none twice
    while unreported:
        events.finished(*unreported.pop(0))


def _received(worker: _Worker) -> dict | None:
    try:
        if worker.conn.poll():
            return worker.conn.recv()
    except (EOFError, OSError):
        pass
    return None


def _interrupt_all(busy: list[_Worker], events: Events, seconds: float = 15) -> list[dict]:
    """SIGTERM each busy worker (its job journals itself as interrupted) and
    collect what they say within ``seconds``."""
    for worker in busy:
        with contextlib.suppress(ProcessLookupError):
            os.kill(worker.process.pid, signal.SIGTERM)
    results, deadline = [], time.monotonic() + seconds
    for worker in busy:
        if worker.conn.poll(max(0.0, deadline - time.monotonic())):
            result = _received(worker)
            if result is not None:
                results.append(result)
                events.finished(worker.task, result)
    return results


def _discard(worker: _Worker, polite: bool = False) -> None:
    if polite and worker.process.is_alive():
        with contextlib.suppress(OSError, ValueError):
            worker.conn.send(None)
        worker.process.join(5)
    if worker.process.is_alive():
        worker.process.kill()
    worker.process.join()
    worker.conn.close()


def _death(worker: _Worker) -> str:
    code = worker.process.exitcode
    if code is not None and code < 0:
        return f"signal {signal.Signals(-code).name}"
    return f"exit status {code}"


def _died(task: Task, worker: _Worker) -> dict:
    return {"job": task.job.id, "status": "died", "exit_code": EXIT_CODES["died"], "run_id": None,
            "error": f"its worker died {task.attempts} times (last: {_death(worker)}); "
                     f"tiss batch --resume resumes it from its journal",
            "duration": 0.0, "workspace": str(task.job_dir / "workspace"), "resume": None}
