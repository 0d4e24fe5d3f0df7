"""runtime/evaluate.py through the interpreter: AND/OR, NOT, IS_EMPTY, EXISTS,
the line numbers of expression errors and the words of ASSERT reports. Written
for the mutants bench/mutation.py found surviving."""

from __future__ import annotations

import pytest

from runtime import Session
from runtime.errors import RunError
from runtime.evaluate import compare, evaluate, show
from tisslang import ast


@pytest.fixture
def session(tmp_path):
    with Session(tmp_path, sandbox="host", journal=False) as s:
        yield s


def value_of(session, expr: str):
    outcome = session.execute(f"VAR result = {expr}\n")
    assert outcome.status == "succeeded", outcome.error
    return session.variables["result"]


def error_of(session, source: str) -> str:
    outcome = session.execute(source)
    assert outcome.status == "failed"
    return outcome.error


@pytest.mark.parametrize("expr, expected", [
    ("true AND true", True), ("true AND false", False), ("false AND true", False),
    ("false OR true", True), ("true OR false", True), ("false OR false", False),
    ('"x" AND "  "', False), ('"  " OR 0', False), ('0 OR "y"', True),
])
def test_and_or(session, expr, expected):
    assert value_of(session, expr) is expected


def test_and_or_stop_at_the_first_side_that_decides(session):
    # the right side would fail (an unknown variable): it is never evaluated
    assert value_of(session, "false AND missing == 1") is False
    assert value_of(session, "true OR missing == 1") is True


@pytest.mark.parametrize("expr, expected", [
    ('NOT "a"', False), ('NOT "  \\n"', True), ("NOT 0", True), ("NOT []", True), ("NOT [0]", False),
])
def test_not_uses_a_shell_users_truth(session, expr, expected):
    assert value_of(session, expr) is expected


@pytest.mark.parametrize("operand, empty", [
    ("null", True), ('""', True), ('" \\n "', True), ("[]", True), ("{}", True),
    ('"a"', False), ("0", False), ("false", False), ("[0]", False), ('{"k": null}', False),
])
def test_is_empty(session, operand, empty):
    session.execute(f"VAR v = {operand}\n")
    assert value_of(session, "v IS_EMPTY") is empty
    assert value_of(session, "v IS_NOT_EMPTY") is (not empty)


def test_exists_and_not_exists(session, tmp_path):
    (tmp_path / "here.txt").write_text("x")
    assert value_of(session, 'FILE "here.txt" EXISTS') is True
    assert value_of(session, 'FILE "gone.txt" EXISTS') is False
    assert value_of(session, 'FILE "gone.txt" NOT EXISTS') is True
    assert value_of(session, 'FILE "here.txt" NOT EXISTS') is False


def test_reading_a_file_gives_its_text(session, tmp_path):
    (tmp_path / "f.txt").write_text("hello\n")
    assert value_of(session, 'FILE "f.txt"') == "hello\n"


def test_file_errors_name_the_file_and_the_line(session):
    error = error_of(session, 'VAR a = 1\nVAR b = FILE "gone.txt"\n')
    assert error.startswith("<session>:2:") and "gone.txt" in error
    error = error_of(session, 'VAR a = 1\n\nVAR b = FILE "../out.txt" EXISTS\n')
    assert error.startswith("<session>:3:") and "'..'" in error


def test_a_comparison_error_points_at_its_line(session):
    error = error_of(session, "VAR a = 1\nASSERT [1] < 2\n")
    assert error.startswith("<session>:2:1: error: cannot compare [1] < 2: not two numbers or two strings")


def test_an_exists_on_something_else_than_a_file_is_refused():
    predicate = ast.Predicate("EXISTS", ast.Literal(1), span=ast.Span(4, 1, 4, 10))
    with pytest.raises(RunError) as caught:
        evaluate(predicate, env=None)
    assert (caught.value.message, caught.value.line) == ('EXISTS needs a file: FILE "path" EXISTS', 4)


def test_a_node_that_is_not_an_expression_is_refused_with_its_line():
    with pytest.raises(RunError) as caught:
        evaluate(ast.Text("x", span=ast.Span(6, 1, 6, 2)), env=None)
    assert (caught.value.message, caught.value.line) == ("cannot evaluate a Text here", 6)


def test_an_unknown_operator_is_an_error_with_its_line():
    with pytest.raises(RunError) as caught:
        compare("<>", 1, 2, line=3)
    assert (caught.value.message, caught.value.line) == ("unknown operator <>", 3)


def test_a_bad_regular_expression_is_named_with_its_line():
    with pytest.raises(RunError) as caught:
        compare("MATCHES", "abc", "a(", line=5)
    assert caught.value.message.startswith("invalid regular expression 'a(': ")
    assert caught.value.line == 5


