"""Atomic file writes: readers (and a crash) see the old file or the new one,
never half of one.

The one place for this pattern in the project: the model package uses it for
tokenizers, token files and checkpoints, and the runtime for its run folder.
It imports nothing but the standard library, so the runtime can use it
without loading NumPy.

The recipe: a temporary file in the same folder (a rename is atomic only
within one file system), write, flush, optionally fsync the file (so the new
name never points at data still in the page cache when the power goes),
``os.replace`` onto the final name, optionally fsync the folder (so the rename
itself survives a power cut).
"""

from __future__ import annotations

import os
import secrets
from contextlib import contextmanager
from pathlib import Path
from typing import BinaryIO, Iterator


@contextmanager
def atomic_file(path: str | os.PathLike, *, fsync: bool = True,
                fsync_dir: bool = False) -> Iterator[BinaryIO]:
    """Yield a binary file that replaces ``path`` when the block ends. If the
    block raises, ``path`` is untouched and the temporary file is removed."""
    path = Path(path)
    temp = path.with_name(f".{path.name}.{os.getpid()}-{secrets.token_hex(4)}.tmp")
    # O_EXCL + O_NOFOLLOW: never write through a name someone else prepared.
    fd = os.open(temp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, 0o666)
    try:
        with os.fdopen(fd, "wb") as out:
            yield out
            out.flush()
            if fsync:
                os.fsync(out.fileno())
        os.replace(temp, path)
    except BaseException:
        temp.unlink(missing_ok=True)
        raise
    if fsync_dir:
        sync_dir(path.parent)


def write_atomic(path: str | os.PathLike, data: bytes | str, *, fsync: bool = True,
                 fsync_dir: bool = False) -> None:
    """Replace ``path`` with ``data`` (str is written as UTF-8) atomically."""
    if isinstance(data, str):
        data = data.encode("utf-8")
    with atomic_file(path, fsync=fsync, fsync_dir=fsync_dir) as out:
        out.write(data)


def sync_dir(directory: str | os.PathLike) -> None:
    """fsync a folder: makes the names created, renamed or removed in it durable."""
    fd = os.open(directory, os.O_RDONLY | os.O_DIRECTORY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
