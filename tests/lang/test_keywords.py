"""The one keyword table (tisslang/keywords.py): it is exactly the grammar's
words, and every part that knows keywords reads it."""

from __future__ import annotations

import re

from pygments.token import Keyword, Operator

from runtime.repl_input import KEYWORDS as COMPLETED
from tisslang import formatter, keywords, parser
from tisslang.highlight import TissLangLexer


def grammar_words() -> set[str]:
    """The literal words among grammar.lark's terminals (named or inline)."""
    lark, _ = parser._parsers()
    return {terminal.pattern.value for terminal in lark.terminals
            if terminal.pattern.type == "str" and re.fullmatch(r"[A-Za-z_]+", terminal.pattern.value)}


def test_the_table_is_exactly_the_grammars_words():
    assert grammar_words() == keywords.RESERVED


def test_every_word_has_one_role_and_statement_keywords_open_statements():
    assert len(keywords.ROLES) == len(keywords.KEYWORDS)
    assert set(keywords.STATEMENT_KEYWORDS) == set(keywords.COMMANDS + keywords.STRUCTURES)
    # The first word of each alternative of the grammar's `stmt` rule.
    rules = parser._parsers()[0].rules
    statements = {rule.expansion[0].name for rule in rules if rule.origin.name == "stmt"}
    openers = {rule.expansion[0].name for rule in rules if rule.origin.name in statements}
    assert openers - {"DIRECTIVE"} == set(keywords.STATEMENT_KEYWORDS)


def test_the_highlighter_the_completion_and_the_formatter_read_the_table():
    lexed = dict((text, kind) for kind, text in TissLangLexer().get_tokens(" ".join(keywords.KEYWORDS)))
    assert {word for word, kind in lexed.items() if kind in (Keyword, Operator.Word)} == keywords.KEYWORDS
    assert set(COMPLETED) == keywords.RESERVED
    assert formatter.RESERVED == keywords.RESERVED
    assert parser._RESERVED == keywords.RESERVED
