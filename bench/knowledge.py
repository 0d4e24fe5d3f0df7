"""Knowledge bases on a real corpus nobody here wrote: the Python 3.11
documentation sources from Debian's python3.11-doc package
(/usr/share/doc/python3.11/html/_sources/**/*.rst.txt, about 12 MB).

Measures:

  index_mb_per_s    text indexed per CPU second by KnowledgeBase.add (BM25 only)
  query_ms_p50/p95  one search (k=5, BM25) per question, CPU ms
                    (the same figures by the wall clock: *_wall)
  recall_at_5_*     share of questions whose answer section is among the 5
                    passages returned, for BM25, dense and hybrid (RRF)
  chunks            passages in the base

Questions come from the section titles, found by this file's own reading of
reST underlines (not the chunker's): a title used once in the corpus and
with at least two content words becomes a question, by a seeded paraphrase
(markup dropped, some words swapped for synonyms, "X of Y" turned round,
wrapped in a question form such as "How do I …?"); its answer is that
section's line range, and a passage counts when it is from the same file and
overlaps that range.

Dense and hybrid need a TissLM (``--model DIR``, a directory written by
``tiss model train``): every passage is embedded (mean of the final hidden
states), which takes minutes; without it they are reported as null.

Targets (issue 16): recall@5 >= 0.8 with the best mode; p95 <= 20 ms;
indexing >= 5 MB/s.

    python bench/knowledge.py                   # the whole corpus, a table
    python bench/knowledge.py --quick           # tutorial, howto, faq and reference only
    python bench/knowledge.py --json --model ~/tisslm   # one JSON object, with dense and hybrid
"""

from __future__ import annotations

import argparse
import json
import random
import re
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from tools.knowledge import KnowledgeError, open_base  # noqa: E402

CORPUS = Path("/usr/share/doc/python3.11/html/_sources")
QUICK_FOLDERS = ("tutorial", "howto", "faq", "reference")
QUESTIONS = {"quick": 200, "full": 1000}
K = 5
SEED = 16

ADORNMENT = re.compile(r"([=\-~^\"'*+#`:.])\1{2,}\s*$")
ROLE = re.compile(r":[\w:+-]+:`([^`<]*?)(?:\s*<[^>]*>)?`")
CONTENT_WORD = re.compile(r"[A-Za-z][A-Za-z0-9_]+")
STOP = {"the", "and", "for", "with", "from", "into", "what", "how", "its", "of", "to", "in", "on",
        "a", "an", "is", "are", "new", "using"}

# Synonyms a reader might use instead of the title's word (one-way).
SYNONYMS = {
    "creating": "making", "create": "make", "using": "working with", "reading": "loading",
    "writing": "saving", "introduction": "overview", "examples": "sample code",
    "example": "sample", "handling": "dealing with", "module": "library", "modules": "libraries",
    "functions": "callables", "function": "callable", "arguments": "parameters",
    "parameters": "arguments", "methods": "operations", "objects": "instances",
    "object": "instance", "changes": "modifications", "deprecated": "obsolete",
    "removed": "dropped", "improved": "better", "optimizations": "speedups",
    "exceptions": "errors", "errors": "failures", "support": "supporting", "built-in": "builtin",
    "classes": "types", "class": "type", "files": "file", "strings": "text", "string": "text",
    "numbers": "numeric values", "lists": "list", "dictionaries": "dicts", "dictionary": "dict",
    "syntax": "grammar", "statements": "statement", "variables": "names", "programming": "coding",
}
QUESTION_WORDS = {"how", "why", "what", "when", "where", "which", "who", "can", "is", "are", "do",
                  "does", "should", "i"}
FORMS = ("How do I use {}?", "What is {}?", "Tell me about {}", "Where is {} explained?",
         "Explain {}", "{}: how does it work?", "I need help with {}", "{}?")


