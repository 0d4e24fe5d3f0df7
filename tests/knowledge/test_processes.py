"""Real processes against one base: an indexer SIGKILLed mid-way leaves a
consistent base that a re-add completes; concurrent adds and searches
neither corrupt the base nor fail."""

from __future__ import annotations

import json
import signal
import sqlite3
import subprocess
import sys
import textwrap
from pathlib import Path

from tests.waiting import wait_for
from tools.knowledge import chunk_text, open_base

from .corpus import make_corpus, word

TISS = [sys.executable, "-m", "runtime.cli"]
ROOT = Path(__file__).parents[2]


def tiss(workspace, *args) -> subprocess.CompletedProcess:
    return subprocess.run([*TISS, *args], cwd=workspace, capture_output=True, text=True, timeout=120)


def start_tiss(workspace, *args) -> subprocess.Popen:
    return subprocess.Popen([*TISS, *args], cwd=workspace, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)


def indexed_files(workspace) -> int:
    """How many files a reader sees as indexed (0 before the base exists)."""
    path = workspace / ".tiss" / "kb" / "default.sqlite"
    if not path.exists():
        return 0
    db = sqlite3.connect(f"file:{path}?mode=ro", uri=True, timeout=5)
    try:
        return db.execute("SELECT count(*) FROM files").fetchone()[0]
    except sqlite3.OperationalError:          # the schema is not committed yet
        return 0
    finally:
        db.close()


def assert_consistent(workspace) -> set[str]:
    """Integrity checks pass and every file the base lists is complete:
    exactly the passages a fresh chunking of its text gives."""
    with open_base(workspace) as base:
        assert base.check() == []
        listed = {entry["path"] for entry in base.files()}
        for name in listed:
            stored = base.db.execute(
                "SELECT c.start_line, c.end_line, c.text FROM chunks c JOIN files f ON f.id = c.file_id "
                "WHERE f.path = ? ORDER BY c.id", (name,)).fetchall()
            expected = [(c.start_line, c.end_line, c.text)
                        for c in chunk_text((workspace / name).read_text(), name, base.chunk_config)]
            assert stored == expected, name
    return listed


KILL_INSIDE_A_TRANSACTION = textwrap.dedent("""\
    import os, signal, sys
    sys.path.insert(0, {root!r})
    from tools.knowledge import open_base, store

    commits = 0
    original = store._Transaction.__exit__

    def exit_or_die(self, kind, value, traceback):
        global commits
        commits += 1
        if commits == 4:      # schema, two batches, then the third batch: written, not committed
            os.kill(os.getpid(), signal.SIGKILL)
        return original(self, kind, value, traceback)

    store._Transaction.__exit__ = exit_or_die
    with open_base({workspace!r}, create=True) as base:
        base.add(["docs"], batch_bytes=5_000)
    """)


def test_killed_inside_a_batch_transaction_the_batch_is_invisible_and_readd_completes(tmp_path):
    files = make_corpus(tmp_path / "docs", 30)
    script = KILL_INSIDE_A_TRANSACTION.format(root=str(ROOT), workspace=str(tmp_path))
    killed = subprocess.run([sys.executable, "-c", script], cwd=tmp_path, capture_output=True, timeout=60)
    assert killed.returncode == -signal.SIGKILL, killed.stderr
    listed = assert_consistent(tmp_path)
    assert 0 < len(listed) < len(files)          # the two committed batches, nothing of the third
    assert listed == {f"docs/doc{i:04d}.md" for i in range(len(listed))}

    again = tiss(tmp_path, "kb", "add", "docs", "--json")
    assert again.returncode == 0, again.stderr
    report = json.loads(again.stdout)
    assert report["unchanged"] == len(listed)
    assert len(report["indexed"]) == len(files) - len(listed)
    assert assert_consistent(tmp_path) == {f"docs/{f.name}" for f in files}
    last = len(files) - 1
    hits = json.loads(tiss(tmp_path, "kb", "search", word(last), "--json").stdout)["hits"]
    assert hits[0]["path"] == f"docs/doc{last:04d}.md"


def test_tiss_kb_add_sigkilled_midway_leaves_a_base_readd_completes(tmp_path):
    files = make_corpus(tmp_path / "docs", 600, paragraphs=6)
    indexer = start_tiss(tmp_path, "kb", "add", "docs")
    wait_for(lambda: indexed_files(tmp_path) > 0 or indexer.poll() is not None, "a first committed batch")
    indexer.send_signal(signal.SIGKILL)
    indexer.communicate(timeout=30)
    assert indexer.returncode == -signal.SIGKILL        # it was killed, not finished
    listed = assert_consistent(tmp_path)
    assert 0 < len(listed) < len(files)

    again = tiss(tmp_path, "kb", "add", "docs", "--json")
    assert again.returncode == 0, again.stderr
    assert json.loads(again.stdout)["unchanged"] == len(listed)
    assert len(assert_consistent(tmp_path)) == len(files)


def test_concurrent_adds_and_searches_all_succeed(tmp_path):
    make_corpus(tmp_path / "first", 400, paragraphs=6)
    make_corpus(tmp_path / "second", 40)
    assert tiss(tmp_path, "kb", "add", "first/doc0000.md").returncode == 0    # the base exists
    writers = [start_tiss(tmp_path, "kb", "add", "first"), start_tiss(tmp_path, "kb", "add", "second")]
    searches = []
    while any(w.poll() is None for w in writers) or not searches:
        searches.append(tiss(tmp_path, "kb", "search", word(0), "--json"))
    for writer in writers:
        out, err = writer.communicate(timeout=120)
        assert writer.returncode == 0, err
    for search in searches:
        assert search.returncode == 0, search.stderr
        assert json.loads(search.stdout)["hits"][0]["path"].endswith("doc0000.md")
    assert len(assert_consistent(tmp_path)) == 440
