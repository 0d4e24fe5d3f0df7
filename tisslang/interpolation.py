"""Quoted strings and heredoc lines into Template parts (docs/reference.md §1, §5).

A template is text with ``{{ref | filter}}`` holes. Everything here works on
one source line at a time (a quoted string cannot span lines, and a heredoc is
fed line by line), so an offset in the text maps to a column directly.
"""

from __future__ import annotations

import re

from .ast import Interpolation, Ref, Span, Text

FILTERS = ("trim", "json", "raw")

_SIMPLE_ESCAPES = {"\\": "\\", '"': '"', "'": "'", "n": "\n", "t": "\t", "r": "\r"}
_ESCAPE = re.compile(r"\\(?:u\{([0-9A-Fa-f]{1,6})\}|(.)|$)")
_HOLE = re.compile(
    r"\s*(?P<ref>[A-Za-z_]\w*(?:\s*\.\s*[A-Za-z_]\w*)*)\s*(?P<filters>(?:\|\s*[A-Za-z_]\w*\s*)*)\Z"
)


class TemplateError(Exception):
    """A malformed string or interpolation at ``col`` of the line."""

    def __init__(self, col: int, message: str, hint: str | None = None):
        super().__init__(message)
        self.col = col
        self.message = message
        self.hint = hint


def string_parts(raw: str, line: int, col: int) -> tuple:
    """Parts of a quoted-string token ``raw`` (quotes included) that starts at
    ``line``:``col``; escapes are decoded in the text parts."""
    body = raw[1:-1]
    if "{{" not in body and "\\" not in body:  # the common case, kept fast
        if not body:
            return ()
        return (Text(body, span=Span(line, col + 1, line, col + 1 + len(body))),)
    return tuple(_parts(body, line, col + 1, decode_escapes=True))


def line_parts(text: str, line: int, col: int, raw: bool) -> list:
    """Parts of one heredoc body line (its ``\\n`` included); no escapes."""
    if raw or "{{" not in text:
        return [Text(text, span=Span(line, col, line, col + len(text)))]
    return _parts(text, line, col, decode_escapes=False)


def merge_text(parts: list) -> tuple:
    """Join neighbouring Text parts, so equal text always gives equal parts."""
    merged = []
    for part in parts:
        if merged and isinstance(part, Text) and isinstance(merged[-1], Text):
            first = merged[-1]
            merged[-1] = Text(first.value + part.value, span=Span(
                first.span.line, first.span.col, part.span.end_line, part.span.end_col))
        else:
            merged.append(part)
    return tuple(merged)


def _parts(text: str, line: int, col: int, decode_escapes: bool) -> list:
    parts = []
    pos = 0
    while pos < len(text):
        start = text.find("{{", pos)
        if start < 0:
            start = len(text)
        if start > pos:
            chunk = text[pos:start]
            value = _decode(chunk, col + pos) if decode_escapes else chunk
            parts.append(Text(value, span=Span(line, col + pos, line, col + start)))
        if start == len(text):
            break
        end = text.find("}}", start + 2)
        if end < 0:
            raise TemplateError(
                col + start, "unclosed interpolation: '{{' without a matching '}}'",
                "close it like {{name}}; for literal braces use a raw heredoc <<'EOF'")
        parts.append(_interpolation(text[start + 2:end], line, col + start, col + end + 2))
        pos = end + 2
    return merge_text(parts) if len(parts) > 1 else parts


def _interpolation(inside: str, line: int, col: int, end_col: int) -> Interpolation:
    match = _HOLE.match(inside)
    if not match:
        raise TemplateError(
            col, f"malformed interpolation '{{{{{_shorten(inside)}}}}}'",
            "an interpolation holds a name, optionally with fields and filters: "
            "{{name}}, {{build.STDOUT}}, {{x | trim}}")
    names = [n.strip() for n in match.group("ref").split(".")]
    filters = tuple(f.strip() for f in match.group("filters").split("|")[1:])
    for name in filters:
        if name not in FILTERS:
            from .hints import did_you_mean

            guess = did_you_mean(name, FILTERS)
            raise TemplateError(
                col, f"unknown filter '{name}' in interpolation",
                (f"did you mean '{guess}'? " if guess else "")
                + "the filters are: " + ", ".join(FILTERS))
    span = Span(line, col, line, end_col)
    ref = Ref(names[0], tuple(names[1:]), span=span)
    return Interpolation(ref, filters, span=span)


def _shorten(text: str, limit: int = 40) -> str:
    return text if len(text) <= limit else text[:limit - 1] + "…"


def _decode(chunk: str, col: int) -> str:
    if "\\" not in chunk:
        return chunk

    def replace(match: re.Match) -> str:
        code, char = match.group(1), match.group(2)
        if code is not None:
            value = int(code, 16)
            if value > 0x10FFFF or 0xD800 <= value <= 0xDFFF:
                raise TemplateError(col + match.start(), f"\\u{{{code}}} is not a valid character")
            return chr(value)
        if char in _SIMPLE_ESCAPES:
            return _SIMPLE_ESCAPES[char]
        shown = "\\" + (char or "")
        raise TemplateError(
            col + match.start(), f"unknown escape sequence '{shown}' in a string",
            "the escapes are \\\\ \\\" \\' \\n \\t \\r \\u{XXXX}; write \\\\ for a backslash")

    return _ESCAPE.sub(replace, chunk)
