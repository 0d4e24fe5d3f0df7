"""The REPL's `:agent GOAL`: the agent loop in the session, its risky
actions asked as reviews are (single keys), its answer in `answer`."""

from __future__ import annotations

from tests.repl.conftest import ENTER
from tests.runtime.test_agent import ScriptedAgent, act


def test_agent_runs_in_the_session_and_asks_before_a_risky_command(drive, workspace):
    model = ScriptedAgent(act("shell", "make it", command="echo hi > made.txt"),
                          act("final_answer", answer="made.txt made"))
    run = drive(":agent make a file" + ENTER, "a", model=model)
    assert "the agent wants to run the command: echo hi > made.txt" in run.text
    assert (workspace / "made.txt").read_text() == "hi\n"
    assert "answer: made.txt made" in run.text
    assert run.variables["answer"] == "made.txt made"
    assert model.prompts[0][0] == "Goal: make a file"
    assert [e["verdict"] for e in run.events_named("review_answered") if "kind" in e] == ["approve"]   # the REPL's own


def test_a_later_prompt_is_not_an_agent(drive):
    model = ScriptedAgent(act("final_answer", answer="first"), "plain text")
    run = drive(":agent one" + ENTER, 'PROMPT_AGENT "two" INTO second' + ENTER, model=model)
    assert run.variables["second"] == "plain text"   # @tools stayed inside :agent's STEP
