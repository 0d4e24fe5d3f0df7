"""runtime/state.py: what the journal records of a change (take_delta) and
how resume replays it (apply_delta), per thread; the per-branch names."""

from __future__ import annotations

import threading

from runtime.state import State, branch_name


def test_a_delta_holds_each_change_once_and_is_then_cleared():
    s = State({"vars": {"old": 1}})
    s.set("vars", "x", 1)
    s.set("vars", "x", 2)
    s.delete("vars", "old")
    s.delete("vars", "never-there")   # nothing to record
    assert s.take_delta() == [["vars", "x", 2], ["vars", "old"]]
    assert s.take_delta() == []


def test_replaying_a_delta_rebuilds_the_state():
    s = State({"steps": {"gone": {"status": "done"}}})
    s.set("vars", "name", "v")
    s.set("progress", "a", 3)
    s.delete("steps", "gone")
    replayed = State({"steps": {"gone": {"status": "done"}}})
    replayed.apply_delta(s.take_delta())
    assert replayed.snapshot() == s.snapshot()
    assert replayed.sections["steps"] == {}
    replayed.apply_delta([["vars", "missing"]])   # deleting twice is harmless
    assert replayed.vars == {"name": "v"}


def test_delete_prefix_forgets_only_the_inner_entries():
    s = State({"decisions": {"1.2": "a", "1.2.3": "b", "1.3": "c"}})
    s.delete_prefix("decisions", "1.2")
    assert s.sections["decisions"] == {"1.3": "c"}
    assert sorted(s.take_delta()) == [["decisions", "1.2"], ["decisions", "1.2.3"]]


def test_a_snapshot_is_a_copy():
    s = State({"vars": {"a": 1}})
    snap = s.snapshot()
    s.set("vars", "a", 2)
    assert snap["vars"] == {"a": 1}
    assert set(snap) == {"vars", "progress", "decisions", "steps", "budget"}


def test_each_thread_records_only_its_own_changes():
    s = State()
    seen = {}

    def branch():
        s.set("vars", "in_branch", 1)
        seen["branch"] = s.take_delta()

    s.set("vars", "in_main", 1)
    t = threading.Thread(target=branch)
    t.start()
    t.join()
    assert seen["branch"] == [["vars", "in_branch", 1]]
    assert s.take_delta() == [["vars", "in_main", 1]]


def test_per_branch_variables_are_hidden_from_the_plan_view():
    s = State({"vars": {"x": 1, "LAST_RUN@b1": {}, "LAST_RUN": {}}})
    assert s.user_variables() == {"x": 1, "LAST_RUN": {}}


def test_only_the_last_something_variables_belong_to_a_branch():
    assert branch_name("LAST_RUN", "b1") == "LAST_RUN@b1"
    assert branch_name("LAST_ERROR", "b2") == "LAST_ERROR@b2"
    assert branch_name("x", "b1") == "x"
    assert branch_name("LAST_RUN", "") == "LAST_RUN"
