"""A knowledge base: one SQLite file of passages, searched with FTS5's BM25.

Why these choices:

- SQLite from the standard library: one file, no server, and transactions
  that survive a crash. WAL mode lets searches read while ``add`` writes;
  ``busy_timeout`` makes a second writer wait its turn instead of failing.
- One transaction per batch of files: a file's old passages, its new ones and
  its row in ``files`` (with the content hash that marks it indexed) change
  together or not at all, so a process killed mid-index leaves every file
  either as it was or completely re-indexed, never half.
- Content hashes (SHA-256): re-adding a folder re-indexes only the files whose
  bytes changed, and drops the ones that are gone.
- FTS5 as an external-content index over ``chunks`` (kept in step by
  triggers), with the porter stemmer so that "sorting" finds "sort"; BM25
  weighs a match in the section's own title above one in the headings
  above it or in the body.
- Optional dense vectors (an embedder passed in, e.g. TissLM's hidden states:
  this package imports no model), fused with BM25 by reciprocal rank fusion.
  Stored as float32 blobs in the same file; the standard library's sqlite3
  here cannot load extensions (sqlite-vec), and a brute-force product over
  ~10k normalised vectors costs about a millisecond.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import sqlite3
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Callable, Iterable, Protocol, Sequence

from tisslang.paths import KNOWLEDGE_NAME, KNOWLEDGE_NAME_HINT

from .chunking import HEADING_SEPARATOR, Chunk, ChunkConfig, chunk_text

SCHEMA_VERSION = 1
BUSY_TIMEOUT_MS = 5000        # how long a writer waits for another one
BATCH_BYTES = 1 << 20         # a transaction covers about this much text …
BATCH_FILES = 200             # … or this many files, whichever comes first
MAX_FILE_BYTES = 16 << 20     # larger files are skipped (logs, dumps), not indexed
BINARY_PROBE = 8192           # a NUL byte in the first bytes means binary
QUERY_TERMS = 32              # longer queries keep their first terms
RRF_K = 60                    # reciprocal rank fusion's damping constant
FUSION_DEPTH = 50             # candidates each ranking hands to the fusion
# BM25 column weights: the section's own title, the path of headings above it, the body.
TITLE_WEIGHT, HEADING_WEIGHT, TEXT_WEIGHT = 4.0, 1.0, 1.0
SKIPPED_FOLDERS = {"__pycache__", "node_modules"}   # besides hidden folders (.git, .tiss, .venv)
MODES = ("bm25", "dense", "hybrid")

# Words that carry no topic: dropped from queries (unless nothing else is left).
STOPWORDS = frozenset("""
a an and are as at be by can do does for from how i in is it me my of on or should the this to
what when where which who why will with you your use using used about into get
""".split())

SCHEMA = """
CREATE TABLE meta(key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE files(id INTEGER PRIMARY KEY, path TEXT UNIQUE NOT NULL, sha256 TEXT NOT NULL,
                   bytes INTEGER NOT NULL, chunks INTEGER NOT NULL, indexed_at REAL NOT NULL);
CREATE TABLE chunks(id INTEGER PRIMARY KEY, file_id INTEGER NOT NULL, start_line INTEGER NOT NULL,
                    end_line INTEGER NOT NULL, title TEXT NOT NULL, heading TEXT NOT NULL,
                    text TEXT NOT NULL);
CREATE INDEX chunks_by_file ON chunks(file_id);
CREATE VIRTUAL TABLE chunks_fts USING fts5(title, heading, text, content='chunks', content_rowid='id',
                                           tokenize='porter unicode61 remove_diacritics 2');
CREATE TABLE vectors(chunk_id INTEGER PRIMARY KEY, vector BLOB NOT NULL);
CREATE TRIGGER chunks_ai AFTER INSERT ON chunks BEGIN
  INSERT INTO chunks_fts(rowid, title, heading, text) VALUES (new.id, new.title, new.heading, new.text);
END;
CREATE TRIGGER chunks_ad AFTER DELETE ON chunks BEGIN
  INSERT INTO chunks_fts(chunks_fts, rowid, title, heading, text)
    VALUES ('delete', old.id, old.title, old.heading, old.text);
  DELETE FROM vectors WHERE chunk_id = old.id;
END;
"""


class KnowledgeError(Exception):
    """Something the user can fix: the message says what, the hint how."""

    def __init__(self, message: str, hint: str | None = None):
        super().__init__(message)
        self.message, self.hint = message, hint

    def report(self) -> str:
        return f"{self.message}\nhint: {self.hint}" if self.hint else self.message


class Embedder(Protocol):
    """Turns texts into vectors (rows); ``name`` identifies the model, so a
    base is never searched with vectors from another one."""
    name: str

    def embed(self, texts: Sequence[str]): ...


@dataclass
class Hit:
    path: str
    start_line: int
    end_line: int
    heading: str
    text: str
    score: float

    @property
    def source(self) -> str:
        """What an answer cites: ``path:first-last``."""
        return f"{self.path}:{self.start_line}-{self.end_line}"

    def to_json(self) -> dict:
        return {"source": self.source, **asdict(self)}


@dataclass
class AddReport:
    """What one ``add`` did; the CLI prints it, tests read it."""
    indexed: list[str] = field(default_factory=list)
    unchanged: int = 0
    removed: list[str] = field(default_factory=list)       # gone from a re-added folder
    binary: list[str] = field(default_factory=list)
    too_large: list[str] = field(default_factory=list)
    unreadable: list[tuple[str, str]] = field(default_factory=list)   # (path, why)
    missing: list[str] = field(default_factory=list)       # arguments that name nothing
    chunks: int = 0
    bytes: int = 0

    def to_json(self) -> dict:
        data = asdict(self)
        data["unreadable"] = [{"path": p, "error": e} for p, e in self.unreadable]
        return data


@dataclass
class Progress:
    """Called with (bytes done, bytes in all, path) as files are processed."""
    total_bytes: int
    callback: Callable[[int, int, str], None] | None = None
    done: int = 0

    def advance(self, size: int, path: str) -> None:
        self.done += size
        if self.callback:
            self.callback(self.done, self.total_bytes, path)


class KnowledgeBase:
    """One base file. ``open`` refuses a missing file unless ``create``."""

    def __init__(self, connection: sqlite3.Connection, path: Path, workspace: Path | None):
        self.db, self.path = connection, path
        self.workspace = Path(workspace).resolve() if workspace else None
        self._vectors = None      # (data_version, ids, matrix) cache for dense search

    @classmethod
    def open(cls, path, *, create: bool = False, workspace=None, name: str | None = None,
             config: ChunkConfig | None = None) -> "KnowledgeBase":
        path = Path(path)
        label = f"knowledge base {name!r}" if name else f"knowledge base {str(path)!r}"
        if not path.exists() and not create:
            raise KnowledgeError(f"no {label} (looked for {path})",
                                 f"create it with: tiss kb add{_kb_flag(name)} PATH…")
        if create:
            path.parent.mkdir(parents=True, exist_ok=True)
        try:
            db = sqlite3.connect(path, timeout=BUSY_TIMEOUT_MS / 1000, isolation_level=None,
                                 check_same_thread=False)
            db.execute(f"PRAGMA busy_timeout = {BUSY_TIMEOUT_MS}")
            base = cls(db, path, workspace)
            base._prepare(create, config or ChunkConfig(), label)
        except sqlite3.DatabaseError as exc:
            raise KnowledgeError(f"{label} at {path} cannot be opened: {exc}",
                                 "it is not a knowledge base, or it is damaged: remove the file "
                                 "and add the documents again") from None
        return base

    def _prepare(self, create: bool, config: ChunkConfig, label: str) -> None:
        """WAL mode and the schema (made once, in one transaction)."""
        self.db.execute("PRAGMA journal_mode = WAL")
        self.db.execute("PRAGMA synchronous = NORMAL")   # in WAL: a crash loses no committed batch
        has_meta = self.db.execute(
            "SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'meta'").fetchone()
        if not has_meta:
            if not create:
                raise KnowledgeError(f"{label} at {self.path} is not a knowledge base",
                                     "tiss kb add creates one; remove this file first")
            with self.transaction():
                if not self.db.execute("SELECT 1 FROM sqlite_master WHERE name = 'meta'").fetchone():
                    for statement in _statements(SCHEMA):
                        self.db.execute(statement)
                    self._set_meta({"schema": SCHEMA_VERSION, "max_chars": config.max_chars,
                                    "overlap": config.overlap, "created_at": time.time()})
        version = int(self.meta().get("schema", 0))
        if version != SCHEMA_VERSION:
            raise KnowledgeError(f"{label} has schema version {version}; this tiss reads {SCHEMA_VERSION}",
                                 "remove the file and add the documents again")

    def close(self) -> None:
        self.db.close()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    # --- metadata ---------------------------------------------------------

    def meta(self) -> dict[str, str]:
        return dict(self.db.execute("SELECT key, value FROM meta"))

    def _set_meta(self, values: dict) -> None:
        self.db.executemany("INSERT OR REPLACE INTO meta(key, value) VALUES (?, ?)",
                            [(k, json.dumps(v) if not isinstance(v, str) else v) for k, v in values.items()])

    @property
    def chunk_config(self) -> ChunkConfig:
        meta = self.meta()
        return ChunkConfig(int(meta["max_chars"]), int(meta["overlap"]))

    @property
    def embedder_name(self) -> str | None:
        return self.meta().get("embedder")

    def transaction(self):
        return _Transaction(self.db)

    # --- adding -----------------------------------------------------------

    def add(self, paths: Iterable[str], *, embedder: Embedder | None = None,
            progress: Callable[[int, int, str], None] | None = None,
            batch_bytes: int = BATCH_BYTES) -> AddReport:
        """Index files, folders (recursively) and globs. Files whose content
        hash is unchanged are skipped; files gone from a re-added folder are
        dropped. Each batch of files is one transaction."""
        report = AddReport()
        embedder = self._check_embedder(embedder)
        found, roots = self._collect(paths, report)
        known = dict(self.db.execute("SELECT path, sha256 FROM files"))
        tracker = Progress(sum(size for _, _, size in found), progress)
        batch: list[tuple[str, str, int, list[Chunk]]] = []
        batch_size = 0
        config = self.chunk_config
        for name, real, size in found:
            entry = self._read(name, real, size, known, report, config)
            tracker.advance(size, name)
            if entry is None:
                continue
            batch.append(entry)
            batch_size += size
            if batch_size >= batch_bytes or len(batch) >= BATCH_FILES:
                self._write_batch(batch, embedder, report)
                batch, batch_size = [], 0
        if batch:
            self._write_batch(batch, embedder, report)
        self._drop_gone(roots, {name for name, _, _ in found}, known, report)
        return report

    def _check_embedder(self, embedder: Embedder | None) -> Embedder | None:
        """A base with vectors needs the same embedder for every file;
        the first add with an embedder decides."""
        current = self.embedder_name
        if embedder is None:
            if current:
                raise KnowledgeError(f"this base has dense vectors from {current!r}; new files need them too",
                                     "add with --dense (and the same model configured)")
            return None
        if current and current != embedder.name:
            raise KnowledgeError(f"this base's vectors come from {current!r}, not {embedder.name!r}",
                                 "configure the same model, or make a new base with --kb NAME")
        if not current:
            if self.db.execute("SELECT count(*) FROM files").fetchone()[0]:
                raise KnowledgeError("this base already has files without vectors",
                                     "make a new base for dense retrieval: tiss kb add --kb NAME --dense PATH…")
            with self.transaction():
                self._set_meta({"embedder": embedder.name})
        return embedder

    def _collect(self, paths: Iterable[str], report: AddReport):
        """(stored name, real path, size) of every file the arguments name,
        sorted and unique; also the folders given (for dropping gone files)."""
        files: dict[str, tuple[Path, int]] = {}
        roots: list[str] = []
        for argument in paths:
            matches = _expand(argument)
            if not matches:
                report.missing.append(argument)
            for match in matches:
                if match.is_dir():
                    roots.append(self.stored_name(match))
                    for file in _walk(match):
                        self._note_file(file, files, report)
                else:
                    self._note_file(match, files, report)
        return [(name, real, size) for name, (real, size) in sorted(files.items())], roots

    def _note_file(self, file: Path, files: dict, report: AddReport) -> None:
        name = self.stored_name(file)
        try:
            size = file.stat().st_size
        except OSError as exc:
            report.unreadable.append((name, exc.strerror or str(exc)))
            return
        files[name] = (file, size)

    def stored_name(self, file: Path) -> str:
        """How a file is named in the base and in citations: relative to the
        workspace when inside it, else absolute."""
        resolved = Path(os.path.abspath(file))
        if self.workspace:
            try:
                return resolved.relative_to(self.workspace).as_posix()
            except ValueError:
                pass
        return resolved.as_posix()

    def _read(self, name, real: Path, size: int, known: dict, report: AddReport, config: ChunkConfig):
        """The file's (name, hash, size, chunks) if it needs indexing; None
        when it is unchanged, binary, too large or unreadable (counted)."""
        if size > MAX_FILE_BYTES:
            report.too_large.append(name)
            return None
        try:
            data = real.read_bytes()
        except OSError as exc:
            report.unreadable.append((name, exc.strerror or str(exc)))
            return None
        if b"\0" in data[:BINARY_PROBE]:
            report.binary.append(name)
            return None
        digest = hashlib.sha256(data).hexdigest()
        if known.get(name) == digest:
            report.unchanged += 1
            return None
        try:
            text = data.decode("utf-8")
        except UnicodeDecodeError:
            report.binary.append(name)
            return None
        return name, digest, len(data), chunk_text(text, name, config)

    def _write_batch(self, batch, embedder: Embedder | None, report: AddReport) -> None:
        vectors = None
        if embedder is not None:
            texts = [_embed_text(c) for _, _, _, chunks in batch for c in chunks]
            vectors = _as_float32_rows(embedder.embed(texts)) if texts else []
        with self.transaction():
            next_id = self.db.execute("SELECT coalesce(max(id), 0) + 1 FROM chunks").fetchone()[0]
            rows, vector_rows = [], []
            for name, digest, size, chunks in batch:
                self._forget(name)
                file_id = self.db.execute(
                    "INSERT INTO files(path, sha256, bytes, chunks, indexed_at) VALUES (?, ?, ?, ?, ?)",
                    (name, digest, size, len(chunks), time.time())).lastrowid
                for chunk in chunks:
                    rows.append((next_id, file_id, chunk.start_line, chunk.end_line,
                                 chunk.heading.rpartition(HEADING_SEPARATOR)[2], chunk.heading, chunk.text))
                    if vectors is not None:
                        vector_rows.append((next_id, vectors[len(vector_rows)].tobytes()))
                    next_id += 1
            self.db.executemany("INSERT INTO chunks VALUES (?, ?, ?, ?, ?, ?, ?)", rows)
            self.db.executemany("INSERT INTO vectors VALUES (?, ?)", vector_rows)
        for name, _, size, chunks in batch:
            report.indexed.append(name)
            report.chunks += len(chunks)
            report.bytes += size

    def _forget(self, name: str) -> bool:
        """Drop a file and its passages (inside the caller's transaction)."""
        row = self.db.execute("SELECT id FROM files WHERE path = ?", (name,)).fetchone()
        if row is None:
            return False
        self.db.execute("DELETE FROM chunks WHERE file_id = ?", row)
        self.db.execute("DELETE FROM files WHERE id = ?", row)
        return True

    def _drop_gone(self, roots: list[str], seen: set[str], known: dict, report: AddReport) -> None:
        gone = [name for name in known if name not in seen and any(_under(name, r) for r in roots)]
        if gone:
            with self.transaction():
                for name in gone:
                    self._forget(name)
            report.removed.extend(gone)

    # --- removing, listing ------------------------------------------------

    def remove(self, paths: Iterable[str]) -> tuple[list[str], list[str]]:
        """Drop files (or everything under folders); returns (removed, arguments that matched nothing)."""
        known = [name for (name,) in self.db.execute("SELECT path FROM files")]
        removed, unmatched = [], []
        with self.transaction():
            for argument in paths:
                target = self.stored_name(Path(argument))
                names = [n for n in known if _under(n, target) and n not in removed]
                if not names:
                    unmatched.append(argument)
                for name in names:
                    self._forget(name)
                    removed.append(name)
        return removed, unmatched

    def files(self) -> list[dict]:
        rows = self.db.execute("SELECT path, bytes, chunks, indexed_at, sha256 FROM files ORDER BY path")
        return [{"path": p, "bytes": b, "chunks": c, "indexed_at": t, "sha256": h} for p, b, c, t, h in rows]

    def stats(self) -> dict:
        files, size = self.db.execute("SELECT count(*), coalesce(sum(bytes), 0) FROM files").fetchone()
        chunks = self.db.execute("SELECT count(*) FROM chunks").fetchone()[0]
        vectors = self.db.execute("SELECT count(*) FROM vectors").fetchone()[0]
        on_disk = sum(p.stat().st_size for p in self.path.parent.glob(self.path.name + "*") if p.is_file())
        config = self.chunk_config
        return {"path": str(self.path), "files": files, "chunks": chunks, "text_bytes": size,
                "disk_bytes": on_disk, "vectors": vectors, "embedder": self.embedder_name,
                "max_chars": config.max_chars, "overlap": config.overlap}

    def check(self) -> list[str]:
        """Problems found by SQLite's and FTS5's own integrity checks (none: [])."""
        problems = [row[0] for row in self.db.execute("PRAGMA integrity_check") if row[0] != "ok"]
        try:
            self.db.execute("INSERT INTO chunks_fts(chunks_fts, rank) VALUES ('integrity-check', 1)")
        except sqlite3.DatabaseError as exc:
            problems.append(f"full-text index: {exc}")
        mismatched = self.db.execute(
            "SELECT f.path FROM files f LEFT JOIN chunks c ON c.file_id = f.id "
            "GROUP BY f.id HAVING count(c.id) != f.chunks").fetchall()
        problems += [f"{path}: its passage count differs from the one recorded" for (path,) in mismatched]
        return problems

    # --- searching --------------------------------------------------------

    def search(self, query: str, k: int = 5, *, mode: str | None = None,
               embedder: Embedder | None = None) -> list[Hit]:
        """The ``k`` best passages. ``mode``: bm25, dense or hybrid; by
        default hybrid when the base has vectors and an embedder is given,
        else bm25."""
        if k < 1:
            raise KnowledgeError(f"k must be at least 1, got {k}")
        mode = mode or ("hybrid" if embedder is not None and self.embedder_name else "bm25")
        if mode not in MODES:
            raise KnowledgeError(f"unknown search mode {mode!r}", "use one of: " + ", ".join(MODES))
        if mode == "bm25":
            return self._hits(self._bm25_ids(query, k))
        self._check_dense(embedder)
        dense = self._dense_ids(query, embedder, k if mode == "dense" else FUSION_DEPTH)
        if mode == "dense":
            return self._hits(dense)
        return self._hits(reciprocal_rank_fusion([self._bm25_ids(query, FUSION_DEPTH), dense], k))

    def _bm25_ids(self, query: str, k: int) -> list[tuple[int, float]]:
        expression = match_expression(query)
        rows = self.db.execute(
            f"SELECT rowid, bm25(chunks_fts, {TITLE_WEIGHT}, {HEADING_WEIGHT}, {TEXT_WEIGHT}) AS score "
            "FROM chunks_fts "
            "WHERE chunks_fts MATCH ? ORDER BY score LIMIT ?", (expression, k))
        return [(rowid, -score) for rowid, score in rows]      # bm25() is lower-is-better

    def _check_dense(self, embedder: Embedder | None) -> None:
        if not self.embedder_name:
            raise KnowledgeError("this base has no dense vectors",
                                 "search with --mode bm25, or build a base with tiss kb add --dense")
        if embedder is None or embedder.name != self.embedder_name:
            raise KnowledgeError(f"dense search needs the model {self.embedder_name!r} that made the vectors",
                                 "configure that model, or search with --mode bm25")

    def _dense_ids(self, query: str, embedder: Embedder, k: int) -> list[tuple[int, float]]:
        import numpy as np

        ids, matrix = self._vector_matrix()
        if not len(ids):
            return []
        q = _as_float32_rows(embedder.embed([query]))[0]
        q = q / (np.linalg.norm(q) or 1.0)
        scores = matrix @ q
        top = np.argpartition(-scores, min(k, len(ids)) - 1)[:k]
        top = top[np.argsort(-scores[top])]
        return [(int(ids[i]), float(scores[i])) for i in top]

    def _vector_matrix(self):
        """Every vector, normalised, cached until another write lands."""
        import numpy as np

        version = self.db.execute("PRAGMA data_version").fetchone()[0], self.db.total_changes
        if self._vectors is None or self._vectors[0] != version:
            rows = self.db.execute("SELECT chunk_id, vector FROM vectors ORDER BY chunk_id").fetchall()
            ids = np.array([r[0] for r in rows], dtype=np.int64)
            matrix = np.stack([np.frombuffer(r[1], dtype=np.float32) for r in rows]) if rows \
                else np.zeros((0, 1), np.float32)
            norms = np.linalg.norm(matrix, axis=1, keepdims=True)
            self._vectors = (version, ids, matrix / np.where(norms == 0, 1, norms))
        return self._vectors[1], self._vectors[2]

    def _hits(self, ranked: list[tuple[int, float]]) -> list[Hit]:
        if not ranked:
            return []
        marks = ",".join("?" * len(ranked))
        rows = self.db.execute(
            "SELECT c.id, f.path, c.start_line, c.end_line, c.heading, c.text FROM chunks c "
            f"JOIN files f ON f.id = c.file_id WHERE c.id IN ({marks})", [i for i, _ in ranked])
        by_id = {row[0]: row[1:] for row in rows}
        return [Hit(*by_id[i], score=float(f"{score:.6g}")) for i, score in ranked if i in by_id]


def reciprocal_rank_fusion(rankings: list[list[tuple[int, float]]], k: int) -> list[tuple[int, float]]:
    """Fuse rankings by summing 1 / (RRF_K + rank): robust to the rankers'
    incomparable score scales (Cormack et al., 2009)."""
    fused: dict[int, float] = {}
    for ranking in rankings:
        for rank, (item, _) in enumerate(ranking, start=1):
            fused[item] = fused.get(item, 0.0) + 1.0 / (RRF_K + rank)
    return sorted(fused.items(), key=lambda pair: -pair[1])[:k]


def match_expression(query: str) -> str:
    """A user's words as an FTS5 query: each word quoted (so nothing in the
    query is FTS5 syntax), stop words dropped, any word may match (BM25
    ranks passages with more of them, and rarer ones, higher)."""
    words = list(dict.fromkeys(w.lower() for w in _WORD.findall(query)))
    kept = [w for w in words if w not in STOPWORDS] or words
    if not kept:
        raise KnowledgeError(f"the query {query!r} has no words to search for",
                             'ask with words, e.g. tiss kb search "how to install"')
    return " OR ".join(f'"{w}"' for w in kept[:QUERY_TERMS])


def base_path(workspace, name: str = "default") -> Path:
    """Where the base called ``name`` lives: the workspace's ``.tiss/kb/``."""
    if not KNOWLEDGE_NAME.fullmatch(name or ""):
        raise KnowledgeError(f"invalid knowledge base name {name!r}", KNOWLEDGE_NAME_HINT)
    return Path(workspace) / ".tiss" / "kb" / f"{name}.sqlite"


def base_names(workspace) -> list[str]:
    folder = Path(workspace) / ".tiss" / "kb"
    return sorted(p.name[:-len(".sqlite")] for p in folder.glob("*.sqlite")) if folder.is_dir() else []


def open_base(workspace, name: str = "default", *, create: bool = False,
              config: ChunkConfig | None = None) -> KnowledgeBase:
    """The named base of a workspace (``create``: made on first use)."""
    return KnowledgeBase.open(base_path(workspace, name), create=create, workspace=workspace,
                              name=name, config=config)


class _Transaction:
    """``BEGIN IMMEDIATE`` … ``COMMIT``: takes the write lock up front (waiting
    up to the busy timeout), so two writers queue instead of deadlocking."""

    def __init__(self, db: sqlite3.Connection):
        self.db = db

    def __enter__(self):
        try:
            self.db.execute("BEGIN IMMEDIATE")
        except sqlite3.OperationalError as exc:
            if "locked" in str(exc) or "busy" in str(exc):
                raise KnowledgeError("the knowledge base is busy: another process kept it locked "
                                     f"for more than {BUSY_TIMEOUT_MS // 1000} s",
                                     "wait for the other tiss kb add to finish, then try again") from None
            raise
        return self.db

    def __exit__(self, kind, value, traceback):
        self.db.execute("ROLLBACK" if kind else "COMMIT")


def _expand(argument: str) -> list[Path]:
    """A file, a folder, or a glob (``**`` recursive) -> existing paths."""
    path = Path(argument).expanduser()
    if path.exists():
        return [path]
    if any(ch in argument for ch in "*?["):
        import glob
        return [Path(p) for p in sorted(glob.glob(str(path), recursive=True))]
    return []


def _walk(folder: Path):
    """Files under a folder, sorted, skipping hidden folders and caches."""
    for root, dirs, files in os.walk(folder):
        dirs[:] = sorted(d for d in dirs if not d.startswith(".") and d not in SKIPPED_FOLDERS)
        for name in sorted(files):
            path = Path(root) / name
            if not path.is_symlink() or path.is_file():
                yield path


def _under(name: str, root: str) -> bool:
    return name == root or name.startswith(root.rstrip("/") + "/")


def _embed_text(chunk: Chunk) -> str:
    return f"{chunk.heading}\n{chunk.text}" if chunk.heading else chunk.text


def _as_float32_rows(vectors):
    import numpy as np
    return np.ascontiguousarray(np.asarray(vectors, dtype=np.float32))


def _statements(script: str) -> list[str]:
    """The schema's statements (a trigger body holds ';' of its own)."""
    statements, current = [], []
    for line in script.strip().splitlines():
        current.append(line)
        text = "\n".join(current)
        if line.rstrip().endswith(";") and sqlite3.complete_statement(text):
            statements.append(text)
            current = []
    return statements


def _kb_flag(name: str | None) -> str:
    return f" --kb {name}" if name and name != "default" else ""


_WORD = re.compile(r"\w+")
