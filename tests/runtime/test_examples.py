"""Every plan in examples/ runs to the outcome its header documents.

On the host sandbox for speed; two of them also in Docker, the default
backend (skipped only when no engine answers, and never in CI, where
TISS_REQUIRE_BACKENDS=1 turns the skip into a failure)."""

from __future__ import annotations

import os
import re
from pathlib import Path

import pytest

from runtime import resume_run, run_plan

from .conftest import ScriptedModel

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"
SPECIAL = {"05_review_gate", "10_agent_writes_code", "11_fails_on_purpose", "12_pause"}


def documented_outcome(path: Path) -> str:
    match = re.search(r"^# Outcome: (\w+)", path.read_text(encoding="utf-8"), re.MULTILINE)
    return match.group(1) if match else "undocumented"


SUCCEEDS = sorted(p.stem for p in EXAMPLES.glob("*.tiss") if p.stem not in SPECIAL)

FIZZBUZZ = '''def fizzbuzz(n: int) -> str:
    if n % 15 == 0:
        return "FizzBuzz"
    if n % 3 == 0:
        return "Fizz"
    if n % 5 == 0:
        return "Buzz"
    return str(n)
'''


def example(name: str) -> Path:
    return EXAMPLES / f"{name}.tiss"


def test_every_other_example_documents_that_it_succeeds():
    """Examples with another outcome get their own test below."""
    assert {name: documented_outcome(example(name)) for name in SUCCEEDS} == {
        name: "succeeds" for name in SUCCEEDS}
    assert len(SUCCEEDS) >= 10


@pytest.mark.parametrize("name", SUCCEEDS)
def test_example_succeeds(name, tmp_path):
    outcome = run_plan(example(name), tmp_path, sandbox="host", review="pause")
    assert outcome.status == "succeeded", outcome.error
    assert all(step.status == "succeeded" for step in outcome.steps)


def test_example_leaves_the_files_it_documents(tmp_path):
    run_plan(example("03_data_pipeline"), tmp_path, sandbox="host")
    for name in ("data/sales.csv", "config.json", "out/summary.json"):
        assert (tmp_path / name).is_file(), name


@pytest.mark.parametrize("policy, status", [("approve", "succeeded"), ("reject", "rejected")])
def test_review_gate(policy, status, tmp_path):
    outcome = run_plan(example("05_review_gate"), tmp_path, sandbox="host", review=policy)
    assert outcome.status == status, outcome.error
    assert (tmp_path / "release" / "VERSION").exists() == (policy == "approve")


def test_review_gate_paused_then_approved(tmp_path):
    paused = run_plan(example("05_review_gate"), tmp_path, sandbox="host", review="pause")
    assert (paused.status, paused.exit_code) == ("paused", 75)
    done = resume_run(paused.run_id, tmp_path, verdict="approve", sandbox="host")
    assert done.status == "succeeded", done.error
    assert (tmp_path / "release" / "VERSION").read_text() == "1.4.0\n"


def test_agent_example_with_a_model_and_a_tool(tmp_path):
    """The model is this plan's neighbour (scripted here); the tool is the real built-in."""
    model = ScriptedModel([FIZZBUZZ, "It maps numbers to Fizz, Buzz or FizzBuzz."])
    outcome = run_plan(example("10_agent_writes_code"), tmp_path, sandbox="host", model=model)
    assert outcome.status == "succeeded", outcome.error
    assert (tmp_path / "fizzbuzz.py").read_text().startswith("def fizzbuzz")
    found = outcome.variables["info"]   # the built-in search_files, through the registry
    assert {"path": "fizzbuzz.py", "line": 1, "text": "def fizzbuzz(n: int) -> str:"} in found
    assert model.prompts[0][1] == "a careful Python engineer who answers with code only"


def test_agent_example_without_a_model_fails_clearly(tmp_path, monkeypatch):
    from model import backend
    monkeypatch.setattr(backend, "SHIPPED", tmp_path / "no-shipped-planner")
    monkeypatch.setenv("TISS_CONFIG", os.devnull)  # and no model configured
    outcome = run_plan(example("10_agent_writes_code"), tmp_path, sandbox="host", tools={})
    assert outcome.status == "failed"
    assert "no language model is configured" in outcome.error


def test_fails_on_purpose(tmp_path):
    outcome = run_plan(example("11_fails_on_purpose"), tmp_path, sandbox="host")
    assert (outcome.status, outcome.exit_code) == ("failed", 1)
    failed = [s.name for s in outcome.steps if s.status == "failed"]
    assert failed == ["Check the version"]
    assert re.search(r"version was \"2\.0\.0-rc1", outcome.error)


def test_pause_then_resume_never_repeats_a_finished_step(tmp_path):
    paused = run_plan(example("12_pause"), tmp_path, sandbox="host", review="pause")
    assert paused.status == "paused"
    done = resume_run(paused.run_id, tmp_path, sandbox="host")
    assert done.status == "succeeded", done.error
    assert (tmp_path / "counter.txt").read_text() == "before\nafter\n"


def docker_or_skip():
    from runtime.sandbox.docker import engine_problem
    problem = engine_problem(timeout=5)
    if problem:
        if os.environ.get("TISS_REQUIRE_BACKENDS"):
            pytest.fail(f"Docker is required here: {problem}")
        pytest.skip(f"no Docker engine: {problem}")


@pytest.mark.parametrize("name", ["02_python_module", "06_parallel_checks"])
def test_example_in_docker(name, tmp_path):
    docker_or_skip()
    outcome = run_plan(example(name), tmp_path, sandbox="docker")
    assert outcome.status == "succeeded", outcome.error


def test_interpolation_injection_in_docker_deletes_nothing(tmp_path):
    docker_or_skip()
    (tmp_path / "precious.txt").write_text("keep")
    outcome = run_plan('VAR x = "a; rm -rf ~ precious.txt"\nRUN "echo {{x}}"\n', tmp_path, sandbox="docker")
    assert outcome.status == "succeeded", outcome.error
    assert outcome.variables["LAST_RUN"]["STDOUT"] == "a; rm -rf ~ precious.txt\n"
    assert (tmp_path / "precious.txt").read_text() == "keep"
