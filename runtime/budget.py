"""SET_BUDGET: limits for a task, enforced as the run goes.

``EXECUTION_TIME`` (seconds of run time, summed over resumed sessions),
``API_CALLS`` (PROMPT_AGENT and CALL), ``TOKEN_COUNT`` (generated tokens) and
``RUN_COUNT``. Limits and spending live in the state's ``budget`` section, so
a resumed run keeps what it had already spent. ``BUDGET.KEY`` is what is left.
"""

from __future__ import annotations

import time

from tisslang.keywords import BUDGET_KEYS

from .errors import BudgetExceeded, RunError

KEYS = BUDGET_KEYS


class Budget:
    def __init__(self, state):
        self.state = state
        self.started = time.monotonic()
        self.elapsed_before = state.sections["budget"].get("elapsed", 0.0)

    def limit(self, key: str):
        return self.state.sections["budget"].get("limit." + key)

    def spent(self, key: str) -> float:
        if key == "EXECUTION_TIME":
            return self.elapsed()
        return self.state.sections["budget"].get("spent." + key, 0)

    def elapsed(self) -> float:
        return self.elapsed_before + time.monotonic() - self.started

    def set_limit(self, key: str, value, line: int = 0) -> None:
        if key not in KEYS:
            raise RunError(f"unknown budget {key!r}", line, hint="budgets are: " + ", ".join(KEYS))
        if isinstance(value, bool) or not isinstance(value, (int, float)) or value < 0:
            raise RunError(f"budget {key} must be a non-negative number, got {value!r}", line,
                           hint='e.g. SET_BUDGET RUN_COUNT = 10 or SET_BUDGET EXECUTION_TIME = "5m"')
        self.state.set("budget", "limit." + key, value)

    def remaining(self, key: str, line: int = 0):
        if key not in KEYS:
            raise RunError(f"unknown budget BUDGET.{key}", line, hint="budgets are: " + ", ".join(KEYS))
        limit = self.limit(key)
        if limit is None:
            raise RunError(f"BUDGET.{key} is not set", line, hint=f"add SET_BUDGET {key} = … before using it")
        left = limit - self.spent(key)
        return round(left, 3) if key == "EXECUTION_TIME" else left

    def charge(self, key: str, amount: float, line: int = 0) -> None:
        """Spend ``amount``; stop the task if that goes over the limit."""
        with self.state.lock:   # PARALLEL branches spend from the same budget
            spent = self.spent(key) + amount
            limit = self.limit(key)
            if limit is not None and spent > limit:
                raise BudgetExceeded(f"budget exceeded: {key} would reach {spent:g}, the limit is {limit:g}",
                                     line, hint=f"raise it with SET_BUDGET {key} = …")
            self.state.set("budget", "spent." + key, spent)

    def ensure_left(self, key: str, line: int = 0) -> None:
        """Stop before starting something whose cost is only known after
        (a prompt's tokens) when nothing is left."""
        limit = self.limit(key)
        if limit is not None and self.spent(key) >= limit:
            raise BudgetExceeded(f"budget exceeded: no {key} left (limit {limit:g})", line,
                                 hint=f"raise it with SET_BUDGET {key} = …")

    def check_time(self, line: int = 0) -> None:
        limit = self.limit("EXECUTION_TIME")
        if limit is None:
            return
        elapsed = self.elapsed()
        self.state.set("budget", "elapsed", round(elapsed, 3))
        if elapsed > limit:
            raise BudgetExceeded(f"budget exceeded: EXECUTION_TIME {elapsed:.1f}s of {limit:g}s", line,
                                 hint="raise it with SET_BUDGET EXECUTION_TIME = …")

    def time_left(self) -> float | None:
        limit = self.limit("EXECUTION_TIME")
        return None if limit is None else max(limit - self.elapsed(), 0.0)

    def save_elapsed(self) -> None:
        self.state.set("budget", "elapsed", round(self.elapsed(), 3))
