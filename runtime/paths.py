"""Workspace files for WRITE, APPEND, READ and FILE, opened so that a
sandboxed command cannot redirect them.

A plan names files relative to the workspace. Refused, with nothing written:
absolute paths, ``..`` that climbs out, symlinks that lead outside, and the
run folder ``.tiss/`` which is not a plan's to touch.

Why descriptors and not path checks: the sandbox can write the workspace
while the plan runs (a PARALLEL branch, a background process), so it can swap
any file or folder for a symlink between a check on a path and the open that
follows it. Here nothing is ever opened by a full path. Each component is
opened relative to the descriptor of the folder before it, with
``O_NOFOLLOW``; a symlink met on the way is read (``readlinkat``) and its
target walked by the same rules, from the folder it sits in, so it can lead
anywhere inside the workspace and nowhere else. A swap that happens after a
component was read as "not a symlink" makes the ``O_NOFOLLOW`` open fail, and
the operation stops with an error rather than follow it. Writes go to a
temporary file created in the final folder's descriptor and renamed over the
name, which replaces whatever is there (even a symlink) without following it.
"""

from __future__ import annotations

import errno
import os
import secrets
import stat
import threading
from pathlib import Path, PurePosixPath

from tisslang.paths import RELATIVE_HINT, RUN_FOLDER, path_problem

from .errors import RunError

MAX_SYMLINKS = 40        # as the kernel's own limit for one path
_DIR_FLAGS = os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC
_SYMLINK_HINT = "copy the file into the workspace instead of linking to it"


class Workspace:
    """The workspace folder as plans see it. Thread-safe: PARALLEL branches
    share one instance, and its writes are serialised so that concurrent
    APPENDs to a file all land, each whole."""

    def __init__(self, root: Path):
        self.root = Path(root)
        self._writing = threading.Lock()

    def read(self, name: str, line: int = 0) -> str:
        with _Located(self.root, name, line, make_dirs=False) as place:
            data = place.read_leaf(missing_ok=False)
        try:
            return data.decode("utf-8")
        except UnicodeDecodeError:
            raise RunError(f"file {name!r} is not UTF-8 text", line) from None

    def exists(self, name: str, line: int = 0) -> bool:
        try:
            with _Located(self.root, name, line, make_dirs=False) as place:
                return place.leaf_exists()
        except _Missing:
            return False

    def write(self, name: str, text: str, line: int = 0, append: bool = False) -> None:
        """Replace (or extend) the file in one rename: a reader, a crash or a
        concurrent APPEND never sees half of it. Missing folders are made."""
        with self._writing, _Located(self.root, name, line, make_dirs=True) as place:
            data = text.encode("utf-8")
            if append:
                data = (place.read_leaf(missing_ok=True) or b"") + data
            place.replace_leaf(data)


class _Missing(RunError):
    """A folder or the file on the path does not exist."""


