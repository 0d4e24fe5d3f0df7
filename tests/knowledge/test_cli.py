"""``tiss kb`` as a user calls it: output, --json, exit codes, named bases,
and one clear error (never a traceback) for what a user can get wrong."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from .corpus import make_corpus, word

TISS = [sys.executable, "-m", "runtime.cli"]


def tiss(workspace, *args) -> subprocess.CompletedProcess:
    return subprocess.run([*TISS, *args], cwd=workspace, capture_output=True, text=True, timeout=60)


def test_add_search_list_remove_stats(tmp_path):
    make_corpus(tmp_path / "docs", 3)
    (tmp_path / "docs" / "logo.png").write_bytes(b"\x89PNG\0\0")
    added = tiss(tmp_path, "kb", "add", "docs")
    assert added.returncode == 0, added.stderr
    assert added.stdout.startswith("indexed 3 file(s), 6 passage(s)")
    assert "1 binary, skipped" in added.stdout

    found = tiss(tmp_path, "kb", "search", word(2), "-k", "1")
    assert found.returncode == 0
    assert found.stdout == (f"1. docs/doc0002.md:11-13  Document 2 > Details of {word(2)}\n"
                            f"   ## Details of {word(2)}\n   More about it.\n")

    listed = tiss(tmp_path, "kb", "list")
    assert listed.stdout.splitlines()[0].startswith("docs/doc0000.md  2 passage(s)")

    removed = tiss(tmp_path, "kb", "remove", "docs/doc0002.md")
    assert (removed.returncode, removed.stdout) == (0, "removed 1 file(s) from knowledge base 'default'\n")
    assert "no passage matches" in tiss(tmp_path, "kb", "search", word(2)).stdout

    stats = json.loads(tiss(tmp_path, "kb", "stats", "--json").stdout)
    assert (stats["files"], stats["chunks"], stats["bases"]) == (2, 4, ["default"])


def test_search_json_is_one_object_with_cited_hits(tmp_path):
    make_corpus(tmp_path / "docs", 2)
    tiss(tmp_path, "kb", "add", "docs")
    result = tiss(tmp_path, "kb", "search", f"details of {word(1)}", "--json", "-k", "5")
    data = json.loads(result.stdout)
    assert data["kb"] == "default" and data["query"] == f"details of {word(1)}"
    sources = [h["source"] for h in data["hits"]]
    assert sources[0] == "docs/doc0001.md:11-13"           # both words, in the weighted heading
    assert set(sources) == {"docs/doc0001.md:11-13", "docs/doc0001.md:1-9", "docs/doc0000.md:11-13"}
    assert set(data["hits"][0]) == {"source", "path", "start_line", "end_line", "heading", "text", "score"}


def test_named_bases_are_separate(tmp_path):
    make_corpus(tmp_path / "a", 1)
    make_corpus(tmp_path / "b", 2)
    assert tiss(tmp_path, "kb", "add", "--kb", "alpha", "a").returncode == 0
    assert tiss(tmp_path, "kb", "add", "b", "--kb", "beta").returncode == 0
    alpha = json.loads(tiss(tmp_path, "kb", "list", "--kb", "alpha", "--json").stdout)
    assert [f["path"] for f in alpha["files"]] == ["a/doc0000.md"]
    stats = json.loads(tiss(tmp_path, "kb", "stats", "--kb", "beta", "--json").stdout)
    assert stats["files"] == 2 and stats["bases"] == ["alpha", "beta"]
    assert (tmp_path / ".tiss" / "kb" / "alpha.sqlite").is_file()


def test_workspace_option_and_chunk_settings(tmp_path):
    make_corpus(tmp_path / "ws" / "docs", 1, paragraphs=8)
    made = tiss(tmp_path, "kb", "add", "ws/docs", "--workspace", "ws", "--chunk-size", "300", "--overlap", "0")
    assert made.returncode == 0, made.stderr
    stats = json.loads(tiss(tmp_path, "kb", "stats", "--workspace", "ws", "--json").stdout)
    assert (stats["max_chars"], stats["overlap"], stats["files"]) == (300, 0, 1)
    assert stats["chunks"] > 8
    changed = tiss(tmp_path, "kb", "add", "ws/docs", "--workspace", "ws", "--chunk-size", "600")
    assert changed.returncode == 2 and "fixed when a base is made" in changed.stderr


@pytest.mark.parametrize("args, code, words", [
    (["search", "x"], 2, "error: no knowledge base 'default' (looked for .tiss/kb/default.sqlite)\n"
                         "hint: create it with: tiss kb add PATH…"),
    (["list", "--kb", "docs"], 2, "hint: create it with: tiss kb add --kb docs PATH…"),
    (["stats", "--kb", "../etc"], 2, "error: invalid knowledge base name '../etc'"),
    (["add", "nothere"], 2, "error: nothing to add: nothere"),
    (["add", "x", "--chunk-size", "10"], 2, "chunk size 10 is too small"),
])
def test_mistakes_are_one_clear_error(tmp_path, args, code, words):
    result = tiss(tmp_path, "kb", *args)
    assert result.returncode == code
    assert words in result.stderr
    assert "Traceback" not in result.stderr


def test_partial_success_exits_1_and_names_what_failed(tmp_path):
    make_corpus(tmp_path / "docs", 1)
    result = tiss(tmp_path, "kb", "add", "docs", "missing.md")
    assert result.returncode == 1
    assert "no such file, folder or glob match: missing.md" in result.stderr
    removal = tiss(tmp_path, "kb", "remove", "other/")
    assert removal.returncode == 1 and "not in the base: other/" in removal.stderr


def test_search_with_no_words_is_a_clear_error(tmp_path):
    make_corpus(tmp_path / "docs", 1)
    tiss(tmp_path, "kb", "add", "docs")
    result = tiss(tmp_path, "kb", "search", "?!", "--json")
    assert result.returncode == 2
    assert json.loads(result.stdout)["error"] == "the query '?!' has no words to search for"


def test_dense_search_on_a_base_without_vectors_says_so(tmp_path):
    make_corpus(tmp_path / "docs", 1)
    tiss(tmp_path, "kb", "add", "docs")
    result = tiss(tmp_path, "kb", "search", "x", "--mode", "dense")
    assert result.returncode == 2 and "this base has no dense vectors" in result.stderr


def test_a_long_add_on_a_terminal_shows_a_progress_bar(tmp_path):
    import os
    import pty

    make_corpus(tmp_path / "docs", 300, paragraphs=16)          # over a megabyte
    leader, follower = pty.openpty()
    with subprocess.Popen([*TISS, "kb", "add", "docs"], cwd=tmp_path, stdout=subprocess.PIPE,
                          stderr=follower, stdin=subprocess.DEVNULL) as process:
        os.close(follower)
        drawn = b""
        while True:
            try:
                chunk = os.read(leader, 65536)
            except OSError:      # the terminal closed with the process
                break
            if not chunk:
                break
            drawn += chunk
        out = process.stdout.read().decode()
    os.close(leader)
    assert process.returncode == 0
    assert b"indexing" in drawn and "\u2501".encode() in drawn        # rich's bar
    assert out.startswith("indexed 300 file(s)")


def test_a_short_add_or_a_pipe_shows_no_bar(tmp_path):
    make_corpus(tmp_path / "docs", 300, paragraphs=16)
    result = tiss(tmp_path, "kb", "add", "docs")
    assert result.returncode == 0 and result.stderr == ""
