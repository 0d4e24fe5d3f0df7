"""The planner (runtime/planner.py) and ``tiss plan``: a REAL tiny TissLM
(tests/runtime/conftest.py) writes plans under the grammar constraint; a
backend double that cannot constrain exercises the repair loop."""

from __future__ import annotations

import io
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from prompt_toolkit.input import create_pipe_input
from prompt_toolkit.output import DummyOutput

import tisslang
from model.backend import TissLMBackend
from runtime.config import CONFIG_ENV
from runtime.planner import PlannerError, check, plan, prompt_for
from runtime.repl import Repl

ROOT = Path(__file__).resolve().parents[2]
GOALS = ["make a file", "run the tests", "say hello", "write notes.txt then count its lines",
         "x" * 60, "déployer l'application"]


@pytest.mark.parametrize("temperature", [0.0, 1.0])
def test_a_real_tisslm_plan_parses_and_checks(bpe_model_dir, temperature):
    backend = TissLMBackend(bpe_model_dir, temperature=temperature)
    for goal in GOALS:
        result = plan(goal, backend)
        assert result.constrained
        assert tisslang.parse(result.source) == result.program
        assert not [d for d in check(result.source)[1] if d.severity == "error"]


class CannotConstrain:
    """A backend double (the planner's neighbour): no constraint, answers from a list."""

    def __init__(self, *answers):
        self.answers, self.prompts = list(answers), []

    def generate(self, prompt, *, system=None, max_tokens=256):
        self.prompts.append(prompt)
        return self.answers.pop(0)


GOOD = 'TASK "greet" {\n    STEP "write" {\n        WRITE "hello.txt" "hi"\n    }\n}\n'


def test_broken_plans_are_repaired_with_their_diagnostics():
    backend = CannotConstrain('TASK "greet" {\n    RUN ls\n', 'ASSERT missing == 1\n', GOOD)
    result = plan("greet the user", backend, repair=2)
    assert (result.source, result.attempts, result.constrained) == (GOOD, 3, False)
    assert backend.prompts[0] == prompt_for("greet the user") == "GOAL: greet the user\nPLAN:"
    # each repair shows the failed plan and the checker's words for it
    assert 'FAILED PLAN:\nTASK "greet" {\n    RUN ls\nPROBLEMS:\n' in backend.prompts[1]
    assert "FAILED PLAN:\nASSERT missing == 1\nPROBLEMS:\n1:" in backend.prompts[2]
    assert "missing" in backend.prompts[2].split("PROBLEMS:")[1]
    assert all(p.endswith("\nPLAN:") for p in backend.prompts)


def test_out_of_repairs_the_error_gives_the_last_diagnostics_and_how_to_fix():
    backend = CannotConstrain("RUN ls\n", 'ASSERT missing == 1\n')
    with pytest.raises(PlannerError) as caught:
        plan("list files", backend, repair=1)
    assert len(backend.prompts) == 2
    assert "in 2 attempt(s)" in caught.value.message
    # the last try's, in the whole plan: the TASK line built from the goal is lines 1-2
    assert "<plan>:3:" in caught.value.message and "missing" in caught.value.message
    assert [d.line for d in caught.value.diagnostics] == [3]
    assert "--repair" in caught.value.hint and "tiss model train" in caught.value.hint


def test_repl_plan_offers_a_checked_plan_from_the_real_model(bpe_model_dir, tmp_path):
    backend = TissLMBackend(bpe_model_dir)
    expected = plan("write a greeting file", backend).source
    out = io.StringIO()
    with create_pipe_input() as pipe:
        pipe.send_text(":plan write a greeting file\r")
        pipe.send_text("r")       # reject: nothing runs
        pipe.send_text("\x04")    # Ctrl-D ends the session
        repl = Repl(tmp_path, sandbox="host", input=pipe, output=DummyOutput(), stdout=out,
                    history=tmp_path / "history", model=backend)
        assert repl.loop() == 0
    assert expected.rstrip("\n") in out.getvalue()
    assert "plan discarded; nothing ran" in out.getvalue()


# --- tiss plan, as a subprocess -------------------------------------------------------


def tiss(*args, config: Path, cwd: Path):
    env = dict(os.environ, PYTHONPATH=str(ROOT), **{CONFIG_ENV: str(config)})
    return subprocess.run([sys.executable, "-m", "runtime.cli", *args], cwd=cwd, env=env,
                          stdin=subprocess.DEVNULL, capture_output=True, text=True, timeout=300)


