"""Lending a root-owned workspace to the Docker sandbox user, and giving it
back — even after a crash.

Root must not run a plan's commands, so when tiss runs as root in a
root-owned workspace, the Docker backend hands the workspace's entries to
the sandbox uid for the run and gives them back at the end. If tiss dies in
between (SIGKILL, power cut), the workspace stays with the sandbox uid, and
nothing in it says who owned it before. So the owner is recorded first, in
a file of this user's own state folder (never inside the workspace, which
the sandbox can write), fsync'ed before the first chown. The next sandbox
start, and ``tiss sandbox reap``, give back every workspace whose recording
process is gone.

Every walk here is descriptor-based and never follows a symlink: each
directory is opened relative to its parent with ``O_NOFOLLOW``, and every
chown is ``fchownat(AT_SYMLINK_NOFOLLOW)``. A running command can swap any
directory for a symlink to a host folder at any moment; such an entry is
then skipped (or the symlink itself chowned), never followed.
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import json
import os
import socket
import stat
import time
from pathlib import Path

from model.fileio import write_atomic

from .base import SandboxError
from .image import SANDBOX_UID
from .processes import process_tag, tag_alive

RUN_FOLDER = ".tiss"  # never lent: the commands do not see it
SANDBOX_IDS = (SANDBOX_UID, SANDBOX_UID)
_DIR_FLAGS = os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC


def state_dir() -> Path:
    """``$XDG_STATE_HOME/quanta-tissu`` (default ~/.local/state): this
    user's own, never inside a workspace a sandbox can write."""
    try:
        base = os.environ.get("XDG_STATE_HOME") or Path.home() / ".local" / "state"
        path = Path(base) / "quanta-tissu"
        path.mkdir(mode=0o700, parents=True, exist_ok=True)
    except (OSError, RuntimeError) as exc:  # RuntimeError: no home directory
        raise SandboxError(f"cannot create tiss's state folder: {exc}",
                           hint="set XDG_STATE_HOME to a writable folder") from None
    return path


@contextlib.contextmanager
def state_lock(name: str):
    """An exclusive lock between this user's tiss processes (the kernel
    releases it if the holder dies)."""
    fd = os.open(state_dir() / f"{name}.lock", os.O_RDWR | os.O_CREAT | os.O_NOFOLLOW, 0o600)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        yield
    finally:
        os.close(fd)


def client_identity() -> str:
    """``hostname:pid-starttime`` of this process (a recycled pid differs)."""
    return f"{socket.gethostname()}:{process_tag()}"


def identity_alive(identity: str) -> bool:
    """Is the tiss process named by ``client_identity()`` alive? Processes
    of other hosts count as alive: we cannot tell."""
    host, _, tag = identity.partition(":")
    return host != socket.gethostname() or tag_alive(tag)


class WorkspaceHandover:
    """A root-owned workspace lent to the sandbox user for one run.

    ``lend`` records the owner, then hands every entry of the owner's to the
    sandbox uid; before each RUN, ``refresh`` hands over what tiss itself
    created meanwhile (WRITE), found cheaply through the directories whose
    mtime changed; ``give_back`` returns everything and removes the record.
    Call ``lend`` and ``give_back`` under ``state_lock("handover")``, so a
    concurrent start never restores a workspace being lent or given back."""

    def __init__(self, root: Path, owner: tuple[int, int]):
        self.root = str(root.resolve())
        self.owner = owner
        self.dir_mtimes: dict[str, int] = {}  # workspace-relative directory -> mtime_ns

    @classmethod
    def lend(cls, root: Path) -> "WorkspaceHandover":
        info = os.stat(root)
        handover = cls(root, (info.st_uid, info.st_gid))
        _write_record(handover.root, handover.owner)  # durable before the first chown
        top = _open_root(handover.root)
        _chown_at(top, None, handover.owner[0], SANDBOX_IDS)
        _chown_tree(top, "", handover.owner[0], SANDBOX_IDS, handover.dir_mtimes)
        return handover

    def refresh(self) -> None:
        top = _open_root(self.root)
        try:
            for rel, seen in list(self.dir_mtimes.items()):
                fd = _open_beneath(top, rel)
                if fd is None:  # removed (or swapped for a symlink) meanwhile
                    del self.dir_mtimes[rel]
                    continue
                try:
                    mtime = os.fstat(fd).st_mtime_ns
                    # A change within the clock's coarse tick after our last
                    # look would leave the mtime equal: recent ones are rescanned.
                    if mtime != seen or time.time_ns() - mtime < 1_000_000_000:
                        self.dir_mtimes[rel] = mtime
                        self._lend_new_entries(fd, rel)
                finally:
                    os.close(fd)
        finally:
            os.close(top)

    def give_back(self) -> None:
        give_back(self.root, self.owner)
        _record_path(self.root).unlink(missing_ok=True)

    def _lend_new_entries(self, fd: int, rel: str) -> None:
        """One directory's own entries; new subdirectories entirely."""
        for name in _names(fd, rel):
            child_rel = f"{rel}/{name}" if rel else name
            is_dir = _chown_at(fd, name, self.owner[0], SANDBOX_IDS)
            if is_dir and child_rel not in self.dir_mtimes:
                child = _open_dir(fd, name)
                if child is not None:
                    _chown_tree(child, child_rel, self.owner[0], SANDBOX_IDS, self.dir_mtimes)


