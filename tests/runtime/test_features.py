"""Step definitions for features/runtime/*.feature (the runtime's behaviour spec)."""

from __future__ import annotations

import json
import os

import pytest
from pytest_bdd import given, parsers, scenarios, then, when

from runtime import resume_run
from tisslang import TissSyntaxError
from runtime.review import Answer

from .conftest import ScriptedModel, events_of

scenarios("runtime")


@pytest.fixture
def world(run):
    return {"run": run, "options": {}, "outcome": None, "answers": []}


# --- given ---------------------------------------------------------------------


@given("the plan:", target_fixture="plan")
def given_plan(docstring):
    return docstring


@given(parsers.parse('the workspace file "{name}" contains "{text}"'))
def given_file(world, name, text):
    path = world["run"].workspace / name
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(_unescape(text))


@given(parsers.parse('a symlink "{name}" in the workspace pointing to "{target}"'))
def given_symlink(world, name, target, tmp_path):
    target_path = tmp_path / target
    target_path.parent.mkdir(parents=True, exist_ok=True)
    if not target.endswith("/"):
        target_path.write_text("outside\n")
    os.symlink(target_path, world["run"].workspace / name)


@given("no language model is installed")
def given_no_model(monkeypatch):
    """Neither a configured model nor the planner shipped in the package."""
    from model import backend
    monkeypatch.setattr(backend, "SHIPPED", backend.SHIPPED.with_name("not-installed"))
    monkeypatch.setenv("TISS_CONFIG", os.devnull)


@given(parsers.parse('a model that answers "{answer}"'))
def given_model(world, answer):
    world["model"] = ScriptedModel([_unescape(a.strip()) for a in answer.split("|")])
    world["options"]["model"] = world["model"]


@given(parsers.parse('the reviewer answers "{verdict}" with comment "{comment}"'))
def given_reviewer(world, verdict, comment):
    def reviewer(request):
        world["answers"].append(request)
        return Answer(verdict, comment)
    world["options"]["review"] = reviewer


@given(parsers.parse('the review policy is "{policy}"'))
def given_policy(world, policy):
    world["options"]["review"] = policy


@given(parsers.parse('the choose policy is "{policy}"'))
def given_choose(world, policy):
    world["options"]["choose"] = policy


# --- when ----------------------------------------------------------------------


@when("I run the plan")
def when_run(world, plan, tmp_path):
    plan = plan.replace("$OUTSIDE", str(tmp_path))   # an absolute path outside the workspace
    world["plan"] = plan
    world["outside"] = _outside_files(world, tmp_path)
    world["outcome"] = world["run"](plan, **world["options"])


@when("I try to run the plan")
def when_try_run(world, plan, tmp_path):
    plan = plan.replace("$OUTSIDE", str(tmp_path))
    world["outside"] = _outside_files(world, tmp_path)
    with pytest.raises(TissSyntaxError) as refused:
        world["run"](plan, **world["options"])
    world["refused"] = refused.value


@when(parsers.parse('I resume it with verdict "{verdict}"'))
def when_resume_with(world, verdict):
    outcome = world["outcome"]
    world["first"] = outcome
    world["outcome"] = resume_run(outcome.run_id, world["run"].workspace, verdict=verdict,
                                  sandbox="host", review="pause")


@when("I resume it")
def when_resume_plain(world):
    outcome = world["outcome"]
    world["first"] = outcome
    world["outcome"] = resume_run(outcome.run_id, world["run"].workspace, sandbox="host", review="pause")


# --- then ----------------------------------------------------------------------


# A failure always names its message ("the run fails with"), so a scenario
# cannot pass by failing for another reason.
@then(parsers.re(r"the run (?P<status>succeeds|is rejected|pauses)"))
def then_status(world, status):
    expected = {"succeeds": "succeeded", "is rejected": "rejected", "pauses": "paused"}[status]
    outcome = world["outcome"]
    assert outcome.status == expected, (outcome.status, outcome.error)