@pytest.fixture
def config(bpe_model_dir, tmp_path):
    path = tmp_path / "config.yaml"
    path.write_text(f"model:\n  path: {bpe_model_dir}\n")
    return path


def test_tiss_plan_prints_a_checked_plan_and_writes_it_with_o(config, tmp_path):
    shown = tiss("plan", "make a file", config=config, cwd=tmp_path)
    assert shown.returncode == 0, shown.stderr
    tisslang.parse(shown.stdout)
    saved = tiss("plan", "make a file", "-o", "plan.tiss", "--json", config=config, cwd=tmp_path)
    summary = json.loads(saved.stdout)
    assert (summary["status"], summary["constrained"]) == ("planned", True)
    assert (tmp_path / "plan.tiss").read_text() == summary["plan"]
    assert tiss("check", "plan.tiss", config=config, cwd=tmp_path).returncode == 0


@pytest.mark.parametrize("verdict, code", [("approve", 0), ("reject", 3)])
def test_tiss_plan_run_reviews_then_runs_in_the_sandbox(config, tmp_path, verdict, code):
    ran = tiss("plan", "make a file", "--run", "--review", verdict, "--sandbox", "auto", "--json",
               config=config, cwd=tmp_path)
    assert ran.returncode == code, ran.stderr
    summary = json.loads(ran.stdout)
    assert summary["status"] == ("succeeded" if code == 0 else "rejected")
    runs = list((tmp_path / ".tiss" / "runs").glob("*")) if (tmp_path / ".tiss").exists() else []
    assert len(runs) == (1 if code == 0 else 0)


