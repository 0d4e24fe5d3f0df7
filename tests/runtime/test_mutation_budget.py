"""runtime/budget.py: limits, spending, their boundaries and their messages,
and EXECUTION_TIME carried across a resume (issue 10). The Budget works on a
real State, as the interpreter's does."""

from __future__ import annotations

import pytest

from runtime.budget import Budget
from runtime.errors import BudgetExceeded, RunError
from runtime.state import State


def budget(**budget_section) -> Budget:
    return Budget(State({"budget": budget_section}))


def test_spending_up_to_the_limit_is_allowed_and_recorded():
    b = budget()
    b.set_limit("RUN_COUNT", 2, line=3)
    b.charge("RUN_COUNT", 1)
    b.charge("RUN_COUNT", 1)   # exactly the limit: still allowed
    assert b.state.sections["budget"] == {"limit.RUN_COUNT": 2, "spent.RUN_COUNT": 2}
    assert b.remaining("RUN_COUNT") == 0
    assert b.spent("API_CALLS") == 0


def test_going_over_the_limit_stops_with_what_and_how_to_raise_it():
    b = budget(**{"limit.API_CALLS": 2, "spent.API_CALLS": 2})
    with pytest.raises(BudgetExceeded) as caught:
        b.charge("API_CALLS", 1, line=9)
    assert caught.value.message == "budget exceeded: API_CALLS would reach 3, the limit is 2"
    assert caught.value.line == 9
    assert caught.value.hint == "raise it with SET_BUDGET API_CALLS = …"
    assert b.spent("API_CALLS") == 2   # the refused charge is not recorded


def test_charging_without_a_limit_only_counts():
    b = budget()
    b.charge("TOKEN_COUNT", 40)
    b.charge("TOKEN_COUNT", 2)
    assert b.spent("TOKEN_COUNT") == 42


def test_ensure_left_stops_only_when_nothing_is_left():
    b = budget(**{"limit.TOKEN_COUNT": 10, "spent.TOKEN_COUNT": 9})
    b.ensure_left("TOKEN_COUNT")   # one left
    b.ensure_left("API_CALLS")     # no limit
    b.charge("TOKEN_COUNT", 1)
    with pytest.raises(BudgetExceeded) as caught:
        b.ensure_left("TOKEN_COUNT", line=4)
    assert caught.value.message == "budget exceeded: no TOKEN_COUNT left (limit 10)"
    assert (caught.value.line, caught.value.hint) == (4, "raise it with SET_BUDGET TOKEN_COUNT = …")


@pytest.mark.parametrize("key, value", [("RUN_COUNT", -1), ("RUN_COUNT", True), ("RUN_COUNT", "3")])
def test_a_limit_must_be_a_non_negative_number(key, value):
    b = budget()
    with pytest.raises(RunError) as caught:
        b.set_limit(key, value, line=5)
    assert caught.value.message == f"budget {key} must be a non-negative number, got {value!r}"
    assert caught.value.line == 5
    assert caught.value.hint == 'e.g. SET_BUDGET RUN_COUNT = 10 or SET_BUDGET EXECUTION_TIME = "5m"'
    assert b.limit(key) is None


def test_a_zero_limit_is_a_limit():
    b = budget()
    b.set_limit("RUN_COUNT", 0)
    assert b.remaining("RUN_COUNT") == 0
    with pytest.raises(BudgetExceeded):
        b.charge("RUN_COUNT", 1)


def test_unknown_budgets_are_named_with_the_known_ones():
    b = budget()
    with pytest.raises(RunError) as caught:
        b.set_limit("MONEY", 3, line=2)
    assert (caught.value.message, caught.value.line) == ("unknown budget 'MONEY'", 2)
    assert caught.value.hint == "budgets are: EXECUTION_TIME, API_CALLS, TOKEN_COUNT, RUN_COUNT"
    with pytest.raises(RunError) as caught:
        b.remaining("MONEY", line=6)
    assert (caught.value.message, caught.value.line) == ("unknown budget BUDGET.MONEY", 6)
    assert caught.value.hint == "budgets are: EXECUTION_TIME, API_CALLS, TOKEN_COUNT, RUN_COUNT"


