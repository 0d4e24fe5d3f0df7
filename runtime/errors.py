"""Everything that can stop a statement, as exceptions with a plan position.

``RunError`` and its subclasses are *step failures*: TRY and RETRY catch them.
``Stop`` and its subclasses end the whole run (budget, rejection, pause,
Ctrl-C) and are never caught by a plan.
"""

from __future__ import annotations


class RunError(Exception):
    """A statement failed. ``kind`` is what LAST_ERROR.KIND shows:
    ``error`` or ``assertion``."""

    kind = "error"

    def __init__(self, message: str, line: int = 0, hint: str | None = None):
        super().__init__(message)
        self.message = message
        self.line = line
        self.hint = hint

    def report(self) -> str:
        where = f"line {self.line}: " if self.line else ""
        text = f"{where}{self.message}"
        return f"{text}\nhint: {self.hint}" if self.hint else text


class AssertionFailed(RunError):
    kind = "assertion"


class ParallelFailed(RunError):
    """One or more PARALLEL children failed; ``failures`` keeps every one."""

    def __init__(self, failures: list[RunError], line: int = 0):
        self.failures = failures
        lines = [f"{len(failures)} of the PARALLEL children failed:"]
        lines += ["  - " + f.report().replace("\n", "\n    ") for f in failures]
        super().__init__("\n".join(lines), line)
        self.kind = failures[0].kind if len(failures) == 1 else "error"


class Stop(Exception):
    """Ends the run; not catchable by TRY/RETRY."""

    status = "failed"

    def __init__(self, message: str, line: int = 0, hint: str | None = None):
        super().__init__(message)
        self.message = message
        self.line = line
        self.hint = hint


class BudgetExceeded(Stop):
    status = "failed"


class Rejected(Stop):
    status = "rejected"


class Paused(Stop):
    status = "paused"


class Interrupted(Stop):
    status = "interrupted"
