"""Expressions nest without brackets too: ``NOT NOT … x`` and long ``a AND b
AND …`` chains (left-deep trees). The parser bounds them like brackets
(tisslang/depth.py), so no pass meets a RecursionError (found by
tests/test_cli_fuzz.py)."""

from __future__ import annotations

import pytest

from runtime.cli import main
from tests.lang.test_deep_nesting import (  # noqa: F401 - a fixture
    N, called_from_deep_stack, default_recursion_limit, every_pass_of)
from tisslang import TissSyntaxError, parse

CHAIN = "x" + " AND x" * (N - 1)    # N Logical nodes
DEEPEST = {
    "not chain": "VAR x = true\nASSERT " + "NOT " * N + "x\n",
    "and chain": "VAR x = true\nASSERT " + CHAIN + "\n",
    "and chain in the deepest blocks": "VAR x = true\n" + "IF x {\n" * (N - 1) + "ASSERT " + CHAIN
                                       + "\n" + "}\n" * (N - 1),
}
TOO_DEEP = {
    "not chain": "ASSERT " + "NOT " * 2000 + "x\n",
    "and chain": "ASSERT x" + " AND x" * 2000 + "\n",
    "or chain": "ASSERT x" + " OR x" * 2000 + "\n",
    "chains in brackets": "ASSERT " + "(" * 60 + "x" + ") AND x AND x" * 60 + "\n",   # 60 brackets, 120 ANDs
}


@pytest.mark.parametrize("shape", DEEPEST)
def test_every_pass_follows_the_deepest_expression(shape, default_recursion_limit, tmp_path, capsys):
    outcome = called_from_deep_stack(lambda: every_pass_of(DEEPEST[shape], tmp_path))
    assert outcome.status == "succeeded", outcome.error
    assert default_recursion_limit == []


@pytest.mark.parametrize("shape", TOO_DEEP)
def test_too_deep_expression_is_one_clear_error_everywhere(shape, default_recursion_limit, tmp_path, capsys):
    message = f"the expression nests operators more than {N} deep"
    with pytest.raises(TissSyntaxError) as info:
        parse(TOO_DEEP[shape])
    assert info.value.first.message == message
    plan = tmp_path / "deep.tiss"
    plan.write_text(TOO_DEEP[shape], encoding="utf-8")
    for command in (["check"], ["fmt"], ["parse", "--json"], ["run", "--dry-run", "--workspace", str(tmp_path)],
                    ["run", "--workspace", str(tmp_path)]):
        assert main([*command, str(plan)]) == 2
        err = capsys.readouterr().err
        assert f"error: {message}" in err and "Traceback" not in err
    assert default_recursion_limit == []
