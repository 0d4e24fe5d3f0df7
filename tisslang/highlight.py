"""A Pygments lexer for TissLang, for the REPL and the docs.

Registered under the ``pygments.lexers`` entry point, so
``pygments.lexers.get_lexer_by_name("tisslang")`` and ``pygmentize -l tiss``
find it once the project is installed.

It highlights keywords, strings with their ``{{ }}`` interpolations and
escapes, heredocs (body as a heredoc string, interpolated unless the heredoc is
raw), comments and the ``#TISS!`` header, directives, numbers and durations,
and operators. It never fails: anything it does not know is an ``Error`` token,
as Pygments expects.
"""

from __future__ import annotations

import re

from pygments.lexer import RegexLexer, include, words
from pygments.token import (Comment, Error, Keyword, Name, Number, Operator,
                            Punctuation, String, Whitespace)

from . import checker
from .interpolation import FILTERS
from .keywords import CLAUSES, COMMANDS, LITERALS, STRUCTURES, WORD_OPERATORS

BUILTINS = tuple(sorted(checker.BUILTINS))

# ``<<DELIM`` or ``<<'DELIM'``, the rest of its line, the body, and the line
# that closes it (the first whose trimmed text is the delimiter).
HEREDOC = (r"(<<)(')?([A-Za-z_]\w*)(?(2)')([^\n]*\n)"
           r"((?:.*\n)*?)([ \t]*)(\3)(?=[ \t]*(?:\n|\Z))")
INTERPOLATION = re.compile(r"\{\{.*?\}\}")


def _heredoc(lexer, match):
    """Yield the tokens of a whole heredoc statement tail and its body."""
    yield match.start(1), String.Heredoc, match.group(1)
    if match.group(2):
        yield match.start(2), String.Heredoc, "'" + match.group(3) + "'"
    else:
        yield match.start(3), String.Heredoc, match.group(3)
    # The rest of the opening line (``TIMEOUT 30s AS out  # why``) is ordinary code.
    rest_start = match.start(4)
    for index, token, value in lexer.get_tokens_unprocessed(match.group(4)):
        yield rest_start + index, token, value
    yield from _body_tokens(match.start(5), match.group(5), raw=bool(match.group(2)))
    if match.group(6):
        yield match.start(6), Whitespace, match.group(6)
    yield match.start(7), String.Heredoc, match.group(7)


def _body_tokens(offset, body, raw):
    if raw:
        if body:
            yield offset, String.Heredoc, body
        return
    position = 0
    for hole in INTERPOLATION.finditer(body):
        if hole.start() > position:
            yield offset + position, String.Heredoc, body[position:hole.start()]
        yield offset + hole.start(), String.Interpol, hole.group()
        position = hole.end()
    if position < len(body):
        yield offset + position, String.Heredoc, body[position:]


class TissLangLexer(RegexLexer):
    """Lexer for TissLang agent plans (``.tiss``)."""

    name = "TissLang"
    url = "https://github.com/quanta-tissu"
    aliases = ["tisslang", "tiss"]
    filenames = ["*.tiss"]
    mimetypes = ["text/x-tisslang"]

    flags = re.MULTILINE

    tokens = {
        "root": [
            (r"\A#TISS![^\n]*", Comment.Preproc),
            (r"#[^\n]*", Comment.Single),
            (r"\s+", Whitespace),
            (HEREDOC, _heredoc),
            (r"@[A-Za-z_]\w*", Name.Decorator),
            (words(COMMANDS + STRUCTURES, suffix=r"\b"), Keyword),
            (words(CLAUSES, suffix=r"\b"), Keyword),
            (words(WORD_OPERATORS, suffix=r"\b"), Operator.Word),
            (words(LITERALS, suffix=r"\b"), Keyword.Constant),
            (words(BUILTINS, suffix=r"\b"), Name.Builtin),
            (r"[0-9]+(?:\.[0-9]+)?(?:ms|s|m|h)\b", Number.Float),
            (r"-?[0-9]+\.[0-9]+\b", Number.Float),
            (r"-?[0-9]+\b", Number.Integer),
            (r'"', String.Double, "double"),
            (r"'", String.Single, "single"),
            (r"==|!=|<=|>=|<|>|=", Operator),
            (r"[{}\[\](),:.]", Punctuation),
            (r"[A-Za-z_]\w*", Name.Variable),
            (r".", Error),
        ],
        "escapes": [
            (r"\\(?:u\{[0-9A-Fa-f]{1,6}\}|[\\\"'ntr])", String.Escape),
            (r"\\.", Error),
            (r"\{\{", String.Interpol, "interpolation"),
        ],
        "double": [
            include("escapes"),
            (r'"', String.Double, "#pop"),
            (r"\n", Error, "#pop"),  # a raw newline ends a broken string
            (r'[^"\\{\n]+|\{', String.Double),
        ],
        "single": [
            include("escapes"),
            (r"'", String.Single, "#pop"),
            (r"\n", Error, "#pop"),
            (r"[^'\\{\n]+|\{", String.Single),
        ],
        "interpolation": [
            (r"\}\}", String.Interpol, "#pop"),
            (r"[ \t]+", String.Interpol),
            (r"\|", Operator),
            (words(FILTERS, suffix=r"\b"), Name.Function),
            (words(BUILTINS, suffix=r"\b"), Name.Builtin),
            (r"[A-Za-z_]\w*", Name.Variable),
            (r"\.", Punctuation),
            (r"\n", Error, "#pop:2"),
            (r".", Error),
        ],
    }
