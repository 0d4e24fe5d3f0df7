"""The one error type of the tool layer."""

from __future__ import annotations


class ToolError(Exception):
    """A tool refused its arguments, failed, or could not be registered.
    ``message`` says what and where, ``hint`` how to fix it; the runtime
    turns it into a step failure at the CALL's line, the CLI into one line."""

    def __init__(self, message: str, hint: str | None = None):
        super().__init__(message)
        self.message, self.hint = message, hint

    def __str__(self) -> str:
        return self.message
