"""Nesting is bounded by the parser (fastpath.MAX_NESTING) so that every pass
follows the deepest plan it accepts within Python's default recursion limit,
and nothing changes that limit (it is process-wide: not thread-safe)."""

from __future__ import annotations

import json
import sys

import pytest

from runtime import run_plan
from runtime.cost import per_step
from runtime.cli import main
from tisslang import TissSyntaxError, parse
from tisslang.checker import check
from tisslang.fastpath import MAX_NESTING
from tisslang.formatter import format_program
from tisslang.jsonast import to_json

N = MAX_NESTING
DEEPEST = {
    "blocks": 'VAR x = true\n' + 'IF x {\n' * (N - 1) + 'STEP "s" { VAR y = 1 }\n' + '}\n' * (N - 1),
    "lists": 'VAR x = ' + '[' * N + ']' * N + '\n',
    "objects": 'VAR x = ' + '{a: ' * N + '1' + '}' * N + '\n',
    "parentheses": 'VAR x = true\nASSERT ' + 'NOT (NOT (' * (N // 2) + 'x' + '))' * (N // 2) + '\n',
}
TOO_DEEP = {
    "blocks": 'IF x {\n' * 2000 + '}\n' * 2000,
    "parentheses": 'ASSERT ' + '(' * 2000 + 'x' + ')' * 2000 + '\n',
}


@pytest.fixture
def default_recursion_limit(monkeypatch):
    """Python's default limit for the test, and a record of any change."""
    changes = []
    previous = sys.getrecursionlimit()
    sys.setrecursionlimit(1000)
    monkeypatch.setattr(sys, "setrecursionlimit", changes.append)
    yield changes
    monkeypatch.undo()
    sys.setrecursionlimit(previous)


def called_from_deep_stack(function, frames: int = 300):
    """Run ``function`` below ``frames`` more frames, as from inside an
    application that is already deep in its own calls."""
    return function() if frames == 0 else called_from_deep_stack(function, frames - 1)


def every_pass_of(source: str, workspace):
    """Parse, check, format, JSON, cost and run ``source``; the run's outcome."""
    program = parse(source)
    assert [d for d in check(program) if d.severity == "error"] == []
    assert format_program(program, source) == format_program(parse(format_program(program)))
    json.dumps(to_json(program))
    per_step(program, {})
    return run_plan(source, workspace, sandbox="host")


@pytest.mark.parametrize("shape", DEEPEST)
def test_every_pass_follows_the_deepest_plan_without_raising_the_limit(
        shape, default_recursion_limit, tmp_path, capsys):
    outcome = called_from_deep_stack(lambda: every_pass_of(DEEPEST[shape], tmp_path))
    assert outcome.status == "succeeded", outcome.error
    assert default_recursion_limit == []


@pytest.mark.parametrize("shape", TOO_DEEP)
def test_too_deep_nesting_is_one_clear_error_everywhere(shape, default_recursion_limit, tmp_path, capsys):
    with pytest.raises(TissSyntaxError) as info:
        parse(TOO_DEEP[shape])
    assert f"more than {N} deep" in info.value.first.message
    plan = tmp_path / "deep.tiss"
    plan.write_text(TOO_DEEP[shape], encoding="utf-8")
    for command in (["check"], ["fmt"], ["parse", "--json"], ["run", "--dry-run", "--workspace", str(tmp_path)]):
        assert main([*command, str(plan)]) == 2
        err = capsys.readouterr().err
        assert f"error: the plan nests blocks or brackets more than {N} deep" in err and "Traceback" not in err
    assert default_recursion_limit == []


def test_tiss_parse_prints_the_deepest_plan_without_raising_the_limit(default_recursion_limit, tmp_path, capsys):
    plan = tmp_path / "deep.tiss"
    plan.write_text(DEEPEST["blocks"], encoding="utf-8")
    assert main(["parse", "--json", str(plan)]) == 0
    assert json.loads(capsys.readouterr().out)["type"] == "Program"
    assert main(["parse", str(plan)]) == 0
    assert default_recursion_limit == []
