"""Reading a plan's text: one place says why a file cannot be a plan.

``tiss check``/``fmt``/``parse`` and ``tiss run`` (through
``runtime.session.load_plan``) all read plans here, so each gives the same
clear reason for a missing, binary or unreadable file instead of a traceback.
"""

from __future__ import annotations

import sys
from pathlib import Path

from .heredoc import normalise_newlines


class UnreadableSource(Exception):
    """``reason`` is a short phrase, e.g. ``not UTF-8 text (byte 24)``."""

    def __init__(self, name: str, reason: str):
        super().__init__(f"{name}: {reason}")
        self.name, self.reason = name, reason


def read_source(name: str | Path) -> str:
    """The text of plan file ``name`` as UTF-8; the string ``"-"`` (as the
    command line gives it, not a Path) reads standard input."""
    try:
        if isinstance(name, str) and name == "-":
            return _decode(sys.stdin.buffer.read() if hasattr(sys.stdin, "buffer") else sys.stdin.read())
        return _decode(Path(name).read_bytes())
    except UnicodeDecodeError as exc:
        raise UnreadableSource(str(name), f"not UTF-8 text (byte {exc.start})") from None
    except FileNotFoundError:
        raise UnreadableSource(str(name), "no such file") from None
    except IsADirectoryError:
        raise UnreadableSource(str(name), "is a directory, not a .tiss file") from None
    except OSError as exc:
        raise UnreadableSource(str(name), f"cannot read: {exc.strerror}") from None


def _decode(data: bytes | str) -> str:
    """Strict UTF-8 (a plan that is not UTF-8 is refused, never guessed at),
    line ends as a text-mode read gives them."""
    return normalise_newlines(data if isinstance(data, str) else data.decode("utf-8"))
