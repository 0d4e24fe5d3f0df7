"""runtime/paths.py on real files and symlinks: the run folder reached through
a symlink, symlink chains and loops, what each refusal says and on which line,
and what a write leaves behind. Written for the mutants bench/mutation.py found
surviving (issue 10: the refusal of a symlink into .tiss/ was reached by no test)."""

from __future__ import annotations

import os

import pytest

from runtime.errors import RunError
from runtime.paths import MAX_SYMLINKS, Workspace


@pytest.fixture
def ws(tmp_path):
    (tmp_path / ".tiss" / "runs").mkdir(parents=True)
    (tmp_path / ".tiss" / "runs" / "events.jsonl").write_text("journal\n")
    (tmp_path / "sub" / "deeper").mkdir(parents=True)
    (tmp_path / "real.txt").write_text("real\n")
    return Workspace(tmp_path)


def refusal(operation, *args, line=7) -> RunError:
    with pytest.raises(RunError) as caught:
        operation(*args, line=line)
    assert caught.value.line == line
    return caught.value


@pytest.mark.parametrize("link, target", [("link", ".tiss"), ("sub/up", "../.tiss"),
                                          ("sub/deeper/far", "../../.tiss/runs")])
def test_a_symlink_into_the_run_folder_is_refused(ws, link, target):
    os.symlink(target, ws.root / link)
    name = f"{link}/events.jsonl" if target.endswith("runs") else f"{link}/runs/events.jsonl"
    for operation, args in ((ws.read, (name,)), (ws.write, (name, "forged\n")), (ws.exists, (name,))):
        error = refusal(operation, *args)
        assert error.message == f'path "{name}" is inside .tiss/, the run folder, which plans cannot use'
        assert error.hint == "choose another folder than .tiss/"
    assert (ws.root / ".tiss" / "runs" / "events.jsonl").read_text() == "journal\n"


def test_a_folder_named_like_the_run_folder_below_the_root_is_ordinary(ws):
    ws.write("sub/.tiss/notes.txt", "ok\n")
    assert ws.read("sub/.tiss/notes.txt") == "ok\n"


def test_symlinks_inside_the_workspace_are_followed_for_reading_and_writing(ws):
    os.symlink("../real.txt", ws.root / "sub" / "link.txt")
    assert ws.read("sub/link.txt") == "real\n"
    ws.write("sub/link.txt", "new\n")
    assert (ws.root / "real.txt").read_text() == "new\n"
    assert os.readlink(ws.root / "sub" / "link.txt") == "../real.txt"
    os.symlink("sub", ws.root / "alias")
    ws.write("alias/deeper/f.txt", "through\n")
    assert (ws.root / "sub" / "deeper" / "f.txt").read_text() == "through\n"


def test_a_chain_of_symlinks_up_to_the_limit_is_followed(ws):
    previous = "real.txt"
    for i in range(MAX_SYMLINKS):
        os.symlink(previous, ws.root / f"l{i}")
        previous = f"l{i}"
    assert ws.read(f"l{MAX_SYMLINKS - 1}") == "real\n"
    os.symlink(previous, ws.root / "one-more")
    error = refusal(ws.read, "one-more")
    assert error.message == 'path "one-more" goes through too many symlinks'


def test_a_symlink_loop_is_refused(ws):
    os.symlink("b", ws.root / "a")
    os.symlink("a", ws.root / "b")
    assert refusal(ws.read, "a").message == 'path "a" goes through too many symlinks'


@pytest.mark.parametrize("target", ["/etc", "..", "sub/../.."])
def test_a_symlink_leading_out_is_refused_with_a_hint(ws, target):
    os.symlink(target, ws.root / "out")
    error = refusal(ws.write, "out/x.txt", "x")
    assert error.message == 'path "out/x.txt" leads outside the workspace through a symlink'
    assert error.hint == "copy the file into the workspace instead of linking to it"


def test_symlinks_to_folders_are_not_files(ws):
    os.symlink(".", ws.root / "here")
    error = refusal(ws.read, "here")
    assert error.message == 'path "here" is the workspace itself, not a file'
    assert error.hint == 'write it relative to the workspace root, e.g. "out/report.txt"'
    os.symlink("..", ws.root / "sub" / "deeper" / "up")
    assert refusal(ws.read, "sub/deeper/up").message == 'path "sub/deeper/up" is a folder, not a file'
    assert refusal(ws.read, "sub").message == "'sub' is a folder, not a file"
    assert refusal(ws.write, "sub", "x").message == "'sub' is a folder, not a file"


def test_missing_files_and_folders(ws):
    assert refusal(ws.read, "no/f.txt").message == "path \"no/f.txt\" does not exist (no folder 'no')"
    assert refusal(ws.read, "gone.txt").message == "file 'gone.txt' does not exist"
    assert not ws.exists("no/f.txt") and not ws.exists("gone.txt")
    assert not (ws.root / "no").exists()   # reading makes no folder
    os.symlink("gone.txt", ws.root / "dangling")
    assert not ws.exists("dangling")


def test_a_file_in_the_middle_of_a_path(ws):
    error = refusal(ws.write, "real.txt/x", "x")
    assert error.message == "path \"real.txt/x\" goes through 'real.txt', which is a file, not a folder"


def test_text_that_is_not_utf8_and_files_that_are_not_regular(ws):
    (ws.root / "b.bin").write_bytes(b"\xff\xfe")
    assert refusal(ws.read, "b.bin").message == "file 'b.bin' is not UTF-8 text"
    os.mkfifo(ws.root / "pipe")
    assert refusal(ws.read, "pipe").message == 'path "pipe" is not a regular file'


def test_writes_replace_append_and_leave_no_temporary_file(ws):
    ws.write("d/e/f.txt", "one\n")
    ws.write("d/e/f.txt", "two\n", append=True)
    ws.write("new.txt", "x", append=True)
    assert ws.read("d/e/f.txt") == "one\ntwo\n" and ws.read("new.txt") == "x"
    assert sorted(os.listdir(ws.root / "d" / "e")) == ["f.txt"]
    ws.write("d/e/f.txt", "three\n")
    assert ws.read("d/e/f.txt") == "three\n"
    assert sorted(os.listdir(ws.root / "d" / "e")) == ["f.txt"]
    os.mkdir(ws.root / "d" / "e" / "folder")
    refusal(ws.write, "d/e/folder", "x")
    assert sorted(os.listdir(ws.root / "d" / "e")) == ["f.txt", "folder"]


def test_a_new_file_is_created_readable_by_its_owner_and_group(ws):
    ws.write("perm.txt", "x")
    mode = os.stat(ws.root / "perm.txt").st_mode & 0o777
    assert mode == 0o666 & ~_umask()


def _umask() -> int:
    current = os.umask(0)
    os.umask(current)
    return current


def test_symlink_targets_with_dot_and_trailing_slash_components(ws):
    (ws.root / "sub" / "f.txt").write_text("in sub\n")
    os.symlink("sub/", ws.root / "slash")
    os.symlink("./real.txt", ws.root / "dot")
    os.symlink("sub//./f.txt", ws.root / "doubled")
    assert ws.read("slash/f.txt") == "in sub\n"
    assert ws.read("dot") == "real\n"
    assert ws.read("doubled") == "in sub\n"


def test_errors_raised_without_a_line_have_none(ws):
    for operation, args in ((ws.read, ("gone.txt",)), (ws.read, ("no/f.txt",)),
                            (ws.write, ("real.txt/x", "x")), (ws.exists, ("/abs",))):
        with pytest.raises(RunError) as caught:
            operation(*args)
        assert caught.value.line == 0
