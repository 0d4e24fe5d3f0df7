"""Goal slots (runtime/slots.py): what becomes a marker, and how a literal
goes back into a plan without becoming syntax of the plan, the shell or the
code around it."""

from __future__ import annotations

import shlex

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import tisslang
from tisslang import ast
from runtime.slots import SlotError, fill, slot


@pytest.mark.parametrize("goal, text, values", [
    ('create notes.txt containing "buy milk"', "create «F0» containing «T0»",
     {"«F0»": "notes.txt", "«T0»": "buy milk"}),
    ("echo 'quoted text' to docs/log.md", "echo «T0» to «F0»",
     {"«T0»": "quoted text", "«F0»": "docs/log.md"}),
    ("say “hi” in a.txt", "say «T0» in «F0»", {"«T0»": "hi", "«F0»": "a.txt"}),
    ("run `ls -la` then `pwd`", "run «C0» then «C1»", {"«C0»": "ls -la", "«C1»": "pwd"}),
    ('run "make build" now', "run «C0» now", {"«C0»": "make build"}),
    ("a function called greet in hello.py", "a function called «I0» in «F0»",
     {"«I0»": "greet", "«F0»": "hello.py", "«M0»": "hello"}),
    ("add add_numbers() to src/calc.py", "add «I0» to «F0»",
     {"«I0»": "add_numbers", "«F0»": "src/calc.py", "«M0»": "src.calc"}),
    ("set timeout to 30 in config.json", "set «I0» to «N0» in «F0»",
     {"«I0»": "timeout", "«N0»": "30", "«F0»": "config.json"}),
    ("retry it up to 3 times", "retry it up to 3 times", {}),       # RETRY takes the digit
    ("copy a.txt to b.txt and a.txt again", "copy «F0» to «F1» and «F0» again",
     {"«F0»": "a.txt", "«F1»": "b.txt"}),
    ("tidy   the\n  desk", "tidy the desk", {}),
    # an escaped quote inside a quoted literal is part of it, written unescaped
    (r'write "say \"hi\" now" to a.txt', "write «T0» to «F0»",
     {"«T0»": 'say "hi" now', "«F0»": "a.txt"}),
    (r"print 'it\'s ok' in b.txt", "print «T0» in «F0»", {"«T0»": "it's ok", "«F0»": "b.txt"}),
    (r'save "C:\temp\x" to c.txt', "save «T0» to «F0»", {"«T0»": r"C:\temp\x", "«F0»": "c.txt"}),
    # a camelCase name is an identifier without a cue; a brand name is not
    ("make addNumbers in calc.py return the sum", "make «I0» in «F0» return the sum",
     {"«I0»": "addNumbers", "«F0»": "calc.py", "«M0»": "calc"}),
    ("it runs on macOS and iPhone", "it runs on macOS and iPhone", {}),
])
def test_literals_become_typed_markers(goal, text, values):
    slotted = slot(goal)
    assert (slotted.text, slotted.values) == (text, values)


def test_too_many_literals_of_one_type_is_a_clear_error():
    with pytest.raises(SlotError, match="more than 10 files"):
        slot(" ".join(f"f{i}.txt" for i in range(11)))


def _only(program, kind):
    found = []

    def walk(statements):
        for stmt in statements:
            if isinstance(stmt, kind):
                found.append(stmt)
            for body in ast.blocks(stmt):
                walk(body)
    walk(program.body)
    return found


def _text(template) -> str:
    assert all(isinstance(p, ast.Text) for p in template.parts), "an interpolation crept in"
    return "".join(p.value for p in template.parts)


NASTY = ['say "hi" \\o/', "{{ secret }}", "{{{x}}}", "it's; rm -rf / $(reboot) `id`", "tab\there", "{x}", "a\\"]


@pytest.mark.parametrize("literal", NASTY)
def test_a_literal_in_a_tisslang_string_stays_text(literal):
    plan = fill('ASSERT FILE "x.txt" CONTAINS "«T0»"\n', {"«T0»": literal})
    (stmt,) = _only(tisslang.parse(plan), ast.Assert)
    assert _text(stmt.condition.right) == literal


@pytest.mark.parametrize("literal", NASTY)
def test_a_literal_in_a_command_is_one_shell_argument(literal):
    plan = fill('RUN "grep «T0» notes.txt"\nRUN "grep \'«T0»\' notes.txt"\n', {"«T0»": literal})
    for stmt in _only(tisslang.parse(plan), ast.Run):
        assert shlex.split(_text(stmt.command)) == ["grep", literal, "notes.txt"]


def test_a_command_the_user_wrote_goes_in_as_written():
    plan = fill('RUN "«C0»"\n', {"«C0»": "ls -la | wc -l"})
    (stmt,) = _only(tisslang.parse(plan), ast.Run)
    assert _text(stmt.command) == "ls -la | wc -l"


@pytest.mark.parametrize("literal", NASTY)
def test_a_literal_in_a_string_of_code_in_a_heredoc_stays_a_string(literal):
    plan = fill('WRITE "p.py" <<\'EOF\'\nprint("«T0»")\nprint(\'«T0»\')\nEOF\n', {"«T0»": literal})
    (stmt,) = _only(tisslang.parse(plan), ast.Write)
    body = _text(stmt.content.body)
    printed = []
    exec(compile(body, "p.py", "exec"), {"print": printed.append})
    assert printed == [literal, literal]


def test_heredoc_text_and_a_marker_the_goal_lacks():
    plan = fill('WRITE "«F0»" <<EOF\n    «T0» and «T1»\n    EOF\n', {"«F0»": "a.txt", "«T0»": "hello"})
    assert plan == 'WRITE "a.txt" <<EOF\n    hello and «T1»\n    EOF\n'


@settings(max_examples=60, deadline=None)
@given(st.text(st.characters(blacklist_categories=("Cs", "Cc")), min_size=1, max_size=30))
def test_any_text_round_trips_through_a_string_and_a_command(literal):
    plan = fill('ASSERT "«T0»" == "«T0»"\nRUN "echo «T0»"\n', {"«T0»": literal})
    program = tisslang.parse(plan)
    (check,) = _only(program, ast.Assert)
    assert _text(check.condition.left) == literal
    (run,) = _only(program, ast.Run)
    assert shlex.split(_text(run.command)) == ["echo", literal]


def test_braces_in_a_literal_make_its_heredoc_raw_never_an_interpolation():
    plan = fill('WRITE "a.txt" <<EOF\n    «T0»\n    EOF\n', {"«T0»": "{{secret}}"})
    (stmt,) = _only(tisslang.parse(plan), ast.Write)
    assert stmt.content.raw and _text(stmt.content.body) == "{{secret}}\n"


def test_braces_cannot_go_into_a_heredoc_that_interpolates():
    with pytest.raises(SlotError, match="cannot go into a heredoc"):
        fill('WRITE "a.txt" <<EOF\n    {{name}} «T0»\n    EOF\n', {"«T0»": "{{x}}"})
