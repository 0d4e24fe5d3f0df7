"""``tiss kb add|search|list|remove|stats``: knowledge bases (docs/knowledge.md).

Bases live in the workspace's ``.tiss/kb/NAME.sqlite`` (``--kb NAME``,
default ``default``). Exit codes: 0 done; 1 done in part (a file could not be
read, a path matched nothing); 2 nothing done (no such base, bad arguments).
"""

from __future__ import annotations

import json
import sys
import time

from tools.knowledge import ChunkConfig, KnowledgeError, base_names, base_path, open_base

PROGRESS_MIN_BYTES = 1 << 20   # smaller jobs finish before a bar is worth drawing


def register(subparsers) -> None:
    import argparse

    common = argparse.ArgumentParser(add_help=False)
    common.add_argument("--kb", default="default", metavar="NAME", help="which base (default: default)")
    common.add_argument("--workspace", default=".", help="whose .tiss/kb/ holds the bases (default: .)")
    common.add_argument("--json", action="store_true", help="print one JSON object on stdout")

    kb = subparsers.add_parser("kb", help="knowledge bases: index documents, search them")
    commands = kb.add_subparsers(dest="kb_command", metavar="COMMAND")
    kb.set_defaults(func=lambda args: _help(kb))

    add = commands.add_parser("add", parents=[common], help="index files, folders and globs")
    add.add_argument("paths", nargs="+", metavar="PATH")
    add.add_argument("--dense", action="store_true",
                     help="also store TissLM embeddings (hybrid search; a new base only)")
    add.add_argument("--chunk-size", type=int, metavar="CHARS", help="passage size for a new base (default 1200)")
    add.add_argument("--overlap", type=int, metavar="LINES",
                     help="lines shared by consecutive passages of a section, for a new base (default 2)")
    add.set_defaults(func=cmd_add)

    search = commands.add_parser("search", parents=[common], help="the best passages for a question")
    search.add_argument("query")
    search.add_argument("-k", type=int, default=5, metavar="N", help="how many passages (default 5)")
    search.add_argument("--mode", choices=("bm25", "dense", "hybrid"),
                        help="ranking (default: hybrid for a base with vectors, else bm25)")
    search.set_defaults(func=cmd_search)

    listing = commands.add_parser("list", parents=[common], help="the files in a base")
    listing.set_defaults(func=cmd_list)

    remove = commands.add_parser("remove", parents=[common], help="drop files or folders from a base")
    remove.add_argument("paths", nargs="+", metavar="PATH")
    remove.set_defaults(func=cmd_remove)

    stats = commands.add_parser("stats", parents=[common], help="sizes and settings of a base")
    stats.set_defaults(func=cmd_stats)


def _help(parser) -> int:
    parser.print_help()
    return 2


# --- commands -------------------------------------------------------------


def cmd_add(args) -> int:

    try:
        config = None
        if args.chunk_size is not None or args.overlap is not None:
            config = _chunk_config(args)
        existed = base_path(args.workspace, args.kb).exists()
        embedder = _embedder() if args.dense else None
        with open_base(args.workspace, args.kb, create=True, config=config) as base:
            if existed and config is not None and config != base.chunk_config:
                raise KnowledgeError(f"base {args.kb!r} was made with chunk size {base.chunk_config.max_chars} "
                                     f"and overlap {base.chunk_config.overlap}",
                                     "passage settings are fixed when a base is made: use a new --kb NAME")
            if embedder is None and base.embedder_name:
                embedder = _embedder()
            started = time.perf_counter()
            with _progress_bar() as progress:
                report = base.add(args.paths, embedder=embedder, progress=progress)
            seconds = time.perf_counter() - started
    except (KnowledgeError, ValueError) as exc:
        return _fail(exc, args.json)
    if not (report.indexed or report.unchanged or report.removed or report.binary or report.too_large
            or report.unreadable):
        return _fail(KnowledgeError("nothing to add: " + ", ".join(report.missing),
                                    "give files, folders or globs that exist"), args.json)
    _print_add(report, args, seconds)
    return 1 if report.unreadable or report.missing else 0


def _chunk_config(args) -> ChunkConfig:
    defaults = ChunkConfig()
    return ChunkConfig(args.chunk_size if args.chunk_size is not None else defaults.max_chars,
                       args.overlap if args.overlap is not None else defaults.overlap)


def _print_add(report, args, seconds: float) -> None:
    if args.json:
        print(json.dumps({"kb": args.kb, "seconds": round(seconds, 3), **report.to_json()}))
        return
    print(f"indexed {len(report.indexed)} file(s), {report.chunks} passage(s), {_mb(report.bytes)} "
          f"in {seconds:.1f} s into knowledge base {args.kb!r}")
    counts = [("unchanged", report.unchanged), ("binary, skipped", len(report.binary)),
              ("too large, skipped", len(report.too_large)), ("gone, removed", len(report.removed))]
    extra = ", ".join(f"{n} {what}" for what, n in counts if n)
    if extra:
        print(extra)
    for path, why in report.unreadable:
        print(f"cannot read {path}: {why}", file=sys.stderr)
    for argument in report.missing:
        print(f"no such file, folder or glob match: {argument}", file=sys.stderr)


