"""Step definitions for features/lang/parsing.feature and errors.feature."""

import json

from pytest_bdd import given, parsers, scenarios, then, when

from tisslang import TissSyntaxError, parse
from tisslang.jsonast import to_json

scenarios("lang/parsing.feature", "lang/errors.feature")


@given("the plan:", target_fixture="source")
def the_plan(docstring):
    return docstring + "\n"


@given("the plan with Windows line endings:", target_fixture="source")
def the_plan_crlf(docstring):
    return (docstring + "\n").replace("\n", "\r\n")


@when("I parse it", target_fixture="outcome")
def parse_it(source):
    try:
        return parse(source, "plan.tiss")
    except TissSyntaxError as error:
        return error


def _program(outcome):
    assert not isinstance(outcome, TissSyntaxError), f"parse failed:\n{outcome}"
    return outcome


def _errors(outcome):
    assert isinstance(outcome, TissSyntaxError), "the plan parsed without errors"
    return outcome.diagnostics


def _statement(program, number: str):
    """``"2"`` is the second top-level statement, ``"1.3"`` the third
    statement in the body of the first."""
    body, node = program.body, None
    for index in number.split("."):
        node = body[int(index) - 1]
        body = getattr(node, "body", ())
    return node


# --- AST ---------------------------------------------------------------------


@then(parsers.parse('the JSON at "{path}" is {value}'))
def json_at(outcome, path, value):
    node = to_json(_program(outcome))
    for key in path.split("."):
        node = node[int(key)] if key.isdigit() else node[key]
    assert node == json.loads(value)


@then(parsers.parse("the program has {count:d} statements"))
def statement_count(outcome, count):
    assert len(_program(outcome).body) == count


@then(parsers.parse("the statement types are {names}"))
def statement_types(outcome, names):
    assert [type(s).__name__ for s in _program(outcome).body] == names.split(", ")


@then(parsers.parse("the task's statement types are {names}"))
def task_statement_types(outcome, names):
    (task,) = _program(outcome).body
    assert [type(s).__name__ for s in task.body] == names.split(", ")


@then(parsers.parse("the heredoc body of statement {number} is {text}"))
def heredoc_body(outcome, number, text):
    statement = _statement(_program(outcome), number)
    heredoc = next(v for v in vars(statement).values() if type(v).__name__ == "Heredoc")
    rendered = "".join(getattr(p, "value", None) or "{{%s}}" % ".".join(
        (p.ref.name,) + p.ref.fields) for p in heredoc.body.parts)
    assert rendered == json.loads(text)


@then("the program has no comments")
def no_comments(outcome):
    assert _program(outcome).comments == ()


@then(parsers.parse('comment {number:d} is "{text}" at line {line:d}, column {col:d}'))
def comment_at(outcome, number, text, line, col):
    comment = _program(outcome).comments[number - 1]
    assert (comment.text, comment.span.line, comment.span.col) == (text, line, col)


# --- errors ------------------------------------------------------------------


@then(parsers.parse('parsing fails at line {line:d}, column {col:d} with "{message}"'))
def fails_at(outcome, line, col, message):
    first = _errors(outcome)[0]
    assert (first.line, first.col) == (line, col), first.format()
    assert message in first.message, first.format()
    assert first.path == "plan.tiss"


@then(parsers.re(r"""the hint says (?P<quote>["'])(?P<hint>.*)(?P=quote)$"""))
def hint_says(outcome, hint, quote):
    assert _errors(outcome)[0].hint == hint.replace('\\"', '"')


@then(parsers.re(r"there (is|are) (?P<count>\d+) errors?$"))
def error_count(outcome, count):
    errors = _errors(outcome)
    assert len(errors) == int(count), "\n".join(e.format() for e in errors)


@then(parsers.parse('error {number:d} is at line {line:d} with "{message}"'))
def error_number(outcome, number, line, message):
    error = _errors(outcome)[number - 1]
    assert error.line == line and message in error.message, error.format()


@then("the error prints as:")
def prints_as(outcome, docstring):
    assert str(outcome) == docstring