def test_reading_a_budget_that_was_never_set_says_how_to_set_it():
    with pytest.raises(RunError) as caught:
        budget().remaining("RUN_COUNT", line=8)
    assert (caught.value.message, caught.value.line) == ("BUDGET.RUN_COUNT is not set", 8)
    assert caught.value.hint == "add SET_BUDGET RUN_COUNT = … before using it"


def test_execution_time_spent_before_a_resume_still_counts():
    b = budget(**{"limit.EXECUTION_TIME": 100, "elapsed": 30.0})
    assert 30.0 <= b.elapsed()
    assert b.remaining("EXECUTION_TIME") <= 70.0
    assert b.time_left() <= 70.0
    b.save_elapsed()
    assert b.state.sections["budget"]["elapsed"] >= 30.0


def test_time_spent_before_a_resume_can_exhaust_the_limit():
    b = budget(**{"limit.EXECUTION_TIME": 20, "elapsed": 30.0})
    assert b.time_left() == 0.0
    with pytest.raises(BudgetExceeded) as caught:
        b.check_time(line=12)
    assert caught.value.message.startswith("budget exceeded: EXECUTION_TIME 30.")
    assert caught.value.message.endswith("s of 20s")
    assert (caught.value.line, caught.value.hint) == (12, "raise it with SET_BUDGET EXECUTION_TIME = …")
    assert b.state.sections["budget"]["elapsed"] >= 30.0   # recorded before stopping


def test_time_is_not_checked_without_a_limit():
    b = budget(elapsed=5.0)
    b.check_time()
    assert b.time_left() is None
    assert "elapsed" in b.state.sections["budget"] and b.state.sections["budget"]["elapsed"] == 5.0


class Clock:
    """A time.monotonic the test moves by hand (only runtime.budget sees it)."""

    def __init__(self):
        self.now = 1000.0

    def monotonic(self):
        return self.now


@pytest.fixture
def clock(monkeypatch):
    import runtime.budget
    fake = Clock()
    monkeypatch.setattr(runtime.budget, "time", fake)
    return fake


def test_execution_time_counts_this_session_and_the_ones_before(clock):
    fresh = budget(**{"limit.EXECUTION_TIME": 10})
    assert fresh.remaining("EXECUTION_TIME") == 10   # nothing spent before
    resumed = budget(**{"limit.EXECUTION_TIME": 10, "elapsed": 2.5})
    clock.now += 1.2344
    assert fresh.elapsed() == pytest.approx(1.2344)
    assert resumed.remaining("EXECUTION_TIME") == 6.266   # 10 - 3.7344, to the millisecond
    assert resumed.time_left() == pytest.approx(6.2656)
    resumed.save_elapsed()
    assert resumed.state.sections["budget"]["elapsed"] == 3.734
    assert Budget(resumed.state).elapsed_before == 3.734   # what the next resume starts from


def test_execution_time_exactly_at_the_limit_is_not_over(clock):
    b = budget(**{"limit.EXECUTION_TIME": 5})
    clock.now += 5
    b.check_time()
    assert b.state.sections["budget"]["elapsed"] == 5
    clock.now += 0.1
    with pytest.raises(BudgetExceeded):
        b.check_time()
    assert b.state.sections["budget"]["elapsed"] == 5.1
    assert b.time_left() == 0.0


def test_errors_raised_without_a_line_have_none():
    b = budget(**{"limit.RUN_COUNT": 0})
    for call in (lambda: b.set_limit("X", 1), lambda: b.remaining("X"), lambda: b.remaining("API_CALLS"),
                 lambda: b.charge("RUN_COUNT", 1), lambda: b.ensure_left("RUN_COUNT")):
        with pytest.raises((RunError, BudgetExceeded)) as caught:
            call()
        assert caught.value.line == 0


def test_only_execution_time_is_rounded():
    b = budget(**{"limit.TOKEN_COUNT": 1})
    b.charge("TOKEN_COUNT", 0.0001)
    assert b.remaining("TOKEN_COUNT") == 1 - 0.0001


def test_check_time_records_milliseconds_and_has_no_line_unless_given(clock):
    b = budget(**{"limit.EXECUTION_TIME": 1})
    clock.now += 0.12345
    b.check_time()
    assert b.state.sections["budget"]["elapsed"] == 0.123
    clock.now += 5
    with pytest.raises(BudgetExceeded) as caught:
        b.check_time()
    assert caught.value.line == 0
