"""`tiss resume` refuses a run whose process still runs, and accepts one
whose recorded pid now names another process (the run crashed)."""

from __future__ import annotations

import os
import signal
import subprocess

import pytest

from runtime.journal import list_runs

from .test_durability import LONG, TISS, counts, kill_leftover, resume, start, wait_for

PLAN = f'RUN "echo x >> count_before"\nRUN "{LONG}"\nRUN "echo x >> count_after"\n'


def the_run(workspace):
    (folder,) = list_runs(workspace)
    return folder


def test_a_run_that_is_still_running_is_not_resumed(tmp_path):
    running = start(tmp_path, PLAN)
    try:
        wait_for(tmp_path / "long.pid")
        folder = the_run(tmp_path)
        refused = resume(tmp_path, folder.run_id)
        assert refused.returncode == 2
        assert f"run {folder.run_id} is still running" in refused.stderr
    finally:
        running.send_signal(signal.SIGKILL)
        running.wait()
        kill_leftover(tmp_path)
    assert counts(tmp_path) == {"count_before": 1, "count_long": 1}   # the refusal ran nothing
    finished = resume(tmp_path, folder.run_id)     # now it crashed: resume goes on
    assert finished.returncode == 0, finished.stderr
    assert counts(tmp_path) == {"count_after": 1, "count_before": 1, "count_long": 2}


@pytest.mark.skipif(os.getuid() != 0, reason="a pid namespace needs root here")
def test_a_run_whose_pid_now_names_another_process_counts_as_crashed(tmp_path):
    """Started in its own pid namespace (as in a container sharing the
    workspace), tiss records pid 1, which on this side is another process."""
    (tmp_path / "plan.tiss").write_text(PLAN)
    namespace = subprocess.Popen(
        ["unshare", "--pid", "--fork", "--mount-proc", "--kill-child",
         *TISS, "run", "plan.tiss", "--sandbox", "host"],
        cwd=tmp_path, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        wait_for(tmp_path / "long.pid")
    finally:
        namespace.send_signal(signal.SIGKILL)   # tiss dies with it, and its namespace
        namespace.wait()
    folder = the_run(tmp_path)
    started = next(e for e in folder.events() if e["event"] == "run_started")
    os.kill(started["pid"], 0)   # the recorded pid exists here: it is another process
    assert folder.summary()["status"] == "crashed"
    finished = resume(tmp_path, folder.run_id)
    assert finished.returncode == 0, finished.stderr
    assert counts(tmp_path) == {"count_after": 1, "count_before": 1, "count_long": 2}
