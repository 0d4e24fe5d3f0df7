"""runtime/journal.py in-process: what `tiss runs` shows of a run (summary),
whether a run's writer is alive, which folders list_runs returns, restoring
the state, outputs/, opening a run, appending and which fsyncs each mode
makes. The tests that drive `tiss` in a subprocess (test_durability.py,
test_resume_guard.py) cannot see a mutant; these can (bench/mutation.py)."""

from __future__ import annotations

import json
import os
import re
import stat
import subprocess
import sys

import pytest

from runtime import journal
from runtime.errors import RunError
from runtime.journal import INLINE_CAP, RunFolder, encode, list_runs, require_real_dir, writer, writer_alive
from runtime.sandbox.processes import process_tag
from runtime.state import State
from tests.model.test_fileio import fsync_log


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


# --- restore: the checkpoint plus every later delta --------------------------------


def test_restore_without_a_checkpoint_replays_every_delta_in_order(tmp_path):
    folder = run(tmp_path, ("statement", {"delta": [["vars", "a", 1], ["vars", "b", 2], ["vars", "c", 0]]}),
                 ("log", {"text": "no delta here"}),
                 ("statement", {"delta": [["vars", "a", 3], ["vars", "b"]]}))   # b deleted
    assert folder.restore().snapshot()["vars"] == {"a": 3, "c": 0}   # the first event (seq 1) too


def test_restore_applies_only_the_deltas_after_the_checkpoint(tmp_path):
    folder = RunFolder.create(tmp_path, "", fsync="never")
    folder.append("statement", delta=[["vars", "n", 1]])
    state = State()
    state.set("vars", "n", 10)          # what the checkpoint holds, not the journal
    folder.checkpoint(state, force=True)
    folder.append("statement", delta=[["vars", "m", 2]])
    folder.close()
    # The delta at the checkpoint's own seq is in it already: replaying it would undo n = 10.
    assert folder.restore().snapshot()["vars"] == {"n": 10, "m": 2}
    assert json.loads((folder.path / "checkpoint.json").read_text())["seq"] == 1


def test_restore_reads_large_values_back_from_outputs(tmp_path):
    big = "x" * (INLINE_CAP + 1)
    folder = RunFolder.create(tmp_path, "", fsync="never")
    state = State()
    state.set("vars", "cp", big + "c")
    folder.checkpoint(state, force=True)
    folder.append("statement", delta=[["vars", "later", big + "d"]])
    folder.close()
    assert folder.restore().snapshot()["vars"] == {"cp": big + "c", "later": big + "d"}


# --- outputs/: large strings kept outside the journal ---------------------------------


def test_a_large_output_round_trips_through_outputs(tmp_path):
    text = "é" * (INLINE_CAP + 1)   # over the cap, and not ASCII
    folder = RunFolder.create(tmp_path, "", fsync="never")
    folder.append("done", out=text, parts=["small", text], nested={"v": text})
    folder.close()
    (record,) = folder.records()
    (name,) = [p.name for p in (folder.path / "outputs").iterdir()]
    assert record["out"] == {"$file": f"outputs/{name}"} and len(name) == len("0" * 24 + ".txt")
    assert record["parts"] == ["small", {"$file": f"outputs/{name}"}]
    (event,) = folder.events()
    assert (event["out"], event["parts"], event["nested"]) == (text, ["small", text], {"v": text})


