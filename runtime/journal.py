"""The run folder: ``<workspace>/.tiss/runs/<run_id>/``.

- ``plan.tiss``       a copy of the plan as it was run
- ``events.jsonl``    append-only, one JSON object per line, flushed per event;
                      an event may carry a ``delta`` (what a statement changed
                      in the state), which makes the journal a write-ahead log
- ``checkpoint.json`` a full state snapshot with the ``seq`` of the last event
                      it includes, replaced atomically (temp file + rename)
- ``outputs/``        strings longer than the inline cap (RUN output …), stored
                      once by content hash and referenced as ``{"$file": …}``

Restoring = the checkpoint plus the deltas of every later event, so a kill at
any moment loses no completed statement even though the checkpoint file is
rewritten only after statements with outside effects and every half second
(rewriting it after each VAR would cost more than the VAR itself).
"""

from __future__ import annotations

import hashlib
import json
import os
import secrets
import time
from datetime import datetime
from pathlib import Path

import orjson

from .errors import RunError
from .state import State

INLINE_CAP = 16 * 1024           # characters kept inside a JSON line
CHECKPOINT_EVERY = 0.5           # seconds between checkpoints of pure statements



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


def new_run_id() -> str:
    return datetime.now().strftime("%Y%m%d-%H%M%S-") + secrets.token_hex(2)


class RunFolder:
    def __init__(self, path: Path):
        self.path = Path(path)
        self.run_id = self.path.name
        self._events = None
        self.seq = 0
        self._last_checkpoint = 0.0

    # --- creating and opening ---------------------------------------------

    @classmethod
    def create(cls, workspace: Path, source: str) -> "RunFolder":
        while True:   # two runs started in the same second get different ids
            path = runs_root(workspace) / new_run_id()
            try:
                path.mkdir(parents=True)
                break
            except FileExistsError:
                continue
        (path / "plan.tiss").write_text(source, encoding="utf-8")
        return cls(path)

    @classmethod
    def open(cls, workspace: Path, run_id: str) -> "RunFolder":
        path = runs_root(workspace) / run_id
        if not run_id or "/" in run_id or not (path / "events.jsonl").exists():
            raise RunError(f"no run {run_id!r} in {runs_root(workspace)}",
                           hint="list the runs of this workspace with `tiss runs` (or pass --workspace)")
        folder = cls(path)
        folder.seq = max((e["seq"] for e in folder.events()), default=0)
        return folder

    @property
    def plan_source(self) -> str:
        return (self.path / "plan.tiss").read_text(encoding="utf-8")

    # --- writing ---------------------------------------------------------------

    def append(self, event: str, fields: dict | None = None, **more) -> dict:
        """Write one event line and flush it to the OS before returning."""
        if self._events is None:
            self._events = self._open_for_append()
        self.seq += 1
        record = {"seq": self.seq, "t": time.time(), "event": event, **(fields or more)}
        line = encode(record)
        if len(line) > INLINE_CAP:
            line = encode(self._externalize(record))
        os.write(self._events, line + b"\n")   # unbuffered: at the OS at once
        return record

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
        return os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)

    def checkpoint(self, state: State, force: bool = False) -> None:
        """Snapshot ``state`` (with the seq of the last event) if ``force`` or
        if the last snapshot is older than CHECKPOINT_EVERY."""
        now = time.monotonic()
        if not force and now - self._last_checkpoint < CHECKPOINT_EVERY:
            return
        self._last_checkpoint = now
        data = encode(self._externalize({"seq": self.seq, "state": state.snapshot()}))
        temp = self.path / f"checkpoint.json.tmp{os.getpid()}"
        temp.write_bytes(data)
        os.replace(temp, self.path / "checkpoint.json")

    def close(self) -> None:
        if self._events is not None:
            os.close(self._events)
            self._events = None

    def _externalize(self, value):
        if isinstance(value, str) and len(value) > INLINE_CAP:
            digest = hashlib.sha256(value.encode("utf-8", "replace")).hexdigest()[:24]
            name = f"outputs/{digest}.txt"
            target = self.path / name
            if not target.exists():
                target.parent.mkdir(exist_ok=True)
                target.write_text(value, encoding="utf-8")
            return {"$file": name}
        if isinstance(value, dict):
            return {k: self._externalize(v) for k, v in value.items()}
        if isinstance(value, list):
            return [self._externalize(v) for v in value]
        return value

    def _internalize(self, value):
        if isinstance(value, dict):
            if set(value) == {"$file"}:
                return (self.path / value["$file"]).read_text(encoding="utf-8")
            return {k: self._internalize(v) for k, v in value.items()}
        if isinstance(value, list):
            return [self._internalize(v) for v in value]
        return value

    # --- reading ---------------------------------------------------------------

    def events(self):
        """Every complete event, in order (a line cut short by a kill is skipped)."""
        try:
            with open(self.path / "events.jsonl", encoding="utf-8") as lines:
                for line in lines:
                    try:
                        yield self._internalize(json.loads(line))
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
        pid, session = None, False   # session: a tiss repl, whose entries each end with run_done
        for event in self.events():
            if event["event"] in ("run_started", "session_started"):
                session = event["event"] == "session_started"
                info.update(plan=event.get("plan", "?"), started=info["started"] or event["t"], status="running")
            elif event["event"] == "run_done" and not session:
                info.update(status=event["status"], ended=event["t"])
            elif event["event"] in ("run_resumed", "session_resumed"):
                info.update(status="running", ended=None)
            elif event["event"] == "session_ended":
                info.update(status="ended", ended=event["t"])
            pid = event.get("pid", pid)
        if info["status"] == "running" and not _alive(pid):
            info["status"] = "crashed"
        return info


def _alive(pid) -> bool:
    """Is the process that wrote the run still there? (A killed run is not.)"""
    if not pid:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def list_runs(workspace: Path) -> list[RunFolder]:
    root = runs_root(workspace)
    if not root.is_dir():
        return []
    return [RunFolder(p) for p in sorted(root.iterdir()) if (p / "events.jsonl").exists()]
