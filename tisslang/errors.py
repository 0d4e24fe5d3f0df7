"""Diagnostics: what went wrong, where, and how to fix it.

Every problem the toolchain reports (syntax errors, checker findings, run-time
errors that point into a plan) is a ``Diagnostic`` rendered the same way::

    plan.tiss:3:5: error: expected a quoted string after RUN
        RUN ls
            ^
    hint: quote the command: RUN "ls"
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Diagnostic:
    path: str
    line: int
    col: int
    message: str
    severity: str = "error"  # "error" | "warning"
    hint: str | None = None
    source_line: str | None = None

    def format(self) -> str:
        out = [f"{self.path}:{self.line}:{self.col}: {self.severity}: {self.message}"]
        if self.source_line is not None:
            shown = self.source_line.rstrip("\r\n").expandtabs(1)
            out.append("    " + shown)
            out.append("    " + " " * max(self.col - 1, 0) + "^")
        if self.hint:
            out.append(f"hint: {self.hint}")
        return "\n".join(out)

    def to_json(self) -> dict:
        return {
            "path": self.path, "line": self.line, "col": self.col,
            "severity": self.severity, "message": self.message, "hint": self.hint,
        }


class TissSyntaxError(Exception):
    """Raised by the parser; carries one or more diagnostics (several when
    recovery found more than one error)."""

    def __init__(self, diagnostics: list[Diagnostic]):
        self.diagnostics = list(diagnostics)
        super().__init__("\n".join(d.format() for d in self.diagnostics))

    @property
    def first(self) -> Diagnostic:
        return self.diagnostics[0]
