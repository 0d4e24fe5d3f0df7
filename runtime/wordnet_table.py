"""Extract a small synonym table from WordNet 3.0 for the planner corpus.

The planner corpus (runtime/planner_corpus.py) swaps some words of its
*training* goals for WordNet synonyms, so the model meets a broad vocabulary
instead of only the words its phrasing templates use. The table is built
once from the words of the training wordings only (never the held-out
ones), and committed as runtime/data/wordnet_synonyms.json with WordNet's
licence (runtime/data/WORDNET-LICENSE).

    apt-get install wordnet-base
    python -m runtime.wordnet_table --out runtime/data/wordnet_synonyms.json

WordNet's files are plain text: ``index.POS`` lists, for each lemma, the
offsets of its synsets (most frequent sense first) in ``data.POS``, whose
line at that offset lists the synset's words.
"""

from __future__ import annotations

import argparse
import json
import re
import sys
from pathlib import Path

POS = ("verb", "noun", "adj", "adv")
SENSES = 3          # the most frequent senses only: rarer ones are mostly noise
MAX_WORDS = 3       # "go wrong", "sum up": short phrases read like goals


def _index(folder: Path, pos: str) -> dict[str, list[int]]:
    offsets = {}
    for line in (folder / f"index.{pos}").read_text(encoding="latin-1").splitlines():
        if line.startswith(" "):
            continue                          # the licence header
        parts = line.split()
        lemma, n_synsets, n_pointers = parts[0], int(parts[2]), int(parts[3])
        synsets = parts[4 + n_pointers + 2:]
        offsets[lemma] = [int(o) for o in synsets[:n_synsets]]
    return offsets


def _synset_words(data: bytes, offset: int) -> list[str]:
    end = data.index(b"\n", offset)
    parts = data[offset:end].decode("latin-1").split()
    count = int(parts[3], 16)
    words = parts[4:4 + 2 * count:2]
    return [re.sub(r"\(.*\)$", "", w).replace("_", " ").lower() for w in words]


def synonyms(folder: Path, words: set[str]) -> dict[str, list[str]]:
    """For each word, the words of its first few synsets (any part of
    speech), itself excluded: plain letters and short phrases only."""
    table: dict[str, list[str]] = {}
    for pos in POS:
        index = _index(folder, pos)
        data = (folder / f"data.{pos}").read_bytes()
        for word in sorted(words):
            lemma = next((b for b in _base_forms(word) if b in index), None)
            for offset in index.get(lemma, [])[:SENSES]:
                for other in _synset_words(data, offset):
                    if (other != word and re.fullmatch(r"[a-z]+(?: [a-z]+){0,%d}" % (MAX_WORDS - 1), other)
                            and other not in table.get(word, [])):
                        table.setdefault(word, []).append(other)
    return table


def _base_forms(word: str) -> list[str]:
    """``word`` and the lemmas it may inflect ("fails" -> "fail", "echoes" ->
    "echo", "copied" -> "copy"): a crude stand-in for WordNet's morphy."""
    forms = [word]
    for suffix, repl in (("ies", "y"), ("es", ""), ("s", ""), ("ied", "y"), ("ed", ""), ("ed", "e"),
                         ("ing", ""), ("ing", "e")):
        if word.endswith(suffix) and len(word) > len(suffix) + 2:
            forms.append(word[:-len(suffix)] + repl)
    return forms


def training_words() -> set[str]:
    """The content words of the training wordings, synonyms and fillers."""
    from .planner_corpus import FAMILIES, FILLERS, SYNONYMS, STOP_WORDS
    texts = [p for f in FAMILIES for p in f.phrasings["train"]]
    texts += [w for train, _ in SYNONYMS.values() for w in train]
    texts += [w for train, _ in FILLERS.values() for w in train]
    words = set()
    for text in texts:
        text = re.sub(r"\{\w+\}|\[\w+\]", " ", text)
        words |= {w for w in re.findall(r"[a-z]+", text.lower()) if w not in STOP_WORDS}
    return words


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--wordnet", type=Path, default=Path("/usr/share/wordnet"))
    parser.add_argument("--out", type=Path, required=True)
    args = parser.parse_args(argv)
    table = synonyms(args.wordnet, training_words())
    args.out.write_text(json.dumps(table, indent=0, sort_keys=True) + "\n")
    print(f"wrote {args.out}: {len(table)} words, {sum(map(len, table.values()))} synonyms",
          file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
