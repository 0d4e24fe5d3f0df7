"""The pre-scan: what the grammar cannot see.

Heredocs are not context-free (the end of a body depends on a word chosen by
the writer), and the ``#TISS!`` header is metadata rather than a comment. So
before Lark sees a plan, this module

* normalises line endings to ``\\n`` (docs/reference.md §1),
* reads the header pairs from the first line,
* cuts every heredoc body out of the text, applies the indentation rule
  (§3 "Heredocs"), and remembers it under the position of its ``<<DELIM``.

Cut lines are replaced by empty lines, so every line and column the lexer
reports is still a position in the user's file.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from .errors import Diagnostic

# Strings, comments and heredoc openers on one line, in the order they occur.
# Anything else on the line is skipped by finditer. Strings may be unterminated
# (the parser reports those); they still hide a `<<` or `#` inside them.
_LINE_ITEMS = re.compile(
    r'''"(?:[^"\\]|\\.)*"?|'(?:[^'\\]|\\.)*'?|(?P<comment>\#)|<<(?:'(?P<raw>[A-Za-z_]\w*)'|(?P<plain>[A-Za-z_]\w*))'''
)


@dataclass
class HeredocBody:
    """One heredoc: its delimiter, whether it is raw, and its body lines after
    the indentation rule, each with its 1-based line number and the column
    where its kept text starts."""

    delimiter: str
    raw: bool
    lines: list[tuple[int, int, str]]
    end_line: int
    end_col: int


@dataclass
class Prescanned:
    text: str  # what the grammar parses
    lines: list[str]  # the user's lines (for error display)
    header: tuple[tuple[str, str], ...] = ()
    heredocs: dict[tuple[int, int], HeredocBody] = field(default_factory=dict)
    diagnostics: list[Diagnostic] = field(default_factory=list)
    # Set when a heredoc never closes: the rest of the file is its body, so
    # "unexpected end of file" errors after it would only be noise.
    unclosed_heredoc: bool = False


def normalise_newlines(source: str) -> str:
    if "\r" in source:
        source = source.replace("\r\n", "\n").replace("\r", "\n")
    return source


def prescan(source: str, path: str) -> Prescanned:
    """The text for the grammar (header and heredoc bodies blanked), with
    the header pairs, the heredoc bodies and any problems found on the way."""
    source = normalise_newlines(source)
    if source.startswith("\ufeff"):  # a UTF-8 byte-order mark is not content
        source = source[1:]
    lines = source.split("\n")
    out = list(lines)
    result = Prescanned(text="", lines=lines)

    if lines[0].startswith("#TISS!"):
        result.header = _read_header(lines[0], path, result.diagnostics)
        out[0] = ""

    index = 0
    while index < len(lines):
        line = lines[index]
        index += 1
        if "<<" not in line:
            continue
        opener_line = index  # 1-based number of this line
        for opener in _heredoc_openers(line):
            index = _cut_body(lines, out, index, opener_line, opener, path, result)
            if result.unclosed_heredoc:
                break
        if result.unclosed_heredoc:
            break

    result.text = "\n".join(out)
    return result


def _read_header(line: str, path: str, diagnostics: list[Diagnostic]):
    pairs = []
    col = len("#TISS!") + 1
    for match in re.finditer(r"\S+", line[len("#TISS!"):]):
        item = match.group()
        key, eq, value = item.partition("=")
        if not eq or not key:
            diagnostics.append(Diagnostic(
                path, 1, col + match.start(),
                f"header entry '{item}' is not a Key=Value pair",
                hint="write the header as: #TISS! Language=Python Version=1.0",
                source_line=line,
            ))
            continue
        pairs.append((key, value))
    return tuple(pairs)


def _heredoc_openers(line: str):
    """(col, delimiter, raw) of each `<<DELIM` outside strings and comments."""
    found = []
    for match in _LINE_ITEMS.finditer(line):
        if match.group("comment"):
            break
        if match.group("raw"):
            found.append((match.start() + 1, match.group("raw"), True))
        elif match.group("plain"):
            found.append((match.start() + 1, match.group("plain"), False))
    return found


def _cut_body(lines, out, index, opener_line, opener, path, result: Prescanned) -> int:
    """Cut the body that starts at ``lines[index]`` (0-based); returns the
    index of the line after the closing delimiter."""
    col, delimiter, raw = opener
    close = index
    while close < len(lines) and lines[close].strip() != delimiter:
        close += 1
    if close == len(lines):
        source_line = lines[opener_line - 1]
        result.diagnostics.append(Diagnostic(
            path, opener_line, col,
            f"heredoc <<{delimiter} is never closed",
            hint=f"end the heredoc with a line that holds only {delimiter}",
            source_line=source_line,
        ))
        result.unclosed_heredoc = True
        for i in range(index, len(lines)):
            out[i] = ""
        return len(lines)

    closing = lines[close]
    indent = closing[: len(closing) - len(closing.lstrip(" \t"))]
    body = []
    for i in range(index, close):
        text = lines[i]
        if text.startswith(indent):
            body.append((i + 1, len(indent) + 1, text[len(indent):]))
        elif not text.strip():
            body.append((i + 1, len(text) + 1, ""))  # blank lines are exempt
        else:
            result.diagnostics.append(Diagnostic(
                path, i + 1, 1,
                f"heredoc line is indented less than its closing {delimiter}",
                hint=f"indent every line of the body at least as far as the closing "
                     f"{delimiter} (line {close + 1}), using the same spaces or tabs",
                source_line=text,
            ))
            body.append((i + 1, 1, text))
        out[i] = ""
    out[close] = ""
    result.heredocs[(opener_line, col)] = HeredocBody(
        delimiter, raw, body, close + 1, len(closing) + 1)
    return close + 1
