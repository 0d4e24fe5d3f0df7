"""Every statement class of tisslang/ast.py is handled by every pass: the
checker, the formatter, the interpreter, the cost estimate and the dry run.
A new statement without its handler fails here instead of doing nothing."""

from __future__ import annotations

import dataclasses
import json

import pytest

from runtime import cost
from runtime.interpreter import HANDLERS
from runtime.run_cli import dry_run
from tisslang import ast, parse
from tisslang.checker import CHECKS, check
from tisslang.formatter import format_program

# One small plan per statement class; its first statement is of that class.
SAMPLES = {
    ast.Run: 'RUN "echo hi" TIMEOUT 5s AS out',
    ast.Write: 'WRITE "a.txt" "x"',
    ast.Append: 'APPEND "a.txt" <<EOF\ny\nEOF',
    ast.Read: 'READ "a.txt" AS text',
    ast.Assert: 'ASSERT 1 < 2 AND NOT ("a" CONTAINS "b")',
    ast.PromptAgent: 'PROMPT_AGENT "hello" INTO answer',
    ast.Call: 'CALL search {q: "x"} INTO found',
    ast.Var: 'VAR v = [1, {k: FILE "a.txt"}]',
    ast.Log: 'LOG "v"',
    ast.SetBudget: 'SET_BUDGET RUN_COUNT = 10',
    ast.RequestReview: 'REQUEST_REVIEW "ok?"',
    ast.Pause: 'PAUSE "wait"',
    ast.Directive: '@timeout 30s\nSTEP "d" { RUN "x" }',
    ast.Step: 'STEP "s" { RUN "x" }',
    ast.Setup: 'SETUP { RUN "x" }',
    ast.If: 'IF 1 == 1 {\n STEP "then" { RUN "a" }\n} ELSE IF 2 == 2 {\n RUN "b"\n} ELSE {\n STEP "else" { RUN "c" }\n}',
    ast.Parallel: 'PARALLEL {\n STEP "p1" { RUN "a" }\n STEP "p2" { RUN "b" }\n}',
    ast.Choose: 'CHOOSE {\n OPTION "o1" { RUN "a" }\n OPTION "o2" { RUN "b" }\n}',
    ast.EstimateCost: 'ESTIMATE_COST { RUN "x" }',
    ast.Try: 'TRY {\n STEP "try" { RUN "a" }\n} CATCH {\n STEP "catch" { RUN "b" }\n}',
    ast.Retry: 'RETRY 2 {\n STEP "again" { RUN "a" }\n}',
    ast.Task: 'TASK "t" {\n STEP "in task" { RUN "a" }\n}',
}
# Nodes of ast.py that are neither statements nor expressions.
PARTS = {ast.Span, ast.Node, ast.Text, ast.Interpolation, ast.Heredoc, ast.Branch,
         ast.Comment, ast.Program}


def sample(kind) -> ast.Program:
    program = parse(SAMPLES[kind] + "\n")
    assert type(program.body[0]) is kind
    return program


def test_every_class_of_ast_py_is_a_statement_an_expression_or_a_part():
    classes = {value for value in vars(ast).values()
               if isinstance(value, type) and dataclasses.is_dataclass(value) and value.__module__ == ast.__name__}
    statements, expressions = set(ast.STATEMENTS), set(ast.Expr.__args__)
    assert classes == statements | expressions | PARTS
    assert set(SAMPLES) == statements


@pytest.mark.parametrize("kind", ast.STATEMENTS, ids=lambda kind: kind.__name__)
def test_every_pass_handles_every_statement(kind, tmp_path, capsys):
    program = sample(kind)
    assert kind in CHECKS
    assert [d for d in check(program) if d.severity == "error"] == []
    assert parse(format_program(program)) == program
    assert kind in HANDLERS
    assert kind in cost.ESTIMATES
    cost.estimate(program.body, {})
    assert dry_run(program, tmp_path, as_json=True) == 0
    assert json.loads(capsys.readouterr().out)["status"] == "dry-run"


def test_every_statement_opens_with_a_word_of_the_keyword_table():
    from tisslang.keywords import STATEMENT_KEYWORDS
    for kind in ast.STATEMENTS:
        word = ast.opening_word(sample(kind).body[0])
        assert word in STATEMENT_KEYWORDS or kind is ast.Directive and word == "@timeout"
    assert ast.opening_word(sample(ast.Choose).body[0].body[0]) == "OPTION"


def steps_in(node) -> list[str]:
    """Every STEP/OPTION/SETUP below ``node``, found through the dataclass
    fields (independently of ast.blocks), in source order."""
    found = []
    if isinstance(node, (ast.Step, ast.Setup)):
        return [node.description.parts[0].value if node.description else "SETUP"]
    if isinstance(node, tuple):
        for item in node:
            found += steps_in(item)
    elif dataclasses.is_dataclass(node):
        for field in dataclasses.fields(node):
            found += steps_in(getattr(node, field.name))
    return found


@pytest.mark.parametrize("kind", ast.STATEMENTS, ids=lambda kind: kind.__name__)
def test_the_dry_run_costs_every_step_wherever_it_is_nested(kind):
    program = sample(kind)
    rows = cost.per_step(program, {})
    assert [row["name"] for row in rows] == steps_in(program.body)


def test_a_statement_kind_without_an_estimate_is_an_error_not_a_zero():
    @dataclasses.dataclass(frozen=True)
    class Teleport(ast.Node):
        where: str

    with pytest.raises(TypeError, match="no entry for Teleport"):
        cost.estimate([Teleport("mars")], {})