def sections(path: Path) -> list[tuple[str, int, int]]:
    """(title, first line, last line) of each titled section of a reST file (1-based)."""
    lines = path.read_text(encoding="utf-8").splitlines()
    starts = []
    for i in range(len(lines) - 1):
        title, under = lines[i], lines[i + 1]
        if (title.strip() and not title[0].isspace() and not ADORNMENT.match(title)
                and ADORNMENT.match(under) and len(under.rstrip()) >= len(title.rstrip())):
            overlined = i > 0 and ADORNMENT.match(lines[i - 1]) is not None
            starts.append((i - 1 if overlined else i, title.strip()))
    found = []
    for n, (start, title) in enumerate(starts):
        end = starts[n + 1][0] if n + 1 < len(starts) else len(lines)
        found.append((title, start + 1, end))
    return found


def clean(title: str) -> str:
    text = ROLE.sub(r"\1", title).replace("``", "").replace("`", "")
    text = re.sub(r"\s+-{2,3}\s+", " ", text)
    return re.sub(r"\s+", " ", text).strip(" .:")


def paraphrase(title: str, rng: random.Random) -> str:
    """A question a reader might ask for this section, not its title verbatim:
    synonyms for some words; a title that is a phrase is turned round ("X of
    Y" -> "Y X") and put in a question form; a title that already is a
    question keeps its form."""
    text = clean(title).lower()
    words = [SYNONYMS[w] if w in SYNONYMS and rng.random() < 0.6 else w for w in text.split()]
    text = " ".join(words)
    if text.endswith("?") or text.split(" ")[0] in QUESTION_WORDS:
        return text.rstrip("?") + "?"
    of = re.fullmatch(r"(.+?) of (.+)", text)
    if of and rng.random() < 0.5:
        text = f"{of.group(2)} {of.group(1)}"
    return rng.choice(FORMS).format(text)


def questions(files: list[Path], limit: int) -> list[dict]:
    """Unique, specific titles turned into questions, with their answers."""
    found: dict[str, list] = {}
    for path in files:
        for title, first, last in sections(path):
            found.setdefault(clean(title).lower(), []).append((path, title, first, last))
    usable = [places[0] for key, places in found.items() if len(places) == 1
              and len([w for w in CONTENT_WORD.findall(key) if w not in STOP]) >= 2]
    rng = random.Random(SEED)
    chosen = sorted(rng.sample(usable, min(limit, len(usable))), key=lambda p: (str(p[0]), p[2]))
    return [{"question": paraphrase(title, rng), "title": title, "path": str(path),
             "first": first, "last": last} for path, title, first, last in chosen]


def answered(hits, question) -> bool:
    return any(hit.path == question["path"] and hit.start_line <= question["last"]
               and hit.end_line >= question["first"] for hit in hits)


def evaluate(base, qs, mode: str, embedder=None) -> dict:
    """Recall, and query times in CPU ms of this process (steady on a shared
    machine, and a search is one thread doing no I/O once the pages are
    cached) beside wall-clock ms."""
    found, cpu, wall = 0, [], []
    for q in qs:
        started_cpu, started = time.process_time(), time.perf_counter()
        hits = base.search(q["question"], K, mode=mode, embedder=embedder)
        cpu.append((time.process_time() - started_cpu) * 1000)
        wall.append((time.perf_counter() - started) * 1000)
        found += answered(hits, q)
    return {"recall": round(found / len(qs), 3), "p50": _percentile(cpu, 50), "p95": _percentile(cpu, 95),
            "wall_p50": _percentile(wall, 50), "wall_p95": _percentile(wall, 95)}


