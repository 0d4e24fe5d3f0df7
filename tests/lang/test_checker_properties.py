"""Property tests for the checker on random ASTs."""

from __future__ import annotations

from hypothesis import HealthCheck, given, settings

from tisslang import ast as A
from tisslang import parse
from tisslang.checker import check
from tisslang.formatter import format_program

from .strategies import programs

SETTINGS = settings(max_examples=60, deadline=None,
                    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])


def summary(program):
    return sorted((d.severity, d.message) for d in check(program))


@SETTINGS
@given(programs())
def test_any_tree_gets_findings_never_an_exception_and_formatting_keeps_them(program):
    found = check(program)
    assert all(d.severity in ("error", "warning") and d.message for d in found)
    # Positions differ (the hand-built tree has none), the findings do not.
    reparsed = parse(format_program(program))
    assert summary(reparsed) == summary(program)
    positioned = check(reparsed)
    assert [(d.line, d.col) for d in positioned] == sorted((d.line, d.col) for d in positioned)
    assert all(d.line > 0 for d in positioned)


@SETTINGS
@given(programs())
def test_setting_every_variable_up_front_silences_the_variable_findings(program):
    names = {ref.name for ref in _refs(program)} - {"LAST_RUN", "LAST_PROMPT", "LAST_REVIEW",
                                                    "LAST_COST", "BUDGET", "LAST_ERROR",
                                                    "LAST_CALL"}
    preset = tuple(A.Var(name, A.Literal(0)) for name in sorted(names))
    fixed = A.Program(program.header, preset + program.body)
    assert not [d for d in check(fixed) if d.message.startswith("variable ")]


def _refs(node):
    stack = [node]
    while stack:
        item = stack.pop()
        if isinstance(item, (tuple, list)):
            stack.extend(item)
        elif isinstance(item, A.Ref):
            yield item
        elif isinstance(item, A.Node):
            stack.extend(getattr(item, name) for name in item.__dataclass_fields__
                         if name != "span")
