"""The Pygments lexer (tisslang/highlight.py)."""

from __future__ import annotations

from pathlib import Path

import pytest
from pygments import highlight
from pygments.formatters import HtmlFormatter
from pygments.lexers import get_lexer_by_name, get_lexer_for_filename
from pygments.token import Comment, Error, Keyword, Name, Number, Operator, String

from tisslang import highlight as lexer_module
from tisslang.checker import BUILTINS
from tisslang.keywords import KEYWORDS
from tisslang.highlight import TissLangLexer

EXAMPLES = sorted((Path(__file__).parents[2] / "examples").glob("*.tiss"))


def tokens(source: str) -> list[tuple[object, str]]:
    """(token type, text) pairs, whitespace left out."""
    return [(kind, text) for kind, text in TissLangLexer().get_tokens(source)
            if text.strip()]


def test_registered_with_pygments_through_the_entry_point():
    assert isinstance(get_lexer_by_name("tisslang"), TissLangLexer)
    assert isinstance(get_lexer_by_name("tiss"), TissLangLexer)
    assert isinstance(get_lexer_for_filename("plan.tiss"), TissLangLexer)


def test_the_lexer_knows_exactly_the_parsers_words():
    words = (lexer_module.COMMANDS + lexer_module.STRUCTURES + lexer_module.CLAUSES
             + lexer_module.WORD_OPERATORS)
    assert len(words) == len(set(words))
    assert set(words) == KEYWORDS
    assert set(lexer_module.BUILTINS) == BUILTINS


def test_keywords_directives_numbers_and_operators():
    found = tokens('@timeout "5s"\nRUN "x" TIMEOUT 30s AS out\nASSERT out.EXIT_CODE >= -1 AND NOT x\n')
    assert (Name.Decorator, "@timeout") in found
    assert (Keyword, "RUN") in found
    assert (Keyword, "TIMEOUT") in found
    assert (Keyword, "AS") in found
    assert (Number.Float, "30s") in found
    assert (Number.Integer, "-1") in found
    assert (Operator, ">=") in found
    assert (Operator.Word, "AND") in found
    assert (Operator.Word, "NOT") in found
    assert (Name.Variable, "out") in found


def test_strings_with_interpolation_and_escapes():
    found = tokens('LOG "a \\"b\\" {{ name.FIELD | trim }} c"\n')
    assert (String.Escape, '\\"') in found
    assert (String.Interpol, "{{") in found
    assert (Name.Variable, "name") in found
    assert (Name.Function, "trim") in found
    assert (String.Interpol, "}}") in found
    assert (String.Double, " c") in found


def test_builtins_and_constants():
    found = tokens("ASSERT LAST_RUN.TIMED_OUT == false OR x == null\n")
    assert (Name.Builtin, "LAST_RUN") in found
    assert (Keyword.Constant, "false") in found
    assert (Keyword.Constant, "null") in found


def test_comments_and_header():
    found = tokens("#TISS! Language=Python\n# a note\nRUN \"x\"  # trailing\n")
    assert found[0] == (Comment.Preproc, "#TISS! Language=Python")
    assert (Comment.Single, "# a note") in found
    assert (Comment.Single, "# trailing") in found


def test_heredoc_body_is_one_string_with_interpolations_unless_raw():
    source = ('RUN <<SH TIMEOUT 5s  # why\n    echo {{x}} # not a comment\n    SH\n'
              "WRITE \"f\" <<'PY'\nprint({{y}})\nPY\n")
    found = tokens(source)
    assert (Keyword, "TIMEOUT") in found  # the rest of the opener line is code
    assert (Comment.Single, "# why") in found
    assert (String.Interpol, "{{x}}") in found
    assert (String.Heredoc, " # not a comment\n") in found
    assert (String.Heredoc, "print({{y}})\n") in found  # raw: no interpolation
    assert (String.Heredoc, "SH") in found and (String.Heredoc, "PY") in found
    assert not any(kind is Comment.Single and "not a comment" in text for kind, text in found)


def test_broken_input_gives_error_tokens_not_exceptions():
    found = tokens('LOG "unterminated\nRUN $x\n')
    assert (Error, "\n") in [(k, t) for k, t in TissLangLexer().get_tokens('LOG "x\n')]
    assert (Error, "$") in found
    assert (Keyword, "RUN") in found  # lexing goes on after the broken string


@pytest.mark.parametrize("path", EXAMPLES, ids=lambda p: p.name)
def test_examples_lex_without_errors_and_losslessly(path):
    source = path.read_text(encoding="utf-8")
    pieces = list(TissLangLexer().get_tokens_unprocessed(source))
    assert "".join(text for _, _, text in pieces) == source
    assert [text for _, kind, text in pieces if kind is Error] == []
    assert "<span" in highlight(source, TissLangLexer(), HtmlFormatter())
