"""The knowledge base itself: adding (hashes, binaries, unreadable files,
gone files), searching with citations, removing, and SQLite's guarantees
under a concurrent writer."""

from __future__ import annotations

import socket
import sqlite3

import pytest

from tools.knowledge import KnowledgeError, base_path, match_expression, open_base
from tools.knowledge import store

from .corpus import make_corpus, word


@pytest.fixture
def base(tmp_path):
    with open_base(tmp_path, create=True) as kb:
        yield kb


def test_search_cites_path_and_line_range_of_the_best_passage(tmp_path, base):
    (tmp_path / "docs").mkdir()
    (tmp_path / "docs" / "guide.md").write_text(
        "# Guide\n\nWelcome.\n\n## Installing\n\nRun the installer with pip install quanta.\n\n"
        "## Removing\n\nDelete the folder.\n")
    report = base.add([str(tmp_path / "docs")])
    assert report.indexed == ["docs/guide.md"] and report.chunks == 3
    hits = base.search("how to install it", k=2)
    assert hits[0].source == "docs/guide.md:5-7"
    assert hits[0].heading == "Guide > Installing"
    assert "pip install quanta" in hits[0].text
    assert hits[0].to_json()["source"] == "docs/guide.md:5-7"


def test_readding_reindexes_only_changed_files_and_drops_gone_ones(tmp_path, base):
    docs = tmp_path / "docs"
    files = make_corpus(docs, 5)
    assert len(base.add([str(docs)]).indexed) == 5
    files[1].write_text("# Changed\n\nnew words: turbinate\n")
    files[4].unlink()
    report = base.add([str(docs)])
    assert report.indexed == ["docs/doc0001.md"]
    assert report.unchanged == 3
    assert report.removed == ["docs/doc0004.md"]
    assert base.search("turbinate")[0].path == "docs/doc0001.md"
    assert base.search(word(1)) == []                 # the old passages are gone
    assert base.search(word(4)) == []
    assert base.check() == []


def test_binary_files_are_skipped_and_counted_unreadable_ones_named(tmp_path, base):
    docs = tmp_path / "docs"
    docs.mkdir()
    (docs / "a.txt").write_text("plain words here")
    (docs / "image.png").write_bytes(b"\x89PNG\r\n\x1a\n\0\0\0")
    (docs / "latin1.txt").write_bytes("caf\xe9".encode("latin-1"))     # not UTF-8
    listener = socket.socket(socket.AF_UNIX)        # a socket: stat works, open fails, even for root
    listener.bind(str(docs / "socket.txt"))
    try:
        report = base.add([str(docs), str(tmp_path / "nothere.md")])
    finally:
        listener.close()
    assert report.indexed == ["docs/a.txt"]
    assert sorted(report.binary) == ["docs/image.png", "docs/latin1.txt"]
    assert [path for path, _ in report.unreadable] == ["docs/socket.txt"]
    assert report.missing == [str(tmp_path / "nothere.md")]


def test_globs_and_hidden_folders(tmp_path, base):
    make_corpus(tmp_path / "docs", 3)
    make_corpus(tmp_path / "docs" / ".git", 2)
    (tmp_path / "docs" / "notes.txt").write_text("text")
    assert len(base.add([str(tmp_path / "docs" / "*.md")]).indexed) == 3
    assert base.add([str(tmp_path / "docs")]).indexed == ["docs/notes.txt"]


def test_remove_files_and_folders(tmp_path, base):
    make_corpus(tmp_path / "a", 2)
    make_corpus(tmp_path / "b", 2)
    base.add([str(tmp_path / "a"), str(tmp_path / "b")])
    removed, unmatched = base.remove([str(tmp_path / "a"), str(tmp_path / "zzz")])
    assert removed == ["a/doc0000.md", "a/doc0001.md"] and unmatched == [str(tmp_path / "zzz")]
    assert [f["path"] for f in base.files()] == ["b/doc0000.md", "b/doc0001.md"]
    assert base.search(word(0))[0].path == "b/doc0000.md"
    assert base.stats()["files"] == 2 and base.check() == []


def test_a_query_is_words_never_fts_syntax():
    assert match_expression('title:"x" OR NEAR(a b) -c*') == '"title" OR "x" OR "near" OR "b" OR "c"'
    assert match_expression("how do I sort a list?") == '"sort" OR "list"'
    assert match_expression("how to") == '"how" OR "to"'      # only stop words: keep them
    with pytest.raises(KnowledgeError, match="no words"):
        match_expression("?!")