class _Located:
    """The folder that holds ``name``'s last component, as an open
    descriptor reached from the workspace root without following any symlink
    by name, plus that last component (``leaf``)."""

    def __init__(self, root: Path, name: str, line: int, make_dirs: bool):
        problem = path_problem(name)
        if problem:
            message, hint = problem
            raise RunError(message, line, hint=hint)
        self.name, self.line, self.make_dirs = name, line, make_dirs
        self.fds = [os.open(root, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)]
        try:
            self.leaf = self._walk(list(PurePosixPath(name).parts))
        except BaseException:
            self.close()
            raise

    def __enter__(self) -> "_Located":
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def close(self) -> None:
        while self.fds:
            os.close(self.fds.pop())

    @property
    def folder(self) -> int:
        return self.fds[-1]

    def fail(self, message: str, hint: str | None = None, kind=RunError):
        raise kind(f'path "{self.name}" {message}', self.line, hint=hint)

    # --- resolution ---------------------------------------------------------

    def _walk(self, pending: list[str]) -> str:
        """Open each folder on the path in turn; return the last component.
        ``self.fds`` is the chain of open folders from the root, so ``..``
        is the folder before, never a name looked up again."""
        links = 0
        while pending:
            part = pending.pop(0)
            if part in ("", "."):
                continue
            if part == "..":
                if len(self.fds) == 1:
                    self.fail("leads outside the workspace through a symlink", _SYMLINK_HINT)
                os.close(self.fds.pop())
                continue
            if len(self.fds) == 1 and part == RUN_FOLDER:
                self.fail(f"is inside {RUN_FOLDER}/, the run folder, which plans cannot use",
                          f"choose another folder than {RUN_FOLDER}/")
            target = self._readlink(part)
            if target is not None:
                links += 1
                if links > MAX_SYMLINKS:
                    self.fail("goes through too many symlinks")
                if target.startswith("/"):
                    self.fail("leads outside the workspace through a symlink", _SYMLINK_HINT)
                pending[:0] = target.split("/")
                continue
            if not pending:
                return part
            self.fds.append(self._open_folder(part))
        if len(self.fds) == 1:
            self.fail("is the workspace itself, not a file", RELATIVE_HINT)
        self.fail("is a folder, not a file")

    def _readlink(self, part: str) -> str | None:
        try:
            return os.readlink(part, dir_fd=self.folder)
        except OSError as error:     # EINVAL: not a symlink; ENOENT: not there (yet)
            if error.errno in (errno.EINVAL, errno.ENOENT):
                return None
            raise

    def _open_folder(self, part: str) -> int:
        for _ in range(2):
            try:
                return os.open(part, _DIR_FLAGS, dir_fd=self.folder)
            except FileNotFoundError:
                if not self.make_dirs:
                    self.fail(f"does not exist (no folder {part!r})", kind=_Missing)
                try:
                    os.mkdir(part, dir_fd=self.folder)
                except FileExistsError:
                    pass
            except NotADirectoryError:      # O_DIRECTORY|O_NOFOLLOW on a symlink says so too
                if stat.S_ISLNK(os.stat(part, dir_fd=self.folder, follow_symlinks=False).st_mode):
                    self._raced(part)
                self.fail(f"goes through {part!r}, which is a file, not a folder", kind=_Missing)
            except OSError as error:
                if error.errno == errno.ELOOP:
                    self._raced(part)
                raise
        self._raced(part)

    def _raced(self, part: str):
        self.fail(f"changed while it was being opened ({part!r} was swapped, e.g. for a symlink)",
                  "do not change this path from a command while the plan uses it")

    # --- the last component ----------------------------------------------------

    def leaf_exists(self) -> bool:
        try:
            os.stat(self.leaf, dir_fd=self.folder, follow_symlinks=False)
            return True
        except FileNotFoundError:
            return False

    def read_leaf(self, missing_ok: bool) -> bytes | None:
        # O_NONBLOCK: a FIFO planted here must not hang the run (it is refused below).
        flags = os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC
        try:
            fd = os.open(self.leaf, flags, dir_fd=self.folder)
        except FileNotFoundError:
            if missing_ok:
                return None
            raise RunError(f"file {self.name!r} does not exist", self.line) from None
        except IsADirectoryError:
            raise RunError(f"{self.name!r} is a folder, not a file", self.line) from None
        except OSError as error:
            if error.errno == errno.ELOOP:
                self._raced(self.leaf)
            raise
        mode = os.fstat(fd).st_mode
        if not stat.S_ISREG(mode):
            os.close(fd)
            if stat.S_ISDIR(mode):
                raise RunError(f"{self.name!r} is a folder, not a file", self.line)
            self.fail("is not a regular file")
        with os.fdopen(fd, "rb") as file:
            return file.read()

    def replace_leaf(self, data: bytes) -> None:
        temp = f".{self.leaf}.tiss-tmp-{secrets.token_hex(6)}"
        fd = os.open(temp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC,
                     0o666, dir_fd=self.folder)
        try:
            with os.fdopen(fd, "wb") as file:
                file.write(data)
            os.replace(temp, self.leaf, src_dir_fd=self.folder, dst_dir_fd=self.folder)
        except BaseException as error:
            try:
                os.unlink(temp, dir_fd=self.folder)
            except FileNotFoundError:
                pass
            if isinstance(error, IsADirectoryError):
                raise RunError(f"{self.name!r} is a folder, not a file", self.line) from None
            raise
