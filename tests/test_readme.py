"""The README's tour really runs: every ```tiss block in README.md parses,
checks, is canonically formatted, and runs to success in the sandbox."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

import tisslang
from runtime import run_plan
from tisslang.checker import check
from tisslang.formatter import format_source

from .sandbox.conftest import require_backend

README = Path(__file__).resolve().parent.parent / "README.md"
PLANS = re.findall(r"^```tiss\n(.*?)^```", README.read_text(encoding="utf-8"), re.S | re.M)


def test_the_tour_has_plans():
    assert len(PLANS) >= 4


@pytest.mark.parametrize("plan", PLANS, ids=[f"plan{i + 1}" for i in range(len(PLANS))])
def test_readme_plan_is_valid_and_canonical(plan):
    program = tisslang.parse(plan, "README.md")
    assert [d.format() for d in check(program) if d.severity == "error"] == []
    assert format_source(plan, "README.md") == plan


@pytest.mark.parametrize("plan", PLANS, ids=[f"plan{i + 1}" for i in range(len(PLANS))])
def test_readme_plan_runs_in_the_sandbox(plan, tmp_path):
    require_backend("docker")
    (tmp_path / "hello.tiss").write_text(plan, encoding="utf-8")  # something for *.tiss to find
    outcome = run_plan(plan, tmp_path, sandbox="docker", review="approve")
    assert outcome.status == "succeeded", outcome.error
