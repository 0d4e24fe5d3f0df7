"""runtime/journal.py in-process: what `tiss runs` shows of a run (summary),
whether a run's writer is alive, and which folders list_runs returns. The
tests that drive `tiss` in a subprocess cannot see a mutant; these can."""

from __future__ import annotations

import os
import subprocess
import sys

from runtime.journal import RunFolder, list_runs, writer, writer_alive


def dead_pid() -> int:
    child = subprocess.Popen([sys.executable, "-c", "pass"])
    child.wait()
    return child.pid


def run(tmp_path, *events) -> RunFolder:
    folder = RunFolder.create(tmp_path, 'VAR a = 1\n', fsync="never")
    for event, fields in events:
        folder.append(event, fields)
    folder.close()
    return folder


def test_a_finished_run_shows_its_plan_status_and_times(tmp_path):
    folder = run(tmp_path, ("run_started", {"plan": "p.tiss", **writer()}),
                 ("run_done", {"status": "succeeded"}))
    records = list(folder.records())
    info = folder.summary()
    assert info == {"run_id": folder.run_id, "status": "succeeded", "plan": "p.tiss",
                    "started": records[0]["t"], "ended": records[1]["t"]}


def test_a_run_whose_writer_is_alive_is_running_and_a_dead_one_crashed(tmp_path):
    assert run(tmp_path, ("run_started", {"plan": "p", **writer()})).summary()["status"] == "running"
    dead = run(tmp_path, ("run_started", {"plan": "p", "pid": dead_pid()}))
    assert dead.summary()["status"] == "crashed"
    empty = run(tmp_path)   # crashed before its first event
    assert empty.summary() == {"run_id": empty.run_id, "status": "crashed", "plan": "?",
                               "started": None, "ended": None}


def test_a_resumed_run_is_running_again_until_it_ends(tmp_path):
    folder = run(tmp_path, ("run_started", {"plan": "p", "pid": dead_pid()}),
                 ("run_done", {"status": "paused"}), ("run_resumed", {**writer()}))
    info = folder.summary()
    assert (info["status"], info["ended"]) == ("running", None)
    first = list(folder.records())[0]["t"]
    assert info["started"] == first   # the start is the first one, not the resume


def test_a_session_stays_running_across_its_entries_until_it_ends(tmp_path):
    folder = run(tmp_path, ("session_started", {"plan": "<repl>", **writer()}),
                 ("run_done", {"status": "failed"}))
    assert folder.summary()["status"] == "running"
    folder = run(tmp_path, ("session_started", {"plan": "<repl>", **writer()}),
                 ("run_done", {"status": "succeeded"}), ("session_ended", {}))
    info = folder.summary()
    assert info["status"] == "ended" and info["ended"] == list(folder.records())[-1]["t"]


def test_writer_alive():
    assert writer_alive(None) is False
    assert writer_alive({"pid": 0}) is False
    assert writer_alive({"plan": "p"}) is False
    assert writer_alive(writer()) is True
    assert writer_alive({"pid": os.getpid()}) is True       # an older journal: pid only
    assert writer_alive({"pid": dead_pid()}) is False
    assert writer_alive({"pid": 1}) is True                 # alive, even if not ours to signal
    assert writer_alive({"pid": os.getpid(), "process": "another start time"}) is False


def test_list_runs(tmp_path):
    assert list_runs(tmp_path) == []
    first = run(tmp_path, ("run_started", {"plan": "a"}))
    second = run(tmp_path, ("run_started", {"plan": "b"}))
    (first.path.parent / "not-a-run").mkdir()
    assert [f.run_id for f in list_runs(tmp_path)] == sorted([first.run_id, second.run_id])