def test_without_a_model_or_shipped_weights_tiss_plan_says_how_to_get_one(tmp_path, monkeypatch, capsys):
    from model import backend
    from runtime import cli

    monkeypatch.setattr(backend, "SHIPPED", tmp_path / "no-weights-here")
    config = tmp_path / "config.yaml"
    config.write_text("model:\n  backend: tisslm\n")
    monkeypatch.setenv(CONFIG_ENV, str(config))
    assert cli.main(["plan", "make a file"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: no language model is configured")
    assert "hint: train a small model with `tiss model train" in err
    assert "Traceback" not in err


def test_a_goal_that_leaves_no_room_for_a_plan_is_one_clear_error(bpe_model_dir):
    backend = TissLMBackend(bpe_model_dir)
    with pytest.raises(PlannerError, match="cannot write a plan here") as caught:
        plan("write hello.txt", backend, max_tokens=3)
    assert "shorten the goal" in caught.value.hint


class PlansWithSlots(CannotConstrain):
    """A double of the embedded planner's side of the contract: sees the
    slotted goal, answers plan statements with markers."""

    plans_with_slots = True

    def generate(self, prompt, *, system=None, max_tokens=256):
        assert system is None  # the planner model needs no instructions
        return super().generate(prompt, system=system, max_tokens=max_tokens)


def test_the_model_sees_slots_and_the_plan_gets_the_literals_and_the_goal_as_task():
    backend = PlansWithSlots('WRITE "«F0»" "«T0»"\nASSERT FILE "«F0»" CONTAINS "«T0»"\n')
    goal = """save 'it "works" {{x}} \\o/' in notes.txt"""
    result = plan(goal, backend)
    assert backend.prompts == ["GOAL: save «T0» in «F0»\nPLAN:"]
    assert result.slots == {"«T0»": 'it "works" {{x}} \\o/', "«F0»": "notes.txt"}
    program = tisslang.parse(result.source)
    task = program.body[0]
    assert "".join(p.value for p in task.description.parts) == goal
    write = task.body[0]
    assert "".join(p.value for p in write.content.parts) == 'it "works" {{x}} \\o/'


def test_a_failed_run_is_replanned_with_its_report_in_the_models_words(tmp_path, monkeypatch, capsys):
    """`tiss plan --run --repair 1`: the first plan runs and fails; its report,
    with the goal's literals as markers again, goes back to the model; the
    second plan is reviewed and runs."""
    from runtime import cli, models

    failing = 'WRITE "«F0»" "draft"\nASSERT FILE "«F0»" CONTAINS "final"\n'
    fixed = 'WRITE "«F0»" "final"\nASSERT FILE "«F0»" CONTAINS "final"\n'
    backend = PlansWithSlots(failing, fixed)
    monkeypatch.setattr(models, "load_default_backend", lambda config=None: backend)
    code = cli.main(["plan", "write the final text to report.txt", "--run", "--review", "approve",
                     "--repair", "1", "--sandbox", "auto", "--workspace", str(tmp_path), "--json"])
    assert code == 0, capsys.readouterr().err
    assert (tmp_path / "report.txt").read_text() == "final"
    repair_prompt = backend.prompts[1]
    assert repair_prompt.startswith("GOAL: write the final text to «F0»\nFAILED PLAN:\n" + failing)
    assert 'FILE "«F0»" CONTAINS "final" failed' in repair_prompt
    assert "report.txt" not in repair_prompt
    assert len(list((tmp_path / ".tiss" / "runs").iterdir())) == 2


def test_without_repairs_a_failed_run_is_final(tmp_path, monkeypatch):
    from runtime import cli, models

    backend = PlansWithSlots('ASSERT FILE "«F0»" EXISTS\n')
    monkeypatch.setattr(models, "load_default_backend", lambda config=None: backend)
    code = cli.main(["plan", "check out.txt", "--run", "--review", "approve", "--repair", "0",
                     "--sandbox", "auto", "--workspace", str(tmp_path), "--json"])
    assert code == 1 and len(backend.prompts) == 1


def test_the_shipped_planner_plans_a_goal_it_never_saw_and_the_plan_does_it(tmp_path):
    """End to end with the weights in the package: a held-out wording and
    literals (runtime/planner_corpus.py's held-out split), planned, reviewed,
    run in the sandbox, and judged by the goal's own check."""
    from model.backend import SHIPPED
    from runtime import planner_corpus as corpus
    from tests.sandbox.conftest import require_backend

    require_backend("docker")
    goal = next(g for g in corpus.goals("held_out", 40, seed=5) if g.family == "function_test")
    config = tmp_path / "config.yaml"
    config.write_text(f"model:\n  path: {SHIPPED}\n")
    workspace = tmp_path / "ws"
    workspace.mkdir()
    ran = tiss("plan", goal.text, "--run", "--review", "approve", "--sandbox", "docker",
               "-o", "plan.tiss", "--json", config=config, cwd=workspace)
    assert ran.returncode == 0, ran.stderr
    assert json.loads(ran.stdout)["status"] == "succeeded"
    verdict = corpus.judge(goal, (workspace / "plan.tiss").read_text(), tmp_path / "judged",
                           sandbox="docker")
    assert verdict.success, verdict.reason


def test_the_readme_and_docs_planner_examples_plan_with_the_shipped_model():
    """Every `tiss plan "…"` in README.md and docs/planner.md gives a checked
    plan whose literals are the goal's own."""
    import re
    import shlex

    from model.backend import SHIPPED
    from runtime.slots import slot

    backend = TissLMBackend(SHIPPED)
    goals = []
    for doc in (ROOT / "README.md", ROOT / "docs" / "planner.md"):
        for line in doc.read_text().splitlines():
            if line.startswith("tiss plan "):
                goals.append(shlex.split(line.split("#")[0])[2])
    assert len(goals) >= 4
    for goal in goals:
        result = plan(goal, backend)
        assert result.constrained and result.attempts == 1, goal
        for marker, literal in slot(goal).values.items():
            if marker in result.body:
                assert literal in result.source, (goal, result.source)


def _fed(constraint, tokenizer, text: str):
    for token in tokenizer.encode(text):
        constraint.advance(token)
    return constraint


def test_a_plan_may_not_end_before_it_uses_every_literal_of_the_goal():
    from model.backend import SHIPPED
    from model.tokenizer import Tokenizer
    from runtime.planner import CoveringConstraint
    from runtime.slots import slot
    from tisslang.constrain import for_tokenizer

    tokenizer = Tokenizer.load(SHIPPED / "tokenizer.json")
    slotted = slot('write "hi" to a.py, and then run `ls`')       # «T0» «F0» «C0» and «M0»
    inner = for_tokenizer(tokenizer, max_tokens=300, markers=tuple(slotted.values))
    covering = _fed(CoveringConstraint(inner, slotted.values), tokenizer,
                    'STEP "Write" {\n    WRITE "«F0»" "«T0»"\n}\n')
    assert inner.done() and not covering.done()          # a whole plan, but «C0» unused
    _fed(covering, tokenizer, 'STEP "Run" {\n    RUN "«C0»"\n}\n')
    assert covering.done()                               # the derived «M0» is not required
    # with the budget nearly spent, the grammar's own ending wins
    first = 'STEP "Write" {\n    WRITE "«F0»" "«T0»"\n}\n'
    tight = for_tokenizer(tokenizer, markers=tuple(slotted.values),
                          max_tokens=len(tokenizer.encode(first)) + CoveringConstraint.RESERVE - 1)
    assert _fed(CoveringConstraint(tight, slotted.values), tokenizer, first).done()