@pytest.mark.parametrize("op, left, right, expected", [
    ("STARTS_WITH", 12, 1, True), ("STARTS_WITH", "abc", "bc", False),
    ("ENDS_WITH", "abc", "ab", False), ("ENDS_WITH", 3.0, "3", True),
    ("MATCHES", "x1", r"\d", True), ("MATCHES", "xy", r"\d", False),
    ("CONTAINS", {"key": 1}, "key", True), ("CONTAINS", {"key": 1}, 1, False),
    ("CONTAINS", [1, [2]], [2], True), ("NOT_CONTAINS", [1, 2], 3, True),
    ("CONTAINS", [True], 1, False), ("CONTAINS", "a1b", 1, True),
])
def test_text_and_membership_operators(op, left, right, expected):
    assert compare(op, left, right) is expected


def test_show_quotes_and_shortens_but_keeps_non_ascii():
    assert show("é") == '"é"'
    assert show("x" * 300) == '"' + "x" * 199 + "…"
    assert show("x" * 198) == '"' + "x" * 198 + '"'   # exactly 200 characters: kept whole


def test_explain_names_every_value_it_looked_at(session):
    session.execute('VAR n = 1\nVAR build = {"EXIT_CODE": 2, "STDERR": "a\\nb\\nboom"}\n')
    outcome = session.execute("ASSERT n == 0 AND build.EXIT_CODE == 0\n")
    assert "n == 0 AND build.EXIT_CODE == 0 failed: n was 1; build.EXIT_CODE was 2; STDERR: a | b | boom" \
        in outcome.error
    # AND stopped before `nothing`; the report still tries it, and says so
    outcome = session.execute("ASSERT n == 0 AND nothing == 0\n")
    assert "failed: n was 1; nothing could not be read (variable 'nothing' is not set)" in outcome.error


@pytest.mark.parametrize("left, right, equal", [
    (["a"], "a", False), ([1, 2], [1], False), ([1, 2], [1, 2], True), ([1, [True]], [1, [1]], False),
    ({"a": 1}, {"a": 1}, True), ({"a": 1}, {"b": 1}, False), ({"a": 1}, {"a": 2}, False),
    ({"a": "2 "}, {"a": 2}, True),
])
def test_equality_of_lists_and_objects_goes_element_by_element(left, right, equal):
    assert compare("==", left, right) is equal
    assert compare("!=", left, right) is (not equal)


def test_a_string_and_a_number_that_is_not_one_cannot_be_ordered():
    with pytest.raises(RunError) as caught:
        compare("<", "abc", 1, line=4)
    assert caught.value.message == 'cannot compare "abc" < 1: not two numbers or two strings'
    assert caught.value.line == 4


def test_a_report_without_variables_is_just_the_condition(session):
    assert "error: 1 == 2 failed\n" in error_of(session, "ASSERT 1 == 2\n")


def test_a_report_goes_on_after_a_value_it_could_not_read(session):
    session.execute("VAR n = 1\nVAR m = 2\n")
    error = error_of(session, "ASSERT n == 0 AND nothing == m\n")
    assert "failed: n was 1; nothing could not be read (variable 'nothing' is not set); m was 2\n" in error


def test_a_report_on_exists_does_not_read_the_file(session, tmp_path):
    (tmp_path / "here.txt").write_text("secret")
    assert 'error: FILE "gone.txt" EXISTS failed\n' in error_of(session, 'ASSERT FILE "gone.txt" EXISTS\n')
    assert 'error: FILE "here.txt" NOT EXISTS failed\n' in error_of(session, 'ASSERT FILE "here.txt" NOT EXISTS\n')
    error = error_of(session, 'ASSERT FILE "here.txt" IS_EMPTY\n')
    assert 'error: FILE "here.txt" IS_EMPTY failed: FILE "here.txt" was "secret"\n' in error


def test_a_report_adds_the_stderr_tail_of_a_command_record_only(session):
    lines = "\\n".join(f"e{i}" for i in range(1, 8))
    session.execute(f'VAR build = {{"EXIT_CODE": 2, "STDERR": "{lines}", "STDOUT": "out"}}\n'
                    'VAR rec = {"A": 1}\nSET_BUDGET RUN_COUNT = 5\n')
    error = error_of(session, "ASSERT build.EXIT_CODE == 0\n")
    assert "failed: build.EXIT_CODE was 2; STDERR: e3 | e4 | e5 | e6 | e7\n" in error   # the last five lines
    error = error_of(session, 'ASSERT build.STDERR == ""\n')
    assert 'failed: build.STDERR was "e1\\ne2' in error and "; STDERR:" not in error
    error = error_of(session, 'ASSERT build.STDOUT == ""\n')
    assert 'failed: build.STDOUT was "out"\n' in error
    assert 'failed: rec.A was 1\n' in error_of(session, "ASSERT rec.A == 2\n")
    assert 'failed: BUDGET.RUN_COUNT was 5\n' in error_of(session, "ASSERT BUDGET.RUN_COUNT == 0\n")


def test_an_object_never_equals_something_else():
    assert compare("==", {"a": 1}, "a") is False
    assert compare("!=", "a", {"a": 1}) is True


def test_a_comparison_error_without_a_line_has_none():
    with pytest.raises(RunError) as caught:
        compare("<", "a", 1)
    assert caught.value.line == 0