def give_back(root: str, owner: tuple[int, int]) -> None:
    """Everything of the sandbox uid's in the workspace goes to ``owner``."""
    try:
        top = _open_root(root)
    except FileNotFoundError:  # the workspace was removed meanwhile
        return
    _chown_at(top, None, SANDBOX_UID, owner)
    _chown_tree(top, "", SANDBOX_UID, owner)


def restore_abandoned_workspaces() -> list[str]:
    """Give back the workspaces lent by tiss processes of this host that died
    before giving them back; return their paths. Call under
    ``state_lock("handover")``, after the dead runs' containers are removed."""
    folder = state_dir() / "handovers"
    restored = []
    for path in sorted(folder.glob("*.json")) if folder.is_dir() else []:
        try:
            record = json.loads(path.read_text())
            workspace, owner = record["workspace"], (int(record["uid"]), int(record["gid"]))
        except (OSError, ValueError, KeyError, TypeError):
            continue  # not ours to interpret; left for a human
        if identity_alive(record.get("client", "")):
            continue
        give_back(workspace, owner)
        path.unlink(missing_ok=True)
        restored.append(workspace)
    return restored


# -- the record ---------------------------------------------------------------

def _record_path(workspace: str) -> Path:
    key = hashlib.sha256(workspace.encode()).hexdigest()[:24]
    return state_dir() / "handovers" / f"{key}.json"


def _write_record(workspace: str, owner: tuple[int, int]) -> None:
    path = _record_path(workspace)
    path.parent.mkdir(mode=0o700, exist_ok=True)
    record = {"workspace": workspace, "uid": owner[0], "gid": owner[1],
              "client": client_identity()}
    write_atomic(path, json.dumps(record) + "\n", fsync=True, fsync_dir=True)


# -- descriptor-based walking --------------------------------------------------

def _open_root(root: str) -> int:
    """The workspace itself: the user's own path (the sandbox cannot write
    its parent, so it cannot swap it)."""
    return os.open(root, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)


def _open_dir(parent_fd: int, name: str) -> int | None:
    """A subdirectory, never through a symlink; None if it is gone, is no
    longer a directory, or no descriptor is left (a very deep tree)."""
    try:
        return os.open(name, _DIR_FLAGS, dir_fd=parent_fd)
    except OSError:
        return None


def _open_beneath(top: int, rel: str) -> int | None:
    fd = os.dup(top)
    for name in filter(None, rel.split("/")):
        child = _open_dir(fd, name)
        os.close(fd)
        if child is None:
            return None
        fd = child
    return fd


def _names(fd: int, rel: str) -> list[str]:
    """A directory's entries, without the run folder at the top."""
    try:
        names = os.listdir(fd)
    except OSError:  # removed meanwhile
        return []
    return [name for name in names if rel or name != RUN_FOLDER]


def _chown_at(fd: int, name: str | None, from_uid: int, to: tuple[int, int]) -> bool:
    """Chown the entry ``name`` of directory ``fd`` (or ``fd`` itself when
    ``name`` is None) if ``from_uid`` owns it; return whether it is a directory."""
    try:
        if name is None:
            info = os.fstat(fd)
            if info.st_uid == from_uid:
                os.fchown(fd, *to)
        else:
            info = os.stat(name, dir_fd=fd, follow_symlinks=False)
            if info.st_uid == from_uid:
                os.chown(name, *to, dir_fd=fd, follow_symlinks=False)
    except FileNotFoundError:  # deleted meanwhile
        return False
    return stat.S_ISDIR(info.st_mode)


def _chown_tree(top: int, rel: str, from_uid: int, to: tuple[int, int],
                dir_mtimes: dict[str, int] | None = None) -> None:
    """Chown every entry below the open directory ``top`` (at ``rel`` in the
    workspace) owned by ``from_uid``; record each directory's mtime, taken
    before it is listed, in ``dir_mtimes``. Closes ``top``. Depth-first with
    one descriptor per level (a wide tree costs no descriptors)."""
    if dir_mtimes is not None:
        dir_mtimes[rel] = os.fstat(top).st_mtime_ns
    frames = [(top, rel, _names(top, rel))]
    while frames:
        fd, rel, names = frames[-1]
        if not names:
            os.close(fd)
            frames.pop()
            continue
        name = names.pop()
        if not _chown_at(fd, name, from_uid, to):
            continue
        child = _open_dir(fd, name)
        if child is None:
            continue
        child_rel = f"{rel}/{name}" if rel else name
        if dir_mtimes is not None:
            dir_mtimes[child_rel] = os.fstat(child).st_mtime_ns
        frames.append((child, child_rel, _names(child, child_rel)))
