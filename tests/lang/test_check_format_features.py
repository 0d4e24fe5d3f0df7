"""Step definitions for features/lang/checker.feature and formatter.feature."""

from __future__ import annotations

import shlex

from pytest_bdd import given, parsers, scenarios, then, when

from runtime.cli import main as tiss
from tisslang import parse
from tisslang.checker import check
from tisslang.formatter import format_source

scenarios("lang/checker.feature", "lang/formatter.feature")


@given("the plan:", target_fixture="source")
def the_plan(docstring):
    return docstring + "\n"


# --- checker -----------------------------------------------------------------------------


@when("I check it", target_fixture="findings")
def check_it(source):
    return check(parse(source, "plan.tiss"), source=source)


@then("the checker reports nothing")
def reports_nothing(findings):
    assert [d.format() for d in findings] == []


@then("the checker reports:")
def reports(findings, docstring):
    found = [f"{d.line}:{d.col}: {d.severity}: {d.message}" for d in findings]
    assert found == docstring.splitlines()


@then(parsers.parse('the hint at line {line:d} says "{hint}"'))
def hint_at(findings, line, hint):
    assert [d.hint for d in findings if d.line == line] == [hint]


# --- formatter ---------------------------------------------------------------------------


@when("I format it", target_fixture="formatted")
def format_it(source):
    return format_source(source, "plan.tiss")


@then("the result is:")
def result_is(formatted, docstring):
    assert formatted == docstring + "\n"


@then("formatting the result again changes nothing")
def idempotent(formatted):
    assert format_source(formatted) == formatted


@then("the result parses to the same AST")
def same_ast(source, formatted):
    assert parse(formatted) == parse(source)


# --- the command line ----------------------------------------------------------------------


@when(parsers.parse('I run "{command}" on it'), target_fixture="run")
def run_command(command, source, tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "plan.tiss").write_text(source, encoding="utf-8")
    words = shlex.split(command)
    assert words[0] == "tiss"
    code = tiss([*words[1:], "plan.tiss"])
    captured = capsys.readouterr()
    return {"code": code, "output": captured.out + captured.err, "path": tmp_path / "plan.tiss"}


@then(parsers.parse("the exit code is {code:d}"))
def exit_code(run, code):
    assert run["code"] == code, run["output"]


@then("the output is:")
def output_is(run, docstring):
    assert run["output"] == docstring + "\n"


@then("the file is unchanged")
def file_unchanged(run, source):
    assert run["path"].read_text(encoding="utf-8") == source


@then("the file now reads:")
def file_reads(run, docstring):
    assert run["path"].read_text(encoding="utf-8") == docstring + "\n"