def _percentile(values: list[float], p: int) -> float:
    ordered = sorted(values)
    return round(ordered[round(p / 100 * (len(ordered) - 1))], 2)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="four folders, 200 questions")
    parser.add_argument("--json", action="store_true", help="print one JSON object")
    parser.add_argument("--model", help="a TissLM directory: also measure dense and hybrid retrieval")
    parser.add_argument("--corpus", default=str(CORPUS), help=f"default: {CORPUS}")
    parser.add_argument("--show", type=int, default=0, metavar="N", help="print N questions and whether BM25 found them")
    args = parser.parse_args(argv)
    corpus = Path(args.corpus)
    if not corpus.is_dir():
        print(f"error: no corpus at {corpus}\nhint: apt-get install python3.11-doc", file=sys.stderr)
        return 2
    roots = [corpus / f for f in QUICK_FOLDERS] if args.quick else [corpus]
    files = sorted(p for root in roots for p in root.rglob("*.rst.txt"))
    qs = questions(files, QUESTIONS["quick" if args.quick else "full"])

    with tempfile.TemporaryDirectory() as workspace:
        with open_base(workspace, "bench", create=True) as base:
            started, started_cpu = time.perf_counter(), time.process_time()
            report = base.add([str(r) for r in roots])
            seconds, cpu_seconds = time.perf_counter() - started, time.process_time() - started_cpu
            bm25 = evaluate(base, qs, "bm25")
            for q in qs[:args.show]:
                mark = "yes" if answered(base.search(q["question"], K), q) else "NO "
                print(f"{mark} {q['question']!r}  <- {q['title']!r}", file=sys.stderr)
        dense = hybrid = None
        if args.model:
            dense, hybrid, embed_seconds = dense_figures(workspace, roots, qs, args.model)
    summary = {
        "corpus_mb": round(report.bytes / 1e6, 2), "files": len(report.indexed), "chunks": report.chunks,
        "questions": len(qs), "index_mb_per_s": round(report.bytes / 1e6 / cpu_seconds, 2),
        "index_mb_per_s_wall": round(report.bytes / 1e6 / seconds, 2),
        "query_ms_p50": bm25["p50"], "query_ms_p95": bm25["p95"],
        "query_ms_p50_wall": bm25["wall_p50"], "query_ms_p95_wall": bm25["wall_p95"],
        "recall_at_5_bm25": bm25["recall"],
        "recall_at_5_dense": dense and dense["recall"], "recall_at_5_hybrid": hybrid and hybrid["recall"],
        "query_ms_p95_hybrid": hybrid and hybrid["p95"],
        "embed_s": round(embed_seconds, 1) if args.model else None,
        "timer": "process_time (CPU of this process); *_wall: wall clock", "quick": args.quick,
    }
    if args.json:
        print(json.dumps(summary))
        return 0
    print(f"corpus: {summary['files']} files, {summary['corpus_mb']} MB, {summary['chunks']} passages; "
          f"{summary['questions']} questions")
    print(f"indexing: {summary['index_mb_per_s']} MB/s of CPU time, {summary['index_mb_per_s_wall']} MB/s "
          "wall clock (target >= 5)")
    print(f"query (BM25, k={K}): p50 {bm25['p50']} ms, p95 {bm25['p95']} ms of CPU time; wall clock p50 "
          f"{bm25['wall_p50']} ms, p95 {bm25['wall_p95']} ms (target p95 <= 20)")
    print(f"recall@5: bm25 {bm25['recall']}" + (f", dense {dense['recall']}, hybrid {hybrid['recall']} "
          f"(hybrid p95 {hybrid['p95']} ms)" if dense else ", dense and hybrid: give --model DIR")
          + " (target >= 0.8 with the best mode)")
    return 0


def dense_figures(workspace, roots, qs, model_dir):
    """Recall of dense and hybrid search over a second base with TissLM vectors."""
    from runtime.kb_embed import TissLMEmbedder

    embedder = TissLMEmbedder.from_directory(model_dir)
    with open_base(workspace, "dense", create=True) as base:
        started = time.perf_counter()
        base.add([str(r) for r in roots], embedder=embedder)
        embed_seconds = time.perf_counter() - started
        return evaluate(base, qs, "dense", embedder), evaluate(base, qs, "hybrid", embedder), embed_seconds


if __name__ == "__main__":
    try:
        sys.exit(main())
    except KnowledgeError as exc:
        print(f"error: {exc.report()}", file=sys.stderr)
        sys.exit(2)
