"""Property tests: random ASTs survive format → parse unchanged, formatting is
idempotent, comments sprinkled into a plan are all kept, and randomly edited
examples (odd layouts that still parse) format safely."""

from __future__ import annotations

from pathlib import Path

from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from tisslang import TissSyntaxError, parse
from tisslang.formatter import format_program, format_source

from .strategies import programs

# Generating trees is most of the cost; these counts keep the file near 30 s.
PROPERTY_SETTINGS = settings(max_examples=120, deadline=None,
                             suppress_health_check=[HealthCheck.too_slow,
                                                    HealthCheck.data_too_large])


@PROPERTY_SETTINGS
@given(programs())
def test_random_ast_survives_format_then_parse_and_formatting_is_idempotent(program):
    text = format_program(program)
    assert parse(text) == program
    assert format_source(text) == text


@st.composite
def commented_plans(draw):
    """A formatted random plan with own-line and trailing comments added at
    random lines; plans where a comment landed inside a heredoc body (where
    it is text, not a comment) or broke the header are skipped."""
    program = draw(programs(max_depth=2))
    lines = format_program(program).split("\n")
    count = draw(st.integers(1, 4))
    for number in range(count):
        where = draw(st.integers(0, len(lines) - 1))
        text = f" note {number}"
        if draw(st.booleans()):
            lines.insert(where, "#" + text)
        else:
            lines[where] += "  #" + text
    source = "\n".join(lines)
    try:
        reparsed = parse(source)
    except TissSyntaxError:
        reparsed = None
    assume(reparsed == program and len(reparsed.comments) == count)
    return source, program, count


@settings(PROPERTY_SETTINGS, max_examples=60)
@given(commented_plans())
def test_comments_are_kept_and_formatting_them_is_stable(case):
    source, program, count = case
    formatted = format_source(source)
    again = parse(formatted)
    assert again == program
    assert sorted(c.text for c in again.comments) == [f" note {n}" for n in range(count)]
    assert format_source(formatted) == formatted


EXAMPLES = sorted((Path(__file__).parents[2] / "examples").glob("*.tiss"))
EDITS = ["# note", "  # aside", "{", "}", "ELSE {", "} ELSE {", "} CATCH {", 'STEP "s" {',
         "IF a {", 'RUN "x"', 'LOG "{{a}}"', "", " }", "{ ", "  # tail"]


@st.composite
def edited_examples(draw):
    """A real example with a few random line edits that still parses: odd
    layouts, comments in odd places, blocks opened and closed on odd lines."""
    lines = draw(st.sampled_from(EXAMPLES)).read_text(encoding="utf-8").split("\n")
    for _ in range(draw(st.integers(1, 4))):
        where = draw(st.integers(0, len(lines) - 1))
        edit = draw(st.sampled_from(["delete", "insert", "append", "swap"]))
        if edit == "delete":
            del lines[where]
        elif edit == "insert":
            lines.insert(where, draw(st.sampled_from(EDITS)))
        elif edit == "append":
            lines[where] += draw(st.sampled_from(EDITS))
        else:
            other = draw(st.integers(0, len(lines) - 1))
            lines[where], lines[other] = lines[other], lines[where]
    source = "\n".join(lines)
    try:
        program = parse(source)
    except TissSyntaxError:
        program = None
    assume(program is not None)
    return source, program


@settings(PROPERTY_SETTINGS, max_examples=80,
          suppress_health_check=[HealthCheck.filter_too_much, HealthCheck.too_slow])
@given(edited_examples())
def test_edited_examples_format_safely(case):
    source, program = case
    formatted = format_source(source)
    again = parse(formatted)
    assert again == program
    assert sorted(c.text.rstrip() for c in again.comments) == \
        sorted(c.text.rstrip() for c in program.comments)
    assert format_source(formatted) == formatted
