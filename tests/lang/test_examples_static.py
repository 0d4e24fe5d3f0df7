"""The example plans (examples/*.tiss) are valid, canonical, documented, and
together cover every construct of the language. (Running them is the
runtime's tests' job.)"""

from __future__ import annotations

import dataclasses
import subprocess
import sys
from pathlib import Path

import pytest

from tisslang import ast as A
from tisslang import parse
from tisslang.checker import BUDGET_KEYS, KNOWN_DIRECTIVES, check
from tisslang.formatter import format_source

ROOT = Path(__file__).parents[2]
EXAMPLES = sorted((ROOT / "examples").glob("*.tiss"))


def nodes(node):
    """Every AST node under ``node`` (itself included)."""
    stack = [node]
    while stack:
        item = stack.pop()
        if isinstance(item, (tuple, list)):
            stack.extend(item)
        elif isinstance(item, A.Node):
            yield item
            stack.extend(getattr(item, f.name) for f in dataclasses.fields(item)
                         if f.name != "span")


def test_there_are_at_least_ten_examples():
    assert len(EXAMPLES) >= 10


@pytest.mark.parametrize("path", EXAMPLES, ids=lambda p: p.name)
def test_example_is_clean_canonical_and_says_what_it_shows(path):
    source = path.read_text(encoding="utf-8")
    program = parse(source, str(path))
    assert [d.format() for d in check(program, source=source)] == []
    assert format_source(source, str(path)) == source
    opening = [c.text for c in program.comments if c.span.line <= 12]
    summary = " ".join(opening)
    assert "Shows:" in summary and "Outcome:" in summary


def test_the_cli_accepts_every_example():
    files = [str(p) for p in EXAMPLES]
    for command in (["check"], ["fmt", "--check"]):
        done = subprocess.run([sys.executable, "-m", "runtime.cli", *command, *files],
                              capture_output=True, text=True, cwd=ROOT, timeout=120)
        assert (done.returncode, done.stderr) == (0, "")


def test_only_a_few_examples_need_a_model_and_they_say_so():
    needing = []
    for path in EXAMPLES:
        program = parse(path.read_text(encoding="utf-8"), str(path))
        if any(isinstance(n, (A.PromptAgent, A.Call)) for n in nodes(program)):
            needing.append(path.name)
            assert "Needs a model backend" in " ".join(c.text for c in program.comments)
    assert 1 <= len(needing) <= 2, needing


def test_examples_cover_every_construct():
    programs = [parse(p.read_text(encoding="utf-8"), str(p)) for p in EXAMPLES]
    everything = [n for program in programs for n in nodes(program)]
    kinds = {type(n) for n in everything}

    statement_kinds = set(A.Stmt.__args__)
    expression_kinds = set(A.Expr.__args__)
    assert statement_kinds - kinds == set()
    assert expression_kinds - kinds == set()
    assert {A.Heredoc, A.Interpolation, A.Branch} <= kinds

    compare_ops = {n.op for n in everything if isinstance(n, A.Compare)}
    assert compare_ops == {"==", "!=", "<", "<=", ">", ">=", "CONTAINS", "NOT_CONTAINS",
                           "MATCHES", "STARTS_WITH", "ENDS_WITH"}
    predicates = {n.op for n in everything if isinstance(n, A.Predicate)}
    assert predicates == {"IS_EMPTY", "IS_NOT_EMPTY", "EXISTS", "NOT_EXISTS"}
    assert {n.op for n in everything if isinstance(n, A.Logical)} == {"AND", "OR"}

    tasks = [n for n in everything if isinstance(n, A.Task)]
    assert {t.leaf for t in tasks} == {True, False}
    assert any(not any(isinstance(s, A.Task) for s in p.body) for p in programs)  # a fragment
    assert any(p.header for p in programs)
    assert any(isinstance(n, A.Setup) and n.description is not None for n in everything)
    assert {n.keyword for n in everything if isinstance(n, A.Step)} == {"STEP", "OPTION"}

    runs = [n for n in everything if isinstance(n, A.Run)]
    assert any(r.timeout and r.alias for r in runs)
    assert any(isinstance(r.command, A.Heredoc) for r in runs)
    for kind in (A.Write, A.Append):
        contents = [n.content for n in everything if isinstance(n, kind)]
        assert {type(c) for c in contents} == {A.Template, A.Heredoc}
    assert {h.raw for h in everything if isinstance(h, A.Heredoc)} == {True, False}
    assert any(isinstance(n, A.PromptAgent) and isinstance(n.prompt, A.Heredoc)
               for n in everything)

    ifs = [n for n in everything if isinstance(n, A.If)]
    assert any(len(i.branches) > 1 and i.orelse for i in ifs)  # IF / ELSE IF / ELSE
    chooses = [n for n in everything if isinstance(n, A.Choose)]
    assert any(all(any(isinstance(s, A.EstimateCost) for s in option.body)
                   for option in c.body if isinstance(option, A.Step)) for c in chooses)
    assert any(isinstance(child, A.Step) for n in everything if isinstance(n, A.Parallel)
               for child in n.body)

    assert {n.key for n in everything if isinstance(n, A.SetBudget)} == set(BUDGET_KEYS)
    directives = {n.name for n in everything if isinstance(n, A.Directive)}
    assert directives <= set(KNOWN_DIRECTIVES)
    assert len(directives) >= 6

    refs = {n.name for n in everything if isinstance(n, A.Ref)}
    assert {"LAST_RUN", "LAST_ERROR", "LAST_REVIEW", "LAST_COST", "LAST_PROMPT", "BUDGET"} <= refs
    filters = {f for n in everything if isinstance(n, A.Interpolation) for f in n.filters}
    assert {"trim", "json"} <= filters