def test_a_missing_base_is_one_clear_error_and_is_not_created(tmp_path):
    with pytest.raises(KnowledgeError) as caught:
        open_base(tmp_path, "docs")
    assert "no knowledge base 'docs'" in caught.value.message
    assert caught.value.hint == "create it with: tiss kb add --kb docs PATH…"
    assert not base_path(tmp_path, "docs").exists()


@pytest.mark.parametrize("name", ["../up", "a/b", "", ".hidden", "x" * 65])
def test_base_names_cannot_be_paths(tmp_path, name):
    with pytest.raises(KnowledgeError, match="invalid knowledge base name"):
        base_path(tmp_path, name)


def test_a_file_that_is_not_a_knowledge_base_is_refused(tmp_path):
    path = base_path(tmp_path, "default")
    path.parent.mkdir(parents=True)
    path.write_text("not a database at all, just text" * 100)
    with pytest.raises(KnowledgeError, match="cannot be opened|not a knowledge base"):
        open_base(tmp_path)


def test_search_reads_while_another_connection_holds_the_write_lock(tmp_path, base):
    make_corpus(tmp_path / "docs", 3)
    base.add([str(tmp_path / "docs")])
    writer = sqlite3.connect(base.path, isolation_level=None)
    writer.execute("BEGIN IMMEDIATE")
    writer.execute("DELETE FROM chunks")            # uncommitted: readers do not see it
    try:
        with open_base(tmp_path) as reader:
            assert reader.search(word(2))[0].path == "docs/doc0002.md"
    finally:
        writer.execute("ROLLBACK")
        writer.close()


def test_a_writer_that_waits_too_long_gets_a_clear_error(tmp_path, base, monkeypatch):
    monkeypatch.setattr(store, "BUSY_TIMEOUT_MS", 50)
    make_corpus(tmp_path / "docs", 1)
    holder = sqlite3.connect(base.path, isolation_level=None)
    holder.execute("BEGIN IMMEDIATE")
    try:
        with open_base(tmp_path) as second, pytest.raises(KnowledgeError, match="busy"):
            second.add([str(tmp_path / "docs")])
    finally:
        holder.execute("ROLLBACK")
        holder.close()


def test_wal_mode_and_schema(base):
    assert base.db.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    assert base.stats()["chunks"] == 0 and base.check() == []


class FakeEmbedder:
    """A bag-of-letters embedder: the neighbour of the fusion code under test."""
    name = "letters"

    def embed(self, texts):
        import numpy as np
        rows = np.zeros((len(texts), 26), np.float32)
        for i, text in enumerate(texts):
            for ch in text.lower():
                if "a" <= ch <= "z":
                    rows[i, ord(ch) - 97] += 1
        return rows


def test_dense_and_hybrid_search_use_the_bases_own_embedder(tmp_path):
    make_corpus(tmp_path / "docs", 4)
    with open_base(tmp_path, "dense", create=True) as kb:
        kb.add([str(tmp_path / "docs")], embedder=FakeEmbedder())
        assert kb.stats()["vectors"] == kb.stats()["chunks"] > 0
        hybrid = kb.search(word(3), k=3, embedder=FakeEmbedder())
        assert hybrid[0].path == "docs/doc0003.md"              # BM25's exact hit survives fusion
        assert len(kb.search("lorem", k=2, mode="dense", embedder=FakeEmbedder())) == 2
        with pytest.raises(KnowledgeError, match="vectors"):
            kb.add([str(tmp_path / "docs")])                     # a dense base needs its embedder
        other = FakeEmbedder()
        other.name = "other"
        with pytest.raises(KnowledgeError, match="needs the model 'letters'"):
            kb.search("x", mode="dense", embedder=other)
        kb.remove([str(tmp_path / "docs" / "doc0000.md")])
        assert kb.stats()["vectors"] == kb.stats()["chunks"]    # vectors go with their passages


def test_reciprocal_rank_fusion_rewards_agreement():
    fused = store.reciprocal_rank_fusion([[(1, 9.0), (2, 8.0), (3, 7.0)], [(3, 0.9), (1, 0.8)]], 3)
    assert [item for item, _ in fused] == [1, 3, 2]
