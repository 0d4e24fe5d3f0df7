"""How a waiting run receives an answer given in the browser (``tiss ui``).

The run (``tiss run --review ui``) journals ``review_asked`` as always, then
waits for ``<run folder>/answers/<key>.json``, which the UI writes atomically
(temp file + rename) once a person clicks approve or reject. The reviewer
reads the file, removes it and returns the answer to the interpreter, which
journals it exactly as it journals an answer typed at the terminal (the
statement's ``done`` event with its verdict and comment).

A file per statement key, rather than one answer file, so that two PARALLEL
branches waiting at once each get their own answer, and a stale file can
only answer the question it was written for.
"""

from __future__ import annotations

import json
import os
import re
import sys
import time
from pathlib import Path

from model.fileio import write_atomic

from .errors import RunError
from .review import Answer, Request, ask_on_terminal

ANSWERS = "answers"
VERDICTS = ("approve", "reject")          # what the browser offers
KEY = re.compile(r"[A-Za-z0-9.]{1,200}")   # statement keys: "0.3.1", "c2.0"
POLL_SECONDS = 0.2                         # how often a waiting run looks for its answer
MAX_COMMENT = 4000


def answer_path(run_path: Path, key: str) -> Path:
    if not KEY.fullmatch(key or ""):
        raise RunError(f"{key!r} is not a statement key of a run", hint="answer a review listed by tiss ui")
    return Path(run_path) / ANSWERS / f"{key}.json"


def waiting_path(run_path: Path, key: str) -> Path:
    """Present while a run waits for the browser's answer to ``key``: the UI
    offers approve/reject only for a question someone listens to (a run
    asking at its terminal would never read the answer)."""
    return answer_path(run_path, key).with_suffix(".waiting")


def _answers_folder(run_path: Path) -> Path:
    folder = Path(run_path) / ANSWERS
    try:
        folder.mkdir()
    except FileExistsError:
        pass
    if folder.is_symlink() or not folder.is_dir():
        raise RunError(f"{folder} is not a real directory; the run folder was altered",
                       hint=f"remove {folder} and answer again")
    return folder


def write_answer(run_path: Path, key: str, verdict: str, comment: str = "") -> Path:
    """The UI's side: one answer, written atomically so that the waiting run
    never reads half a file. The folder must be a real one (not a symlink)."""
    if verdict not in VERDICTS:
        raise RunError(f"verdict {verdict!r} is not one of {', '.join(VERDICTS)}")
    target = answer_path(run_path, key)
    _answers_folder(run_path)
    write_atomic(target, json.dumps({"verdict": verdict, "comment": comment[:MAX_COMMENT]}))
    return target


def take_answer(run_path: Path, key: str) -> Answer | None:
    """The run's side: the answer to the statement ``key`` if one was given
    (the file is removed, so asking again needs a new answer). A file that is
    not a valid answer is removed and ignored."""
    path = answer_path(run_path, key)
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW)
    except OSError:   # not there yet (or a symlink: never followed)
        return None
    try:
        with open(fd, encoding="utf-8") as stream:
            data = json.loads(stream.read())
    except ValueError:
        data = None
    finally:
        path.unlink(missing_ok=True)
    if not isinstance(data, dict) or data.get("verdict") not in VERDICTS:
        return None
    comment = data.get("comment")
    return Answer(data["verdict"], comment if isinstance(comment, str) else "")


class BrowserReviewer:
    """``--review ui``: REQUEST_REVIEW and PAUSE wait for an answer from
    ``tiss ui``. A CHOOSE the user asked to pick (``--choose ask``) is still
    asked at the terminal: the review page answers reviews only."""

    def __init__(self, run_path: Path, poll: float = POLL_SECONDS, say=None):
        self.run_path = Path(run_path)
        self.poll = poll
        self.say = say or (lambda text: print(text, file=sys.stderr, flush=True))

    def __call__(self, request: Request) -> Answer:
        if request.kind == "choose":
            return ask_on_terminal(request)
        label = "REVIEW" if request.kind == "review" else "PAUSED"
        self.say(f"? {label} (line {request.line}): {request.message}\n"
                 f"  waiting for an answer in the review UI (tiss ui --workspace "
                 f"{self.run_path.parent.parent.parent}); Ctrl-C stops the run, tiss resume continues it")
        _answers_folder(self.run_path)
        marker = waiting_path(self.run_path, request.key)
        write_atomic(marker, str(os.getpid()), fsync=False)
        try:
            while True:
                answer = take_answer(self.run_path, request.key)
                if answer is not None:
                    self.say(f"  {answer.verdict}d in the review UI" +
                             (f" with comment: {answer.comment}" if answer.comment else ""))
                    return answer
                time.sleep(self.poll)   # the answer comes from another process: look again
        finally:
            marker.unlink(missing_ok=True)
