"""A batch's jobs as Ray tasks (``tiss batch --ray ADDRESS``); Ray is the
optional extra ``quanta-tissu[ray]`` and is imported only here.

The node that runs a job may be another machine, so nothing assumes a shared
file system: the task gets the job's folder as a tar (empty for a new job),
runs it in a folder of its node (``$TISS_BATCH_NODE_DIR``, default
``~/.cache/tiss/batch-nodes/<batch-id>/<job-id>``), and returns the folder as
a tar that the driver unpacks into ``<batch>/<job-id>/``. A worker killed
mid-job is retried by Ray (``max_retries``); on the same node the retry
finds the folder the dead attempt left, so ``run_job`` resumes the run from
its journal and no completed RUN repeats (on another node it starts from
the folder the driver sent).
"""

from __future__ import annotations

import contextlib
import io
import os
import shutil
import socket
import sys
import tarfile
import tempfile
from pathlib import Path

from .batch import EXIT_CODES, BatchInterrupted, Events, Task, resume_hint
from .errors import RunError

# Ray reads these at start: no usage reports from an offline machine, and no
# token file for a Ray instance that this command starts for itself.
LOCAL_ENV = {"RAY_USAGE_STATS_ENABLED": "0", "RAY_AUTH_MODE": "disabled"}
NODE_DIR_ENV = "TISS_BATCH_NODE_DIR"


def import_ray():
    try:
        import ray
    except ImportError:
        raise RunError("--ray needs Ray, which is not installed",
                       hint="pip install 'quanta-tissu[ray]' (or run without --ray: a local process pool)") from None
    return ray


def run_ray(address: str, tasks: list[Task], events: Events, retries: int, cpus: int | None = None) -> list[dict]:
    """Run ``tasks`` on the Ray cluster at ``address`` (``local`` starts one on
    this machine for the batch and stops it after) and bring each job's folder back."""
    ray = import_ray()
    # Ray's driver prints what its nodes report (a worker that died …) on
    # stdout, which belongs to --json: send it to stderr
    with contextlib.redirect_stdout(sys.stderr):
        return _run(ray, address, tasks, events, retries, cpus)


def _run(ray, address: str, tasks: list[Task], events: Events, retries: int, cpus: int | None) -> list[dict]:
    temp = connect(ray, address, cpus)
    try:
        return run_tasks(ray, tasks, events, retries)
    finally:
        ray.shutdown()
        if temp:
            shutil.rmtree(temp, ignore_errors=True)


def run_tasks(ray, tasks: list[Task], events: Events, retries: int) -> list[dict]:
    """Submit every task to the connected cluster and collect them as they end."""
    refs: dict = {}
    results: list[dict] = []
    try:
        remote = ray.remote(_ray_job).options(max_retries=retries, num_cpus=1, retry_exceptions=False)
        for task in tasks:
            refs[remote.remote(task, pack(task.job_dir))] = task
            events.started(task)
        while refs:
            (ref,), _ = ray.wait(list(refs), num_returns=1)
            task = refs.pop(ref)
            results.append(_collect(ray, ref, task))
            events.finished(task, results[-1])
    except KeyboardInterrupt:
        for ref in refs:
            ray.cancel(ref, force=True)
        raise BatchInterrupted(results) from None
    return results


def connect(ray, address: str, cpus: int | None) -> str | None:
    """ray.init for ``address``; returns the temp dir of a local instance."""
    os.environ.setdefault("RAY_USAGE_STATS_ENABLED", "0")
    temp = None
    try:
        if address == "local":
            for key, value in LOCAL_ENV.items():
                os.environ.setdefault(key, value)
            # short: Ray's socket paths must fit in 107 bytes
            temp = tempfile.mkdtemp(prefix="tiss-ray-", dir="/tmp")
            ray.init(address="local", num_cpus=cpus, include_dashboard=False, _temp_dir=temp,
                     logging_level="ERROR", log_to_driver=False)
        else:
            ray.init(address=address, logging_level="ERROR", log_to_driver=False)
    except Exception as exc:
        if temp:
            shutil.rmtree(temp, ignore_errors=True)
        raise RunError(f"cannot reach the Ray cluster {address!r}: {type(exc).__name__}: {exc}",
                       hint="start one (ray start --head) and give its address (HOST:PORT, ray://HOST:10001 "
                            "or auto), or use --ray local") from None
    return temp


def _collect(ray, ref, task: Task) -> dict:
    """The job's result with its folder unpacked here, or why Ray gave up."""
    try:
        result, payload = ray.get(ref)
    except ray.exceptions.RayError as exc:
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        return {"job": task.job.id, "status": "died", "exit_code": EXIT_CODES["died"], "run_id": None,
                "error": f"Ray gave up on the job: {type(exc).__name__}: {first}; "
                         "tiss batch --resume runs it again", "duration": 0.0,
                "workspace": str(task.job_dir / "workspace"), "resume": None}
    unpack(payload, task.job_dir)
    workspace = task.job_dir / "workspace"
    return {**result, "workspace": str(workspace), "resume": resume_hint(result, workspace)}


def _ray_job(task: Task, payload: bytes) -> tuple[dict, bytes]:
    """On the node: run (or resume) the job in a folder of the node's own."""
    batch_id = task.job_dir.parent.name
    root = Path(os.environ.get(NODE_DIR_ENV) or Path.home() / ".cache" / "tiss" / "batch-nodes")
    here = root / batch_id / task.job.id
    if not here.exists():   # a first attempt on this node: start from the driver's copy
        root.joinpath(batch_id).mkdir(parents=True, exist_ok=True)
        staging = Path(tempfile.mkdtemp(dir=here.parent, prefix=f".{task.job.id}-"))
        unpack(payload, staging)
        staging.rename(here)
    result = Task(task.job, here, task.verdict, task.sandbox, task.review).run()
    result["node"] = socket.gethostname()
    data = pack(here)
    shutil.rmtree(here, ignore_errors=True)
    with contextlib.suppress(OSError):
        here.parent.rmdir()   # the batch's last job on this node
    return result, data


# --- job folders as bytes ---------------------------------------------------------------


def pack(folder: Path) -> bytes:
    """``folder`` (without result.json, which the driver writes) as a tar."""
    out = io.BytesIO()
    with tarfile.open(fileobj=out, mode="w:gz", compresslevel=1) as tar:
        if folder.is_dir():
            for entry in sorted(folder.iterdir()):
                if entry.name != "result.json":
                    tar.add(entry, arcname=entry.name)
    return out.getvalue()


def unpack(data: bytes, folder: Path) -> None:
    """Replace what ``folder`` holds by the tar's entries. Entries that could
    land outside it (absolute names, ``..``, links that lead out, devices)
    are left out, as tarfile's ``data`` filter says."""
    folder.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(dir=folder, prefix=".incoming-"))
    try:
        with tarfile.open(fileobj=io.BytesIO(data), mode="r:gz") as tar:
            tar.extractall(staging, filter=_inside)
        for entry in staging.iterdir():
            target = folder / entry.name
            if target.is_dir() and not target.is_symlink():
                shutil.rmtree(target)
            elif target.exists() or target.is_symlink():
                target.unlink()
            entry.rename(target)
    finally:
        shutil.rmtree(staging, ignore_errors=True)


def _inside(member, path):
    try:
        return tarfile.data_filter(member, path)
    except tarfile.FilterError:
        return None
