"""Cutting a document into passages that respect its structure.

A passage that starts in the middle of one section and ends in the next
answers neither question well, so a document is first cut into *sections*
along its own structure (Markdown and reStructuredText headings, Python
functions and classes, blank-line paragraphs for anything else), and each
section is then packed into chunks of at most ``max_chars`` characters,
breaking between paragraphs where it can. When a section needs several
chunks, each repeats the last ``overlap`` lines of the one before, so a
sentence cut by the boundary is still whole in one of them.

Every chunk keeps its line range (1-based, inclusive) and the path of
headings above it ("Tutorial > Lists"), which search indexes with a higher
weight and answers cite.
"""

from __future__ import annotations

import ast
import re
import string
from dataclasses import dataclass

HEADING_SEPARATOR = " > "


@dataclass(frozen=True)
class ChunkConfig:
    """How big passages are and how much consecutive ones share."""
    max_chars: int = 1200
    overlap: int = 2          # lines repeated from the previous chunk of the same section

    def __post_init__(self):
        if self.max_chars < 80:
            raise ValueError(f"chunk size {self.max_chars} is too small: use at least 80 characters")
        if self.overlap < 0:
            raise ValueError(f"overlap {self.overlap} must be zero or more lines")


@dataclass(frozen=True)
class Chunk:
    start_line: int           # 1-based, inclusive
    end_line: int
    heading: str              # "Title > Section", or "" before the first heading
    text: str


@dataclass(frozen=True)
class Section:
    start: int                # 0-based line index, inclusive
    end: int                  # exclusive
    heading: str


def chunk_text(text: str, path: str, config: ChunkConfig = ChunkConfig()) -> list[Chunk]:
    """The passages of one document; its kind comes from the file name."""
    lines = text.splitlines()
    sections = SECTIONERS[kind_of(path)](lines)
    chunks: list[Chunk] = []
    for section in sections:
        chunks.extend(_pack(lines, section, config))
    return chunks


def kind_of(path: str) -> str:
    name = path.lower()
    for suffixes, kind in KINDS:
        if name.endswith(suffixes):
            return kind
    return "text"


# --- sections ---------------------------------------------------------------

def markdown_sections(lines: list[str]) -> list[Section]:
    """ATX (``## Title``) and setext (underlined ``===``/``---``) headings,
    outside fenced code blocks."""
    marks: list[tuple[int, int, str]] = []      # (line index, level, title)
    fence = None
    for i, line in enumerate(lines):
        stripped = line.lstrip()
        if stripped.startswith(("```", "~~~")):
            marker = stripped[:3]
            fence = None if fence == marker else (fence or marker)
            continue
        if fence:
            continue
        atx = _ATX.match(line)
        if atx:
            marks.append((i, len(atx.group(1)), atx.group(2).strip().rstrip("#").strip()))
        elif i > 0 and _SETEXT.match(line) and lines[i - 1].strip() and not lines[i - 1].startswith(" ") \
                and (i == 1 or not lines[i - 2].strip()) and not _ATX.match(lines[i - 1]):
            marks.append((i - 1, 1 if line.strip()[0] == "=" else 2, lines[i - 1].strip()))
    return _sections_from_marks(lines, marks)


def rest_sections(lines: list[str]) -> list[Section]:
    """reStructuredText titles: a line underlined (and maybe overlined) with
    one punctuation character at least as long as the title; levels follow
    the order in which the adornment styles first appear, as docutils does."""
    marks: list[tuple[int, int, str]] = []
    styles: list[tuple[str, bool]] = []
    i = 0
    while i < len(lines) - 1:
        title, under = lines[i], lines[i + 1]
        if not _is_title(title, under):
            i += 1
            continue
        overline = i > 0 and _is_adornment(lines[i - 1]) and lines[i - 1].strip()[0] == under.strip()[:1]
        if i == 0 or not lines[i - 1].strip() or overline:
            style = (under.strip()[0], bool(overline))
            if style not in styles:
                styles.append(style)
            start = i - 1 if overline else i
            marks.append((start, styles.index(style) + 1, title.strip()))
            i += 2
            continue
        i += 1
    return _sections_from_marks(lines, marks)


def python_sections(lines: list[str]) -> list[Section]:
    """Top-level functions and classes (decorators included), a class's
    methods when the class is long; the module's other lines in between.
    Source that does not parse is cut into paragraphs instead."""
    try:
        tree = ast.parse("\n".join(lines))
    except (SyntaxError, ValueError):
        return paragraph_sections(lines)
    sections: list[Section] = []
    cursor = 0
    for node in tree.body:
        if not isinstance(node, _DEFINITIONS):
            continue
        start = min([node.lineno, *(d.lineno for d in node.decorator_list)]) - 1
        end = node.end_lineno or node.lineno
        if start > cursor:
            sections.append(Section(cursor, start, ""))
        sections.extend(_definition_sections(node, start, end, lines))
        cursor = end
    if cursor < len(lines):
        sections.append(Section(cursor, len(lines), ""))
    return [s for s in sections if any(lines[j].strip() for j in range(s.start, s.end))]