@then(parsers.parse('the run fails with "{text}"'))
def then_fails_with(world, text):
    outcome = world["outcome"]
    assert outcome.status == "failed", (outcome.status, outcome.error)
    then_error(world, text)


@then(parsers.parse('the variable "{name}" is {value}'))
def then_variable(world, name, value):
    actual = _field(world["outcome"].variables, name)
    assert actual == json.loads(value), actual


@then(parsers.parse('the variable "{name}" contains "{text}"'))
def then_variable_contains(world, name, text):
    actual = _field(world["outcome"].variables, name)
    assert _unescape(text) in actual, actual


@then(parsers.parse('the variable "{name}" was never set'))
def then_variable_unset(world, name):
    assert name not in world["outcome"].variables


@then(parsers.parse('the error says "{text}"'))
def then_error(world, text):
    assert _unescape(text) in (world["outcome"].error or ""), world["outcome"].error


@then(parsers.parse('it is refused before it starts with "{text}"'))
def then_refused(world, text):
    assert _unescape(text) in str(world["refused"]), str(world["refused"])


@then(parsers.parse('the workspace file "{name}" is "{text}"'))
def then_file(world, name, text):
    assert (world["run"].workspace / name).read_text() == _unescape(text)


@then(parsers.parse('the workspace file "{name}" does not exist'))
def then_no_file(world, name):
    assert not (world["run"].workspace / name).exists()


@then(parsers.parse('nothing was written outside the workspace'))
def then_nothing_outside(world, tmp_path):
    assert _outside_files(world, tmp_path) == world["outside"]


def _outside_files(world, tmp_path) -> dict[str, bytes]:
    """Every file beside the workspace with its bytes: taken before the run
    (what the Given steps made) and compared after it."""
    workspace = world["run"].workspace
    return {p.relative_to(tmp_path).as_posix(): p.read_bytes() for p in tmp_path.rglob("*")
            if p.is_file() and not p.is_symlink() and workspace not in p.parents}


@then(parsers.parse('the steps are {steps}'))
def then_steps(world, steps):
    actual = [f"{s.name}={s.status}" for s in world["outcome"].steps]
    assert actual == json.loads(steps), actual


@then(parsers.parse('the log says {messages}'))
def then_log(world, messages):
    logged = [e["message"] for e in events_of(world["outcome"]) if e.get("stmt") == "Log"]
    assert logged == json.loads(messages), logged


@then(parsers.parse('the journal records a "{event}" event with {field} containing "{text}"'))
def then_journal(world, event, field, text):
    found = [e for e in events_of(world["outcome"]) if e["event"] == event]
    assert any(text in str(e.get(field, "")) for e in found), found


@then(parsers.parse('the model was asked "{prompt}" as "{persona}"'))
def then_model_asked(world, prompt, persona):
    assert (prompt, persona) in world["model"].prompts, world["model"].prompts


@then(parsers.parse('the reviewer was asked "{message}"'))
def then_reviewer_asked(world, message):
    assert [r.message for r in world["answers"]] == [message]


def _field(variables, dotted):
    value = variables
    for part in dotted.split("."):
        value = value[part]
    return value


def _unescape(text: str) -> str:
    """Feature files write newlines and quotes inside "…" as \\n and \\"."""
    return text.replace("\\n", "\n").replace('\\"', '"')


@then(parsers.parse('its run folder holds "{a}", "{b}" and "{c}"'))
def then_run_folder(world, a, b, c):
    folder = world["outcome"].journal
    assert {a, b, c} <= {p.name for p in folder.iterdir()}
    assert (folder / "plan.tiss").read_text().strip() == world["plan"].strip()


@then(parsers.parse('the events are {names}'))
def then_events(world, names):
    assert [e["event"] for e in events_of(world["outcome"])] == json.loads(names)
