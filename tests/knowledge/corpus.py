"""Small corpora made on the spot, for the knowledge-base tests."""

from __future__ import annotations

from pathlib import Path


def word(i: int) -> str:
    """A made-up word unique to document ``i`` (letters only, so no stemming)."""
    letters = "bcdfghjklmnpqrstvwxz"
    out = ""
    i += 1
    while i:
        i, r = divmod(i, len(letters))
        out += letters[r]
    return "zq" + out + "ya"


def make_corpus(folder: Path, files: int, paragraphs: int = 4) -> list[Path]:
    """``files`` Markdown documents, each with its own unique word."""
    folder.mkdir(parents=True, exist_ok=True)
    made = []
    for i in range(files):
        body = "\n\n".join(f"Paragraph {p} of document {i} mentions {word(i)} and some shared filler text "
                           + "lorem ipsum dolor sit amet " * 6 for p in range(paragraphs))
        path = folder / f"doc{i:04d}.md"
        path.write_text(f"# Document {i}\n\n{body}\n\n## Details of {word(i)}\n\nMore about it.\n")
        made.append(path)
    return made