def _definition_sections(node, start: int, end: int, lines: list[str]) -> list[Section]:
    name = _definition_name(node)
    methods = [n for n in getattr(node, "body", ()) if isinstance(n, _DEFINITIONS)]
    size = sum(len(lines[j]) + 1 for j in range(start, end))
    if not isinstance(node, ast.ClassDef) or not methods or size <= LONG_CLASS_CHARS:
        return [Section(start, end, name)]
    sections, cursor = [], start
    for method in methods:
        m_start = min([method.lineno, *(d.lineno for d in method.decorator_list)]) - 1
        if m_start > cursor:
            sections.append(Section(cursor, m_start, name))
        sections.append(Section(m_start, method.end_lineno or method.lineno,
                                name + HEADING_SEPARATOR + _definition_name(method)))
        cursor = method.end_lineno or method.lineno
    if cursor < end:
        sections.append(Section(cursor, end, name))
    return sections


def _definition_name(node) -> str:
    kind = "class" if isinstance(node, ast.ClassDef) else "def"
    return f"{kind} {node.name}"


def paragraph_sections(lines: list[str]) -> list[Section]:
    """No structure to follow: the whole text is one section, which packing
    cuts between paragraphs."""
    return [Section(0, len(lines), "")] if lines else []


def _sections_from_marks(lines: list[str], marks: list[tuple[int, int, str]]) -> list[Section]:
    """Sections from heading positions: each runs to the next heading, under
    the path of headings above it."""
    sections: list[Section] = []
    path: list[tuple[int, str]] = []
    first = marks[0][0] if marks else len(lines)
    if first > 0:
        sections.append(Section(0, first, ""))
    for n, (start, level, title) in enumerate(marks):
        end = marks[n + 1][0] if n + 1 < len(marks) else len(lines)
        while path and path[-1][0] >= level:
            path.pop()
        path.append((level, title))
        sections.append(Section(start, end, HEADING_SEPARATOR.join(t for _, t in path)))
    return sections


def _is_adornment(line: str) -> bool:
    # the cheap test first: most lines are not three equal punctuation characters
    return line[:1] in _PUNCTUATION and line[1:3] == line[0] * 2 and bool(_ADORNMENT.fullmatch(line.rstrip()))


def _is_title(title: str, under: str) -> bool:
    if not _is_adornment(under):
        return False
    text = title.rstrip()
    return (bool(text) and not title[0].isspace()
            and len(under.rstrip()) >= min(len(text), 3) and not _is_adornment(title))


# --- packing ----------------------------------------------------------------

def _pack(lines: list[str], section: Section, config: ChunkConfig) -> list[Chunk]:
    """Chunks of one section: whole paragraphs while they fit, a paragraph
    longer than a chunk cut between lines (a line longer than a chunk is
    kept whole: cutting a line would break the line ranges answers cite)."""
    chunks: list[Chunk] = []
    start = _skip_blank(lines, section.start, section.end)
    while start < section.end:
        end = _chunk_end(lines, start, section.end, config.max_chars)
        last = end
        while last > start and not lines[last - 1].strip():
            last -= 1
        chunks.append(Chunk(start + 1, last, section.heading, "\n".join(lines[start:last])))
        if end >= section.end:
            break
        next_start = _skip_blank(lines, end, section.end)
        if next_start >= section.end:
            break
        # overlap, but always move on by at least half a chunk
        start = _skip_blank(lines, max(_back(lines, next_start, config.overlap), (start + end + 1) // 2),
                            section.end)
    return chunks


def _chunk_end(lines: list[str], start: int, stop: int, max_chars: int) -> int:
    """Where the chunk that begins at ``start`` ends (exclusive): at the last
    paragraph break that keeps it within ``max_chars`` (if that leaves it at
    least half full: a short paragraph is not a passage of its own), else
    after the last line that fits, else after one line."""
    size, best_break, end = 0, None, start
    while end < stop:
        size += len(lines[end]) + 1
        if size > max_chars and end > start:
            break
        end += 1
        if end < stop and not lines[end].strip() and size * 2 >= max_chars:
            best_break = end
    if end >= stop:
        return stop
    return best_break or end


def _back(lines: list[str], i: int, count: int) -> int:
    """The line ``count`` non-blank lines before line ``i``."""
    while count and i > 0:
        i -= 1
        count -= bool(lines[i].strip())
    return _skip_blank(lines, i, len(lines))


def _skip_blank(lines: list[str], i: int, stop: int) -> int:
    while i < stop and not lines[i].strip():
        i += 1
    return i


_ATX = re.compile(r" {0,3}(#{1,6})\s+(.*)$")
_SETEXT = re.compile(r" {0,3}(=+|-+)\s*$")
_ADORNMENT = re.compile(r"([!-/:-@\[-`{-~])\1{2,}")   # one punctuation character, 3+ times
_PUNCTUATION = frozenset(string.punctuation)
_DEFINITIONS = (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)
LONG_CLASS_CHARS = 2000   # a longer class is cut at its methods

# File kind by name ending (first match wins), and how each kind is cut.
KINDS = (
    ((".md", ".markdown", ".mdx"), "markdown"),
    ((".rst", ".rst.txt", ".rest"), "rest"),
    ((".py", ".pyi"), "python"),
)
SECTIONERS = {
    "markdown": markdown_sections,
    "rest": rest_sections,
    "python": python_sections,
    "text": paragraph_sections,
}
