"""Human review for REQUEST_REVIEW, PAUSE and ``--choose ask``.

A reviewer is any callable ``reviewer(request) -> Answer``; the CLI builds
one from a policy name, the REPL can pass its own that asks in its UI.

Policies: ``ask`` (a prompt on the terminal), ``approve``, ``reject``,
``pause`` (checkpoint, print how to resume, exit 75), and for a journaled run
``ui`` (wait for an answer given in ``tiss ui``, runtime/ui_review.py). The default is ``ask``
when stdin is a terminal, ``pause`` otherwise.
"""

from __future__ import annotations

import sys
from dataclasses import dataclass
from typing import Callable

POLICIES = ("ask", "approve", "reject", "pause")
# A run can also wait for an answer from the browser (``tiss ui``): it needs
# the run folder, so only ``tiss run``/``tiss resume`` offer it.
RUN_POLICIES = POLICIES + ("ui",)


@dataclass(frozen=True)
class Request:
    kind: str           # "review" | "pause" | "choose"
    message: str
    line: int = 0
    options: tuple[str, ...] = ()   # for "choose"
    key: str = ""       # the statement's key in the journal (review_asked's)


@dataclass(frozen=True)
class Answer:
    verdict: str        # "approve" | "reject" | "pause"; for "choose": "approve"
    comment: str = ""
    choice: int | None = None   # for "choose": index into options


Reviewer = Callable[[Request], Answer]


def default_policy() -> str:
    return "ask" if sys.stdin.isatty() else "pause"


def make_reviewer(policy: str | Reviewer | None, folder=None) -> Reviewer:
    """``folder`` (the run's RunFolder) is needed by the ``ui`` policy only."""
    if callable(policy):
        return policy
    policy = policy or default_policy()
    if policy == "ui" and folder is not None:
        from .ui_review import BrowserReviewer
        return BrowserReviewer(folder.path)
    if policy == "ask":
        return ask_on_terminal
    if policy in ("approve", "reject", "pause"):
        return lambda request: Answer(policy, f"--review {policy}", 0 if request.kind == "choose" else None)
    raise ValueError(f"unknown review policy {policy!r}; use one of {', '.join(POLICIES)}")


def _read(prompt: str) -> str:
    sys.stderr.write(prompt)
    sys.stderr.flush()
    line = sys.stdin.readline()
    if not line:
        return "pause"    # stdin closed: nobody can answer now
    return line


def _write(text: str) -> None:
    print(text, file=sys.stderr)


def ask_on_terminal(request: Request, read=_read, write=_write) -> Answer:
    """Ask at the terminal (on stderr, so --json keeps stdout clean) until
    the answer is understood."""
    if request.kind == "choose":
        write(f"\n? {request.message}")
        for number, option in enumerate(request.options, 1):
            write(f"  {number}) {option}")
        while True:
            text = read(f"choose 1-{len(request.options)}: ").strip()
            if text.isdigit() and 1 <= int(text) <= len(request.options):
                return Answer("approve", "chosen by the user", int(text) - 1)
    label = "REVIEW" if request.kind == "review" else "PAUSED"
    write(f"\n? {label} (line {request.line}): {request.message}")
    while True:
        text = read("[a]pprove / [r]eject / [p]ause, optionally followed by a comment: ").strip()
        word, _, comment = text.partition(" ")
        verdict = {"a": "approve", "approve": "approve", "y": "approve", "yes": "approve",
                   "r": "reject", "reject": "reject", "n": "reject", "no": "reject",
                   "p": "pause", "pause": "pause"}.get(word.lower())
        if verdict:
            return Answer(verdict, comment.strip())
