"""Properties of the parser on text nobody wrote on purpose.

* Whatever the input, ``parse`` returns a Program or raises TissSyntaxError
  whose diagnostics point inside the file: never another exception.
* The fast path and Lark proper agree: on every file both accept (spans and
  comments included), and on the lines of the errors in every other file.

TISS_PROPERTY_EXAMPLES=3000 runs a longer search than the default 300.
"""

import os
from pathlib import Path

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tisslang import TissSyntaxError
from tisslang import parser as parser_module
from tisslang.formatter import format_program
from tisslang.jsonast import to_json

from .strategies import programs

EXAMPLES = [p.read_text(encoding="utf-8")
            for p in sorted((Path(__file__).parents[2] / "examples").glob("*.tiss"))]
EXAMPLES.append(
    '#TISS! Language=Python\nTASK "t" {\n    STEP "s" {\n        WRITE "a" <<EOF\n'
    '        {{x | trim}}\n        EOF\n        IF a == 1 { LOG "x" } ELSE { LOG \'y\' }\n'
    '    }  # done\n}\n')

# Pieces of TissLang, so random text often gets deep into the grammar.
FRAGMENTS = [
    "TASK", "STEP", "RUN", "WRITE", "IF", "ELSE", "TRY", "CATCH", "RETRY", "CHOOSE",
    "OPTION", "SETUP", "PARALLEL", "VAR", "ASSERT", "AS", "INTO", "TIMEOUT", "NOT",
    "AND", "OR", "CONTAINS", "EXISTS", "FILE", "@persona", "{", "}", "[", "]", "(", ")",
    '"', "'", '"x"', "{{", "}}", "{{a}}", "<<EOF", "<<'EOF'", "EOF", "\n", "\r\n", "\r",
    " ", "    ", "\t", "#", "#TISS! ", "==", "<=", "=", ",", ":", ".", "|", "\\", "\\u{",
    "30s", "5m", "-3", "2.5", "true", "null", "x", "run", "é", "\x00", "\ufeff",
]

random_text = st.one_of(
    st.text(max_size=200),
    st.lists(st.sampled_from(FRAGMENTS), max_size=40).map("".join),
)


@st.composite
def mutated_examples(draw):
    """An example plan with a few characters deleted, inserted or replaced."""
    text = draw(st.sampled_from(EXAMPLES))
    for _ in range(draw(st.integers(1, 3))):
        pos = draw(st.integers(0, len(text)))
        action = draw(st.sampled_from(["delete", "insert", "replace"]))
        piece = draw(st.sampled_from(FRAGMENTS))
        if action == "delete":
            text = text[:pos] + text[pos + draw(st.integers(1, 8)):]
        elif action == "insert":
            text = text[:pos] + piece + text[pos:]
        else:
            text = text[:pos] + piece + text[pos + len(piece):]
    return text


def check_only_syntax_errors(text):
    try:
        parser_module.parse(text, "random.tiss")
    except TissSyntaxError as error:
        line_count = len(text.replace("\r\n", "\n").replace("\r", "\n").split("\n"))
        assert error.diagnostics
        for diagnostic in error.diagnostics:
            assert diagnostic.message
            assert 1 <= diagnostic.line <= line_count
            assert diagnostic.col >= 1
            assert diagnostic.format().startswith(f"random.tiss:{diagnostic.line}:")


PROPERTY = settings(max_examples=int(os.environ.get("TISS_PROPERTY_EXAMPLES", "300")), deadline=None,
                    suppress_health_check=[HealthCheck.too_slow])


@PROPERTY
@given(random_text)
def test_random_text_only_ever_raises_syntax_errors(text):
    check_only_syntax_errors(text)


@PROPERTY
@given(mutated_examples())
def test_damaged_plans_only_ever_raise_syntax_errors(text):
    check_only_syntax_errors(text)


@PROPERTY
@given(mutated_examples())
def test_fast_path_agrees_with_lark(text):
    try:
        slow = parser_module.parse(text, "m.tiss", fast=False)
    except TissSyntaxError as slow_error:
        try:
            parser_module.parse(text, "m.tiss")
        except TissSyntaxError as fast_error:
            # Same lines; the wording may differ where Lark's contextual lexer
            # splits text differently (`R==X` after SET_BUDGET: it reads '='
            # and '=', the fast lexer reads '==').
            assert [d.line for d in fast_error.diagnostics] == \
                [d.line for d in slow_error.diagnostics]
            return
        raise AssertionError(f"fast path accepted what Lark rejects:\n{slow_error}")
    fast = parser_module.parse(text, "m.tiss")
    assert to_json(fast) == to_json(slow)
    assert fast.comments == slow.comments


# Few examples: drawing a random tree costs far more than parsing it.
@settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(programs())
def test_fast_path_agrees_with_lark_on_random_valid_plans(program):
    """Random trees (the formatter's strategies), written out by the
    formatter: both parsing paths must read back the same tree and spans."""
    source = format_program(program)
    before = parser_module.path_counts["fast"]
    fast = parser_module.parse(source, "r.tiss")
    assert parser_module.path_counts["fast"] == before + 1, "valid plan fell back to Lark"
    slow = parser_module.parse(source, "r.tiss", fast=False)
    assert to_json(fast) == to_json(slow)
