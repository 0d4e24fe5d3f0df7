"""Every syntax error the parser knows, with its position, message and hint;
and the small helpers that word them."""

import pytest

from tisslang import TissSyntaxError, parse
from tisslang.hints import did_you_mean, edit_distance, find_unclosed_opener
from tisslang.jsonast import to_json

# source, (line, col), words in the message, words in the hint (or None)
CASES = [
    ('CATCH { LOG "x" }', (1, 1), "CATCH without TRY", "directly follow"),
    ('OPTION "a" { RUN "x" }', (1, 1), "OPTION outside CHOOSE", "write STEP here"),
    ('STEP "a" {\n    SETUP { RUN "x" }\n}', (2, 5), "SETUP inside a block", "task level"),
    ('SETUP { RUN "a" }\nSETUP { RUN "b" }', (2, 1), "at most one SETUP", "merge"),
    ('STEP "a" { TASK "b" { RUN "x" } }', (1, 12), "TASK inside a block", "make this a STEP"),
    ('RUN "x"\nTASK "t" { RUN "y" }', (1, 1), "RUN before TASK", "only directives and SET_BUDGET"),
    ('TASK "t" { RUN "y" }\nLOG "x"', (2, 1), "statement after the TASK block", "inside the TASK"),
    ('TASK "t"\nRUN "a"\nTASK "u"', (3, 1), "at most one TASK", None),
    ('STEP "a" {\n    IF x { STEP "b" { RUN "c" } }\n}', (2, 12), "cannot directly contain another STEP", None),
    ('CALL t {a: 1, a: 2}', (1, 15), "duplicate key 'a'", None),
    ('CALL t {"{{x}}": 1}', (1, 9), "object key cannot hold", None),
    ('ASSERT STEP == 1', (1, 8), "'STEP' is a keyword", None),
    ('LOG "a\\qb"', (1, 7), "unknown escape sequence '\\q'", "write \\\\ for a backslash"),
    ('LOG "\\u{D800}"', (1, 6), "not a valid character", None),
    ('#TISS! Language=Python Broken\nRUN "x"', (1, 24), "'Broken' is not a Key=Value pair", "#TISS!"),
    ('RUN "x" TIMEOUT 1s TIMEOUT 2s', (1, 28), "RUN has TIMEOUT twice", "keep one TIMEOUT"),
    ('PROMPT_AGENT "p" INTO a INTO b', (1, 25), "expected the end of the statement in PROMPT_AGENT", None),
    ('RETRY 1.5 { RUN "x" }', (1, 7), "whole number", None),
    ('STEP "a"\n{\n    RUN "x"\n}', (1, 9), "expected '{'", "same line"),
    ('STEP { RUN "x" }', (1, 6), "expected a quoted string after STEP", 'STEP needs a description'),
    ('RUN "x"\n}', (2, 1), "no open block to close", None),
    ('VAR x = [1,\n  2\nRUN "y"', (1, 9), "unclosed '['", None),
    ('ASSERT (a == 1', (1, 8), "unclosed '('", None),
    ('ASSERT a && b', (1, 10), "use the keyword AND", None),
    ('ASSERT a || b', (1, 10), "use the keyword OR", None),
    ('RUN "x" ; RUN "y"', (1, 9), "unexpected character ';'", None),
    ('ASSERT a b', (1, 10), "expected the end of the statement", None),
    ('READ "x"', (1, 9), "expected AS in READ", None),
    ('VAR = 1', (1, 5), "expected a name after VAR", None),
    ('LOG "{{ a. }}"', (1, 6), "malformed interpolation", None),
    ('WRITE "a" <<EOF\nno end', (1, 11), "heredoc <<EOF is never closed", "holds only EOF"),
    ('IF x == 1 { LOG "a" } else { LOG "b" }', (1, 23), "'else' should be 'ELSE'", "did you mean ELSE?"),
    ('ASSERT x contains "a"', (1, 10), "'contains' should be 'CONTAINS'", None),
    ('RUN "x" TIMEOUT 30sec', (1, 17), "'30sec' is neither a number nor a duration", "30s"),
    ('VAR x = "a" + "b"', (1, 13), "no arithmetic", "interpolation"),
    ('@\nRUN "x"', (1, 1), "a directive needs a name", "@persona"),
    ('WRITE "a" <<', (1, 11), "'<<' must be followed by the heredoc's delimiter", "<<EOF"),
    ('@persona\nRUN "x"', (1, 9), "expected a value or condition after @persona", None),
    ('RUN "x" AS TIMEOUT', (1, 12), "'TIMEOUT' is a keyword, not a variable name", None),
    ('READ "f" AS FILE', (1, 13), "'FILE' is a keyword, not a variable name", None),
    ('PROMPT_AGENT "p" INTO STEP', (1, 23), "'STEP' is a keyword, not a variable name", None),
    ('VAR x = True', (1, 9), None, None),  # only the position is pinned: 'True' is a name
]