def test_a_string_at_the_cap_stays_inline_and_one_over_it_does_not(tmp_path):
    folder = RunFolder.create(tmp_path, "", fsync="never")
    # a line over the cap whose values are each below it: nothing to move out
    record = folder.append("done", a="b" * (INLINE_CAP // 2), c="d" * (INLINE_CAP // 2))
    assert not (folder.path / "outputs").exists()
    assert folder._externalize("a" * INLINE_CAP) == "a" * INLINE_CAP
    assert set(folder._externalize("a" * (INLINE_CAP + 1))) == {"$file"}
    folder.close()
    assert list(folder.events())[0]["a"] == record["a"]


def forged(tmp_path, value) -> RunFolder:
    folder = run(tmp_path)
    with open(folder.path / "events.jsonl", "a") as events:
        events.write(json.dumps({"seq": 1, "t": 0, "event": "done", "out": {"$file": value}}) + "\n")
    return folder


def test_a_name_outside_outputs_is_refused_with_where_and_what_to_do(tmp_path):
    folder = forged(tmp_path, "../x")
    with pytest.raises(RunError) as error:
        list(folder.events())
    assert error.value.message == (f"{folder.path / 'events.jsonl'}: refers to '../x', which is not a "
                                   "file of this run's outputs/ folder; the run folder was altered")
    assert error.value.hint == "this run cannot be read back; start the plan again"


@pytest.mark.parametrize("content, reason", [(None, "No such file or directory"),
                                             (b"\xff\xfe", "not UTF-8")])
def test_an_output_missing_or_not_utf8_is_one_clear_error(tmp_path, content, reason):
    name = "outputs/0123456789abcdef01234567.txt"
    folder = forged(tmp_path, name)
    (folder.path / "outputs").mkdir()
    if content is not None:
        (folder.path / name).write_bytes(content)
    with pytest.raises(RunError) as error:
        list(folder.events())
    assert error.value.message == (f"{folder.path / name}: cannot read this output of the run ({reason}); "
                                   f"it must be a regular file in {folder.path / 'outputs'}")
    assert error.value.hint == "the run folder was altered; start the plan again"


# --- opening a run ---------------------------------------------------------------------


@pytest.mark.parametrize("run_id", ["", "a/b", "missing", "RUN/../RUN"])
def test_opening_a_run_that_is_not_there_is_refused(tmp_path, run_id):
    folder = run(tmp_path, ("run_started", {"plan": "p"}))
    run_id = run_id.replace("RUN", folder.run_id)
    with pytest.raises(RunError) as error:
        RunFolder.open(tmp_path, run_id, fsync="never")
    assert error.value.message == f"no run {run_id!r} in {tmp_path / '.tiss' / 'runs'}"
    assert error.value.hint == "list the runs of this workspace with `tiss runs` (or pass --workspace)"


def test_a_folder_without_events_is_not_a_run(tmp_path):
    folder = RunFolder.create(tmp_path, "", fsync="never")   # no event yet
    with pytest.raises(RunError, match="no run"):
        RunFolder.open(tmp_path, folder.run_id, fsync="never")


def test_an_opened_run_continues_the_sequence_and_keeps_the_plan(tmp_path, monkeypatch):
    folder = run(tmp_path, ("a", {}), ("b", {}))
    assert folder.plan_source == "VAR a = 1\n"
    again = RunFolder.open(tmp_path, folder.run_id, fsync="never")
    assert (again.seq, again.fsync, again.plan_source) == (2, "never", "VAR a = 1\n")
    assert again.append("c")["seq"] == 3
    again.close()
    assert [r["seq"] for r in again.records()] == [1, 2, 3]
    monkeypatch.setattr(journal, "configured_fsync", lambda: "always")
    assert RunFolder.open(tmp_path, folder.run_id).fsync == "always"


def test_a_run_folder_with_only_a_cut_short_line_starts_at_seq_1(tmp_path):
    folder = RunFolder.create(tmp_path, "", fsync="never")
    (folder.path / "events.jsonl").write_text('{"seq": 1, "t"')
    again = RunFolder.open(tmp_path, folder.run_id, fsync="never")
    assert again.seq == 0 and again.append("first")["seq"] == 1


# --- appending ----------------------------------------------------------------------------


def test_appending_after_a_line_cut_short_seals_it_first(tmp_path):
    folder = RunFolder.create(tmp_path, "", fsync="never")
    events = folder.path / "events.jsonl"
    events.write_bytes(b'{"seq": 1, "t": 0, "event": "a"}\n{"seq": 2, "t"')
    folder.seq = 1
    folder.append("b")
    folder.close()
    lines = events.read_bytes().split(b"\n")
    assert lines[:2] == [b'{"seq": 1, "t": 0, "event": "a"}', b'{"seq": 2, "t"'] and lines[3] == b""
    assert [r["event"] for r in folder.records()] == ["a", "b"]   # the cut line is skipped, not the rest


def test_appending_after_a_complete_line_adds_no_blank_line(tmp_path):
    folder = run(tmp_path, ("a", {}))
    again = RunFolder.open(tmp_path, folder.run_id, fsync="never")
    again.append("b")
    again.close()
    assert (folder.path / "events.jsonl").read_bytes().count(b"\n\n") == 0
    assert len((folder.path / "events.jsonl").read_bytes().splitlines()) == 2


def test_the_journal_is_created_readable_by_all_and_writable_by_its_owner(tmp_path):
    old = os.umask(0o022)
    try:
        folder = run(tmp_path, ("a", {}))
    finally:
        os.umask(old)
    assert stat.S_IMODE((folder.path / "events.jsonl").stat().st_mode) == 0o644


def test_a_new_journal_name_is_made_durable_an_existing_one_needs_no_folder_fsync(tmp_path, monkeypatch):
    folder = RunFolder.create(tmp_path, "", fsync="step")
    synced = fsync_log(monkeypatch)
    folder.append("a")              # not a group commit: the file itself is not synced yet
    assert synced == [str(folder.path)]
    folder.close()
    assert synced == [str(folder.path), str(folder.path / "events.jsonl")]
    synced.clear()
    again = RunFolder.open(tmp_path, folder.run_id, fsync="step")
    again.append("b")
    again.close()
    assert synced == [str(folder.path / "events.jsonl")]


def test_durable_large_outputs_are_fsynced_and_never_mode_fsyncs_nothing(tmp_path, monkeypatch):
    synced = fsync_log(monkeypatch)
    quiet = RunFolder.create(tmp_path, "", fsync="never")
    quiet.append("done", out="q" * (INLINE_CAP + 1))
    quiet.close()
    assert synced == []
    durable = RunFolder.create(tmp_path, "", fsync="always")
    durable.append("started")           # the journal's own name is synced here, not below
    synced.clear()
    durable.append("done", out="d" * (INLINE_CAP + 1))
    outputs = durable.path / "outputs"
    assert str(durable.path) in synced                 # the new outputs/ name
    assert str(outputs) in synced                      # the new file's name
    assert any(p.startswith(str(outputs / ".")) for p in synced)   # its content, before the rename
    durable.close()


def test_a_checkpoint_is_written_at_most_every_half_second_unless_forced(tmp_path):
    folder = RunFolder.create(tmp_path, "", fsync="never")
    state = State()
    state.set("vars", "a", 1)
    folder.checkpoint(state)            # the first one is due at once
    saved = folder.path / "checkpoint.json"
    assert json.loads(saved.read_text())["state"]["vars"] == {"a": 1}
    state.set("vars", "a", 2)
    folder.checkpoint(state)            # right after the first: not yet
    assert json.loads(saved.read_text())["state"]["vars"] == {"a": 1}
    folder.checkpoint(state, force=True)
    assert json.loads(saved.read_text())["state"]["vars"] == {"a": 2}
    folder.close()


def test_a_new_folder_is_not_ahead_and_checks_its_fsync_mode(tmp_path):
    folder = RunFolder(tmp_path / "x")
    assert (folder.seq, folder.fsync, folder.run_id) == (0, "step", "x")
    folder.sync()                         # nothing written: nothing to do
    with pytest.raises(ValueError) as error:
        RunFolder(tmp_path / "x", fsync="sometimes")
    assert str(error.value) == "fsync must be one of ('always', 'step', 'never'), not 'sometimes'"


def test_close_twice_is_harmless(tmp_path):
    folder = run(tmp_path, ("a", {}))
    folder.close()
    assert folder._events is None


def test_a_workspace_is_created_with_its_parents(tmp_path):
    folder = RunFolder.create(tmp_path / "a" / "b", "", fsync="never")
    assert folder.path.parent == tmp_path / "a" / "b" / ".tiss" / "runs"
    assert re.fullmatch(r"\d{8}-\d{6}-[0-9a-f]{4}", folder.run_id)


def test_records_skip_every_bad_line_not_only_the_last(tmp_path):
    folder = RunFolder.create(tmp_path, "", fsync="never")
    (folder.path / "events.jsonl").write_text('{"seq": 1, "event": "é"}\nnot json\n{"seq": 2, "event": "b"}\n',
                                              encoding="utf-8")
    assert [r["event"] for r in folder.records()] == ["é", "b"]


def test_integers_beyond_64_bits_are_written_as_json_text(tmp_path):
    assert encode({"n": 2**70, "s": "é"}) == '{"n": 1180591620717411303424, "s": "é"}'.encode("utf-8")


# --- refusals of a run folder that is not ours ----------------------------------------


def test_the_refusals_of_require_real_dir_say_what_and_how_to_fix(tmp_path):
    with pytest.raises(RunError) as error:
        require_real_dir(tmp_path / "none")
    assert error.value.message == f"{tmp_path / 'none'} does not exist"
    (tmp_path / "link").symlink_to(tmp_path)
    with pytest.raises(RunError) as error:
        require_real_dir(tmp_path / "link")
    assert error.value.message == (f"{tmp_path / 'link'} is a symlink (to {tmp_path}); the run folder must "
                                   "be a real directory, so tiss refuses to write through it")
    (tmp_path / "theirs").mkdir()
    os.chown(tmp_path / "theirs", 12345, 12345)
    with pytest.raises(RunError) as error:
        require_real_dir(tmp_path / "theirs")
    assert error.value.message.endswith("; the run folder must be your own")
    assert error.value.hint == (f"use a workspace of your own, or remove it (rm {tmp_path / 'theirs'}) and "
                                "run again: tiss creates its run folder itself")


# --- summary and writer edge cases ---------------------------------------------------


def test_a_start_without_a_plan_name_shows_a_question_mark(tmp_path):
    folder = run(tmp_path, ("run_started", {**writer()}))
    assert folder.summary()["plan"] == "?"


def test_a_run_done_before_any_session_ends_the_run(tmp_path):
    folder = run(tmp_path, ("run_done", {"status": "failed"}))
    assert folder.summary()["status"] == "failed"


def test_a_resumed_session_is_running_again(tmp_path):
    folder = run(tmp_path, ("session_started", {"plan": "<repl>", "pid": dead_pid()}),
                 ("session_ended", {}), ("session_resumed", {**writer()}))
    assert folder.summary()["status"] == "running" and folder.summary()["ended"] is None


def test_writer_names_this_process_so_that_a_reused_pid_is_not_taken_for_it():
    assert writer() == {"pid": os.getpid(), "process": process_tag()}


def test_a_durable_run_folder_keeps_its_plan_across_a_power_cut(tmp_path, monkeypatch):
    synced = fsync_log(monkeypatch)
    folder = RunFolder.create(tmp_path, "VAR a = 1\n", fsync="step")
    runs = tmp_path / ".tiss" / "runs"
    plan_temp = [p for p in synced if os.path.basename(p).startswith(".plan.tiss.")]
    # the new run's name, then the plan's content under its temporary name, then its final name
    assert synced[-3:] == [str(runs), *plan_temp, str(folder.path)]
    assert folder.plan_source == "VAR a = 1\n"
