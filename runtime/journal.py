"""The run folder: ``<workspace>/.tiss/runs/<run_id>/``.

- ``plan.tiss``       a copy of the plan as it was run
- ``events.jsonl``    append-only, one JSON object per line, written to the OS
                      per event and fsynced as ``journal.fsync`` says (below);
                      an event may carry a ``delta`` (what a statement changed
                      in the state), which makes the journal a write-ahead log
- ``checkpoint.json`` a full state snapshot with the ``seq`` of the last event
                      it includes, replaced atomically (temp file + rename)
- ``outputs/``        strings longer than the inline cap (RUN output …), stored
                      once by content hash, atomically, and referenced as
                      ``{"$file": "outputs/<hash>.txt"}``

Restoring = the checkpoint plus the deltas of every later event, so a kill at
any moment loses no completed statement even though the checkpoint file is
rewritten only after statements with outside effects and every half second
(rewriting it after each VAR would cost more than the VAR itself).

Durability against a power cut (``journal.fsync`` in the user's config):

- ``always``  every event is fsynced before the statement after it starts;
- ``step``    (default) group commit: the journal is fsynced at each step end,
              review asked/answered (a pause is one), run end and checkpoint;
              a power cut loses at most the statements since the last of those;
- ``never``   no fsync: a killed process loses nothing, a power cut may.

Whenever the mode is not ``never``, the journal is fsynced before a checkpoint
is written (so a checkpoint is never ahead of the journal on disk), the
checkpoint and every output file are fsynced before they are renamed into
place, and folders are fsynced after a name is created in them.

The run folder must be a real directory of the user's, all the way down:
``.tiss``, ``.tiss/runs`` and ``.tiss/runs/<id>`` that are symlinks (a cloned
repository can ship one), files or someone else's are refused.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import secrets
import stat
import time
from datetime import datetime
from pathlib import Path

import orjson

from model.fileio import sync_dir, write_atomic

from .errors import RunError
from .sandbox.processes import process_tag, tag_alive
from .state import State

INLINE_CAP = 16 * 1024           # characters kept inside a JSON line
CHECKPOINT_EVERY = 0.5           # seconds between checkpoints of pure statements
FSYNC_MODES = ("always", "step", "never")
DEFAULT_FSYNC = "step"
# The events that end a group commit in mode "step": a step, a review (a
# pause is a review answered "pause"), a run or a REPL session.
GROUP_COMMITS = frozenset({"step_done", "review_asked", "review_answered", "run_done", "session_ended"})
# The only names a {"$file": ...} may have: what _externalize writes.
OUTPUT_NAME = re.compile(r"outputs/([0-9a-f]{24}\.txt)")


def encode(record: dict) -> bytes:
    """One JSON line. orjson is ~10x faster than the json module, which
    matters at one event per statement; the json module takes what orjson
    refuses (integers beyond 64 bits)."""
    try:
        return orjson.dumps(record)
    except TypeError:
        return json.dumps(record, ensure_ascii=False).encode("utf-8")


def runs_root(workspace: Path) -> Path:
    return Path(workspace) / ".tiss" / "runs"


def configured_fsync() -> str:
    """``journal.fsync`` of the user's configuration (runtime/config.py)."""
    from .config import load_for_run
    return load_for_run().journal.fsync


def require_real_dir(path: Path) -> None:
    """Refuse anything but a directory of ours: a symlink would send the run
    folder (and what is read back from it) wherever it points."""
    try:
        info = os.lstat(path)
    except FileNotFoundError:
        raise RunError(f"{path} does not exist") from None
    fix = f"remove it (rm {path}) and run again: tiss creates its run folder itself"
    if stat.S_ISLNK(info.st_mode):
        raise RunError(f"{path} is a symlink (to {os.readlink(path)}); the run folder must be a real "
                       "directory, so tiss refuses to write through it", hint=fix)
    if not stat.S_ISDIR(info.st_mode):
        raise RunError(f"{path} is not a directory; the run folder must be one", hint=fix)
    if info.st_uid != os.geteuid():
        raise RunError(f"{path} belongs to uid {info.st_uid}, not to you (uid {os.geteuid()}); the run "
                       "folder must be your own", hint=f"use a workspace of your own, or {fix}")


def _make_real_dir(path: Path, durable: bool) -> None:
    """mkdir unless it exists, then require a real directory of ours."""
    try:
        path.mkdir()
        if durable:
            sync_dir(path.parent)   # the new name survives a power cut
    except FileExistsError:
        pass
    require_real_dir(path)


def new_run_id() -> str:
    return datetime.now().strftime("%Y%m%d-%H%M%S-") + secrets.token_hex(2)