@pytest.mark.parametrize("source, position, message, hint", CASES, ids=[c[2] or c[0] for c in CASES])
def test_error_position_message_and_hint(source, position, message, hint):
    if message is None:  # `True` is an ordinary (unset) name: no syntax error
        parse(source)
        return
    with pytest.raises(TissSyntaxError) as info:
        parse(source, "e.tiss")
    first = info.value.first
    assert (first.line, first.col) == position, first.format()
    assert message in first.message, first.format()
    if hint is not None:
        assert first.hint is not None and hint in first.hint, first.format()
    assert first.source_line == source.split("\n")[first.line - 1]


def test_errors_come_sorted_by_position_without_duplicates():
    source = 'LOG hi\nLOG "{{x | nope}}"\nRUN ls\nELSE { RUN "z" }\n'
    with pytest.raises(TissSyntaxError) as info:
        parse(source)
    positions = [(d.line, d.col) for d in info.value.diagnostics]
    assert positions == sorted(set(positions)) and [p[0] for p in positions] == [1, 2, 3, 4]


def test_a_stray_closing_brace_is_reported_once():
    with pytest.raises(TissSyntaxError) as info:
        parse('STEP "a" { RUN "x" } }\nRUN y\n')
    assert [(d.line, d.col) for d in info.value.diagnostics] == [(1, 22), (2, 5)]


def test_a_file_with_many_errors_stops_at_twenty():
    with pytest.raises(TissSyntaxError) as info:
        parse("RUN ls\n" * 50)
    assert len(info.value.diagnostics) == 20


def test_error_text_has_path_line_col_source_and_caret():
    with pytest.raises(TissSyntaxError) as info:
        parse('STEP "s" {\n\tRUN ls\n}\n', "dir/plan.tiss")
    assert str(info.value).splitlines() == [
        "dir/plan.tiss:2:6: error: expected a quoted string or a heredoc (<<EOF) after RUN, found 'ls'",
        "     RUN ls",
        "         ^",
        'hint: quote it: RUN "ls"',
    ]


@pytest.mark.parametrize("a, b, distance", [
    ("RUN", "RUN", 0), ("RUNN", "RUN", 1), ("ASERT", "ASSERT", 1), ("WIRTE", "WRITE", 1),
    ("", "ABC", 3), ("STEP", "STOP", 1), ("kitten", "sitting", 3),
])
def test_edit_distance(a, b, distance):
    assert edit_distance(a, b) == distance == edit_distance(b, a)


def test_did_you_mean_needs_a_close_word():
    assert did_you_mean("PRMPT_AGENT", ["PROMPT_AGENT", "PAUSE"]) == "PROMPT_AGENT"
    assert did_you_mean("BANANA", ["RUN", "STEP"]) is None


def test_unclosed_opener_is_the_one_whose_closer_is_misindented():
    text = 'TASK "t" {\n    STEP "a" {\n        RUN "x"\n    STEP "b" {\n    }\n}\n'
    assert find_unclosed_opener(text) == (2, 14, "{")
    assert find_unclosed_opener('A {\n  B {\n') == (2, 5, "{")
    assert find_unclosed_opener('A { "{" }\n') is None


@pytest.mark.parametrize("source, position", [
    ('VAR x = ' + '[' * 2000 + ']' * 2000, (1, 109)),
    ('STEP "a" {\n' + 'IF x {\n' * 2000 + '}\n' * 2001, (101, 6)),
    ('ASSERT ' + '(' * 2000 + 'x' + ')' * 2000, (1, 108)),
    ('RUN ls\nASSERT ' + '(' * 2000 + 'x' + ')' * 2000, (2, 108)),  # through error recovery
])
def test_nesting_deeper_than_100_is_an_error_not_a_crash(source, position):
    with pytest.raises(TissSyntaxError) as info:
        parse(source)
    first = info.value.first
    assert (first.line, first.col) == position and "more than 100 deep" in first.message


def test_nesting_of_100_parses_and_converts_to_json():
    program = parse('STEP "a" {\n' + 'IF x {\n' * 99 + 'RUN "y"\n' + '}\n' * 100)
    node, depth = to_json(program)["body"][0], 0  # the STEP
    while node["type"] != "Run":
        node = node["branches"][0] if node["type"] == "If" else node["body"][0]
        depth += node["type"] == "Branch"
    assert depth == 99