def cmd_search(args) -> int:

    try:
        with open_base(args.workspace, args.kb) as base:
            embedder = _embedder() if base.embedder_name and args.mode != "bm25" else None
            hits = base.search(args.query, args.k, mode=args.mode, embedder=embedder)
    except KnowledgeError as exc:
        return _fail(exc, args.json)
    if args.json:
        print(json.dumps({"kb": args.kb, "query": args.query, "hits": [h.to_json() for h in hits]}))
        return 0
    if not hits:
        print(f"no passage matches {args.query!r}")
    for rank, hit in enumerate(hits, start=1):
        heading = f"  {hit.heading}" if hit.heading else ""
        print(f"{rank}. {hit.source}{heading}")
        for line in _preview(hit.text):
            print(f"   {line}")
    return 0


def cmd_list(args) -> int:

    try:
        with open_base(args.workspace, args.kb) as base:
            files = base.files()
    except KnowledgeError as exc:
        return _fail(exc, args.json)
    if args.json:
        print(json.dumps({"kb": args.kb, "files": files}))
        return 0
    if not files:
        print(f"knowledge base {args.kb!r} is empty")
    for entry in files:
        print(f"{entry['path']}  {entry['chunks']} passage(s), {_mb(entry['bytes'])}")
    return 0


def cmd_remove(args) -> int:

    try:
        with open_base(args.workspace, args.kb) as base:
            removed, unmatched = base.remove(args.paths)
    except KnowledgeError as exc:
        return _fail(exc, args.json)
    if args.json:
        print(json.dumps({"kb": args.kb, "removed": removed, "unmatched": unmatched}))
    else:
        print(f"removed {len(removed)} file(s) from knowledge base {args.kb!r}")
        for argument in unmatched:
            print(f"not in the base: {argument}", file=sys.stderr)
    return 1 if unmatched else 0


def cmd_stats(args) -> int:

    try:
        with open_base(args.workspace, args.kb) as base:
            stats = {"kb": args.kb, **base.stats(), "bases": base_names(args.workspace)}
    except KnowledgeError as exc:
        return _fail(exc, args.json)
    if args.json:
        print(json.dumps(stats))
        return 0
    print(f"knowledge base {args.kb!r} ({stats['path']})")
    print(f"  {stats['files']} file(s), {stats['chunks']} passage(s), {_mb(stats['text_bytes'])} of text, "
          f"{_mb(stats['disk_bytes'])} on disk")
    print(f"  passages of up to {stats['max_chars']} characters, {stats['overlap']} line(s) of overlap")
    print(f"  dense vectors: {stats['vectors']} from {stats['embedder']}" if stats["embedder"]
          else "  dense vectors: none (BM25 only)")
    print("  bases here: " + ", ".join(stats["bases"]))
    return 0


# --- helpers --------------------------------------------------------------


def _embedder():
    from .kb_embed import default_embedder
    return default_embedder()


class _progress_bar:
    """A rich progress bar on a terminal's stderr for jobs over a megabyte;
    yields the callback ``KnowledgeBase.add`` calls (or None)."""

    def __init__(self):
        self.enabled = sys.stderr.isatty()
        self.bar = self.task = None

    def __enter__(self):
        return self.update if self.enabled else None

    def update(self, done: int, total: int, path: str) -> None:
        if self.bar is None:
            if total < PROGRESS_MIN_BYTES:
                return
            from rich.console import Console
            from rich.progress import (BarColumn, DownloadColumn, Progress, TextColumn,
                                       TimeRemainingColumn, TransferSpeedColumn)
            self.bar = Progress(TextColumn("indexing"), BarColumn(), DownloadColumn(),
                                TransferSpeedColumn(), TimeRemainingColumn(),
                                console=Console(stderr=True), transient=True)
            self.bar.start()
            self.task = self.bar.add_task("indexing", total=total)
        self.bar.update(self.task, completed=done)

    def __exit__(self, *exc):
        if self.bar is not None:
            self.bar.stop()


def _fail(exc, as_json: bool) -> int:
    message = getattr(exc, "message", str(exc))
    hint = getattr(exc, "hint", None)
    print(f"error: {message}" + (f"\nhint: {hint}" if hint else ""), file=sys.stderr)
    if as_json:
        print(json.dumps({"status": "error", "error": message, "hint": hint}))
    return 2


def _preview(text: str, lines: int = 3, width: int = 100) -> list[str]:
    shown = [line.strip()[:width] for line in text.splitlines() if line.strip()]
    return shown[:lines] + (["…"] if len(shown) > lines else [])


def _mb(size: int) -> str:
    return f"{size / 1e6:.1f} MB" if size >= 100_000 else f"{size / 1e3:.1f} kB"