class RunFolder:
    def __init__(self, path: Path, fsync: str = DEFAULT_FSYNC):
        if fsync not in FSYNC_MODES:
            raise ValueError(f"fsync must be one of {FSYNC_MODES}, not {fsync!r}")
        self.path = Path(path)
        self.run_id = self.path.name
        self.fsync = fsync
        self._events = None
        self._unsynced = False      # events written since the last fsync
        self.seq = 0
        self._last_checkpoint = 0.0

    @property
    def durable(self) -> bool:
        return self.fsync != "never"

    # --- creating and opening ---------------------------------------------

    @classmethod
    def create(cls, workspace: Path, source: str, fsync: str | None = None) -> "RunFolder":
        """A new run folder; ``fsync`` None = the user's configuration."""
        fsync = fsync or configured_fsync()
        durable = fsync != "never"
        root = runs_root(workspace)
        Path(workspace).mkdir(parents=True, exist_ok=True)   # the user's: may be a symlink
        _make_real_dir(root.parent, durable)
        _make_real_dir(root, durable)
        while True:   # two runs started in the same second get different ids
            path = root / new_run_id()
            try:
                path.mkdir()
                break
            except FileExistsError:
                continue
        if durable:
            sync_dir(root)
        write_atomic(path / "plan.tiss", source, fsync=durable, fsync_dir=durable)
        return cls(path, fsync)

    @classmethod
    def open(cls, workspace: Path, run_id: str, fsync: str | None = None) -> "RunFolder":
        path = runs_root(workspace) / run_id
        if not run_id or "/" in run_id or not (path / "events.jsonl").exists():
            raise RunError(f"no run {run_id!r} in {runs_root(workspace)}",
                           hint="list the runs of this workspace with `tiss runs` (or pass --workspace)")
        for directory in (path.parent.parent, path.parent, path):
            require_real_dir(directory)
        folder = cls(path, fsync or configured_fsync())
        folder.seq = max((e["seq"] for e in folder.events()), default=0)
        return folder

    @property
    def plan_source(self) -> str:
        return (self.path / "plan.tiss").read_text(encoding="utf-8")

    # --- writing ---------------------------------------------------------------

    def append(self, event: str, fields: dict | None = None, **more) -> dict:
        """Write one event line to the OS before returning, and fsync it if
        the mode says so (every event, or the events that end a group)."""
        if self._events is None:
            self._events = self._open_for_append()
        self.seq += 1
        record = {"seq": self.seq, "t": time.time(), "event": event, **(fields or more)}
        line = encode(record)
        if len(line) > INLINE_CAP:
            line = encode(self._externalize(record))
        os.write(self._events, line + b"\n")   # unbuffered: at the OS at once
        self._unsynced = True
        if self.fsync == "always" or (self.fsync == "step" and event in GROUP_COMMITS):
            self.sync()
        return record

    def sync(self) -> None:
        """fsync the events written so far (nothing to do if none are new)."""
        if self._unsynced and self._events is not None:
            os.fsync(self._events)
            self._unsynced = False

    def _open_for_append(self):
        """Append mode, after sealing a last line a kill may have cut short."""
        path = self.path / "events.jsonl"
        if path.exists() and path.stat().st_size:
            with open(path, "rb") as existing:
                existing.seek(-1, os.SEEK_END)
                cut_short = existing.read(1) != b"\n"
            if cut_short:
                with open(path, "ab") as existing:
                    existing.write(b"\n")
        created = not path.exists()
        fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT | os.O_NOFOLLOW, 0o644)
        if created and self.durable:
            sync_dir(self.path)   # or a power cut could lose the file's name
        return fd

    def checkpoint(self, state: State, force: bool = False) -> None:
        """Snapshot ``state`` (with the seq of the last event) if ``force`` or
        if the last snapshot is older than CHECKPOINT_EVERY."""
        now = time.monotonic()
        if not force and now - self._last_checkpoint < CHECKPOINT_EVERY:
            return
        self._last_checkpoint = now
        data = encode(self._externalize({"seq": self.seq, "state": state.snapshot()}))
        if self.durable:
            self.sync()   # a checkpoint on disk is never ahead of the journal on disk
        # The folder is not fsynced after the rename: if the rename is lost,
        # the previous checkpoint plus the (fsynced) journal give the same state.
        write_atomic(self.path / "checkpoint.json", data, fsync=self.durable)

    def close(self) -> None:
        if self._events is not None:
            if self.durable:
                self.sync()   # whatever ended the run, what it wrote is kept
            os.close(self._events)
            self._events = None

    def _externalize(self, value):
        if isinstance(value, str) and len(value) > INLINE_CAP:
            digest = hashlib.sha256(value.encode("utf-8", "replace")).hexdigest()[:24]
            name = f"outputs/{digest}.txt"
            target = self.path / name
            if not target.exists():
                _make_real_dir(target.parent, self.durable)
                # fsynced before the journal line that names it can be
                write_atomic(target, value, fsync=self.durable,
                             fsync_dir=self.durable)
            return {"$file": name}
        if isinstance(value, dict):
            return {k: self._externalize(v) for k, v in value.items()}
        if isinstance(value, list):
            return [self._externalize(v) for v in value]
        return value

    def _internalize(self, value):
        if isinstance(value, dict):
            if set(value) == {"$file"}:
                return self._read_output(value["$file"])
            return {k: self._internalize(v) for k, v in value.items()}
        if isinstance(value, list):
            return [self._internalize(v) for v in value]
        return value

    def _read_output(self, name) -> str:
        """The text of an output file named in the journal. The name must be
        one _externalize writes, and no symlink is followed (not the
        ``outputs`` folder, not the file): a forged journal reads nothing
        outside ``outputs/``."""
        match = OUTPUT_NAME.fullmatch(name) if isinstance(name, str) else None
        if match is None:
            raise RunError(f"{self.path / 'events.jsonl'}: refers to {name!r}, which is not a file "
                           "of this run's outputs/ folder; the run folder was altered",
                           hint="this run cannot be read back; start the plan again")
        nofollow = os.O_RDONLY | os.O_NOFOLLOW
        try:
            folder = os.open(self.path / "outputs", nofollow | os.O_DIRECTORY)
            try:
                fd = os.open(match.group(1), nofollow, dir_fd=folder)
            finally:
                os.close(folder)
            with open(fd, encoding="utf-8") as output:
                return output.read()
        except (OSError, UnicodeDecodeError) as exc:   # ELOOP/ENOTDIR: a symlink; ENOENT: missing
            reason = exc.strerror if isinstance(exc, OSError) else "not UTF-8"
            raise RunError(f"{self.path / name}: cannot read this output of the run "
                           f"({reason}); it must be a regular file in {self.path / 'outputs'}",
                           hint="the run folder was altered; start the plan again") from None

    # --- reading ---------------------------------------------------------------

    def events(self):
        """Every complete event, in order, large strings read back from outputs/."""
        for record in self.records():
            yield self._internalize(record)

    def records(self):
        """Every complete event as written (a line cut short by a kill is
        skipped; large strings are still ``{"$file": …}``)."""
        try:
            with open(self.path / "events.jsonl", encoding="utf-8") as lines:
                for line in lines:
                    try:
                        yield json.loads(line)
                    except ValueError:
                        continue
        except FileNotFoundError:
            return

    def restore(self) -> State:
        """The state as of the last event written: checkpoint + later deltas."""
        try:
            saved = json.loads((self.path / "checkpoint.json").read_text(encoding="utf-8"))
            saved = self._internalize(saved)
        except FileNotFoundError:
            saved = {"seq": 0, "state": {}}
        state = State(saved["state"])
        for event in self.events():
            if event["seq"] > saved["seq"] and "delta" in event:
                state.apply_delta(event["delta"])
        return state

    def summary(self) -> dict:
        """run_id, status, plan name, start time, for ``tiss runs``."""
        info = {"run_id": self.run_id, "status": "crashed", "plan": "?", "started": None, "ended": None}
        written_by, session = None, False   # session: a tiss repl, whose entries each end with run_done
        for event in self.records():   # outputs/ are not needed here
            if event["event"] in ("run_started", "session_started"):
                session = event["event"] == "session_started"
                info.update(plan=event.get("plan", "?"), started=info["started"] or event["t"], status="running")
            elif event["event"] == "run_done" and not session:
                info.update(status=event["status"], ended=event["t"])
            elif event["event"] in ("run_resumed", "session_resumed"):
                info.update(status="running", ended=None)
            elif event["event"] == "session_ended":
                info.update(status="ended", ended=event["t"])
            if "pid" in event:
                written_by = event
        if info["status"] == "running" and not writer_alive(written_by):
            info["status"] = "crashed"
        return info


def writer() -> dict:
    """Fields of a start or resume event naming the process that writes the run."""
    return {"pid": os.getpid(), "process": process_tag()}


def writer_alive(event: dict | None) -> bool:
    """Is the process that wrote ``event`` (see ``writer``) still there? Its
    pid alone does not say: once it died the pid can name another process
    (and a run started in a container records a pid such as 1), so the
    process's start time must match too. Older journals have only the pid."""
    if not event or not event.get("pid"):
        return False
    if "process" in event:
        return tag_alive(event["process"])
    pid = event["pid"]
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def list_runs(workspace: Path) -> list[RunFolder]:
    """The runs of a workspace; a run folder that is not a real directory of
    the user's is refused (RunError), as when writing."""
    root = runs_root(workspace)
    for folder in (root.parent, root):
        if not os.path.lexists(folder):
            return []
        require_real_dir(folder)
    runs = [p for p in sorted(root.iterdir()) if (p / "events.jsonl").exists()]
    for path in runs:
        require_real_dir(path)
    return [RunFolder(p) for p in runs]
