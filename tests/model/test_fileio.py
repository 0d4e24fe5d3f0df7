"""model.fileio: the one atomic-write helper of the project (model and runtime)."""

import os
import subprocess
import sys
from pathlib import Path

import pytest

from model.fileio import atomic_file, sync_dir, write_atomic


def fsync_log(monkeypatch) -> list[str]:
    """Wrap os.fsync (a neighbour of the code under test) to record what each
    call synced: the path of the file or folder behind the descriptor."""
    synced = []
    real = os.fsync

    def recording(fd):
        synced.append(os.readlink(f"/proc/self/fd/{fd}"))
        return real(fd)

    monkeypatch.setattr(os, "fsync", recording)
    return synced


def test_write_replaces_the_file_and_leaves_nothing_else(tmp_path):
    target = tmp_path / "a.json"
    target.write_text("old")
    write_atomic(target, "new ü")
    assert target.read_text(encoding="utf-8") == "new ü"
    write_atomic(target, b"\x00bytes")
    assert target.read_bytes() == b"\x00bytes"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a.json"]


def test_a_write_that_raises_midway_leaves_the_old_file_intact(tmp_path):
    target = tmp_path / "tokens.bin"
    target.write_bytes(b"the previous, complete file")
    with pytest.raises(RuntimeError, match="disk on fire"):
        with atomic_file(target) as out:
            out.write(b"half of the new ")
            raise RuntimeError("disk on fire")
    assert target.read_bytes() == b"the previous, complete file"
    assert [p.name for p in tmp_path.iterdir()] == ["tokens.bin"]   # no temporary file left


def test_data_that_cannot_be_encoded_changes_nothing(tmp_path):
    target = tmp_path / "t.json"
    target.write_text("old")
    with pytest.raises(UnicodeEncodeError):
        write_atomic(target, "lone surrogate \udc80")
    assert target.read_text() == "old"
    assert [p.name for p in tmp_path.iterdir()] == ["t.json"]


def test_fsyncs_the_file_then_the_folder_when_asked(tmp_path, monkeypatch):
    synced = fsync_log(monkeypatch)
    write_atomic(tmp_path / "f", "x", fsync=True, fsync_dir=True)
    assert len(synced) == 2
    assert Path(synced[0]).parent == tmp_path and synced[0].endswith(".tmp")   # before the rename
    assert synced[1] == str(tmp_path)


def test_no_fsync_when_not_asked(tmp_path, monkeypatch):
    synced = fsync_log(monkeypatch)
    write_atomic(tmp_path / "f", "x", fsync=False)
    assert synced == []


def test_sync_dir_fsyncs_the_folder(tmp_path, monkeypatch):
    synced = fsync_log(monkeypatch)
    sync_dir(tmp_path)
    assert synced == [str(tmp_path)]


def test_the_new_file_has_the_usual_permissions(tmp_path):
    """Like open(..., "w"): 0o666 less the umask, not a temp file's 0o600."""
    umask = os.umask(0o022)
    try:
        write_atomic(tmp_path / "f", "x")
    finally:
        os.umask(umask)
    assert (tmp_path / "f").stat().st_mode & 0o777 == 0o644


def test_importing_the_helper_does_not_load_numpy():
    """The runtime uses it, and the runtime's start-up must not pay for NumPy."""
    code = ("import sys, runtime.journal, runtime.cost, runtime.config; "
            "sys.exit('numpy' in sys.modules)")
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert result.returncode == 0, result.stderr or "numpy was imported"
