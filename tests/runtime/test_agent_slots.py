"""Slots in the agent loop (runtime/agent_slots.py): our own TissLM sees the
goal's literals and each observation's content as markers and writes its
actions with them; the loop puts the literals back before a tool runs, as one
shell argument inside a command. A scripted model that says it is our own
(``plans_with_slots``) drives the real loop, tools and journal."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from runtime import resume_run, run_agent
from runtime.agent_slots import AgentSlots, pattern_for
from runtime.journal import RunFolder


def act(tool: str, **arguments) -> str:
    return f"Thought: next\nAction: {tool}\nAction Input: {json.dumps(arguments, ensure_ascii=False)}"


class SlottedScript:
    """Answers from a list, as our own model would (markers, short prompt)."""
    plans_with_slots = True

    def __init__(self, *answers: str):
        self.answers, self.prompts = list(answers), []

    def generate(self, prompt, **options):
        self.prompts.append(prompt)
        return self.answers.pop(0)

    def score(self, options, context):
        return [0.0] * len(options)


def agent(workspace, model, goal, **options):
    options.setdefault("sandbox", "host")
    options.setdefault("review", "approve")
    return run_agent(goal, workspace, model=model, **options)


def events(outcome, kind):
    return [e for e in RunFolder(outcome.journal).events() if e["event"] == kind]


def test_the_model_sees_markers_and_the_tools_get_the_literals(tmp_path):
    model = SlottedScript(act("write_file", path="«F0»", content="«T0»"),
                          act("final_answer", answer="created «F0»"))
    outcome = agent(tmp_path, model, 'Create "docs/shop.txt" containing "buy milk".', tools=["write_file"])
    assert outcome.status == "succeeded", outcome.error
    assert (tmp_path / "docs/shop.txt").read_text() == "buy milk"
    assert outcome.variables["answer"] == "created docs/shop.txt"
    assert model.prompts[0].endswith("Goal: Create «F0» containing «T0».\nDone: nothing yet")
    assert model.prompts[1].endswith("\nDone: write_file")      # where the loop stands, last
    assert "buy milk" not in "".join(model.prompts)          # no literal reaches the model
    action = events(outcome, "agent_action")[0]
    assert action["input"] == {"path": "docs/shop.txt", "content": "buy milk"}    # what the tool got
    assert action["written"] == {"path": "«F0»", "content": "«T0»"}               # what the model wrote


def test_an_observation_is_a_marker_the_answer_can_report(tmp_path):
    (tmp_path / "todo.md").write_text("call the bank\n")
    model = SlottedScript(act("read_file", path="«F0»"), act("final_answer", answer="«O0»"))
    outcome = agent(tmp_path, model, 'What does "todo.md" say?', tools=["read_file"])
    assert outcome.status == "succeeded", outcome.error
    assert outcome.variables["answer"] == "call the bank"
    assert "Observation: «O0» = call the bank" in model.prompts[1]


def test_a_file_path_found_by_a_search_gets_the_next_file_marker(tmp_path):
    (tmp_path / "a.txt").write_text("nothing here\n")
    (tmp_path / "notes").mkdir()
    (tmp_path / "notes/b.md").write_text("the copper pot\n")
    model = SlottedScript(act("search_files", regex="«T0»"), act("final_answer", answer="«F0»"))
    outcome = agent(tmp_path, model, 'Which file mentions "copper"?', tools=["search_files"])
    assert outcome.status == "succeeded", outcome.error
    assert "Observation: «F0»:1: the «T0» pot" in model.prompts[1]   # grep's form, literals as markers
    assert outcome.variables["answer"] == "notes/b.md"


@pytest.mark.parametrize("content", ["x; touch pwned", "$(touch pwned)", "`touch pwned`", "it's 'quoted'",
                                     "a\nb && touch pwned", "-n --help"])
def test_a_file_text_put_into_a_command_stays_one_argument(tmp_path, content):
    """A file in the workspace can hold anything; its text, reported back as
    «O0», reaches ``shell`` as one argument, never as shell syntax."""
    (tmp_path / "in.txt").write_text(content + "\n")
    model = SlottedScript(act("read_file", path="«F0»"),
                          act("shell", command="printf %s «O0» > out.txt"),
                          act("shell", command="printf %s '«O0»' >> out.txt"),
                          act("final_answer", answer="done"))
    outcome = agent(tmp_path, model, 'Copy "in.txt" with printf.', tools=["read_file", "shell"])
    assert outcome.status == "succeeded", outcome.error
    assert (tmp_path / "out.txt").read_text() == content * 2
    assert not (tmp_path / "pwned").exists()


def test_a_goal_command_goes_in_as_the_user_wrote_it(tmp_path):
    model = SlottedScript(act("shell", command="«C0»"), act("final_answer", answer="«O0»"))
    outcome = agent(tmp_path, model, "Run `echo one && echo two` and report.", tools=["shell"])
    assert outcome.status == "succeeded", outcome.error
    assert outcome.variables["answer"] == "one\ntwo"


def test_a_resumed_run_rebuilds_the_markers_of_the_steps_before(tmp_path):
    (tmp_path / "name.txt").write_text("Ada\n")
    model = SlottedScript(act("read_file", path="«F0»"), act("shell", command="echo hello «O0» > out.txt"))
    outcome = agent(tmp_path, model, 'Greet whoever "name.txt" names.', tools=["read_file", "shell"],
                    review="pause")
    assert outcome.status == "paused"
    assert "run the command: echo hello Ada > out.txt" in outcome.error   # reviewed as it will run
    later = SlottedScript(act("final_answer", answer="greeted «O0»"))
    resumed = resume_run(outcome.run_id, tmp_path, verdict="approve", model=later, review="pause")
    assert resumed.status == "succeeded", resumed.error
    assert (tmp_path / "out.txt").read_text() == "hello Ada\n"
    assert resumed.variables["answer"] == "greeted Ada"
    assert "Observation: «O0» = Ada" in later.prompts[0]


def test_markers_the_run_does_not_have_stay_as_written():
    slots = AgentSlots('Create "a.txt" containing "hi".')
    assert slots.fill("write_file", {"path": "«F0»", "content": "«T0» «T3» «O0»"}) == \
        {"path": "a.txt", "content": "hi «T3» «O0»"}


def test_the_action_grammar_allows_only_the_runs_markers():
    import llguidance

    from model.backend import SHIPPED
    from model.checkpoint import load_model_tokenizer
    from runtime.agent_format import ActionConstraint
    from tools import load_registry

    tokenizer = load_model_tokenizer(SHIPPED)
    tools = [load_registry()["write_file"]]

    def accepted(answer: str) -> bool:
        constraint = ActionConstraint(tokenizer, tools, markers=("«F0»", "«T0»"))
        for token in tokenizer.encode(answer):
            if not constraint.allowed([token])[0]:
                return False
            constraint.advance(token)
        return constraint.done()

    assert accepted('Thought: go\nAction: write_file\nAction Input: {"path": "«F0»", "content": "x «T0»"}')
    assert not accepted('Thought: go\nAction: write_file\nAction Input: {"path": "«F1»", "content": "x"}')
    assert not accepted('Thought: go\nAction: write_file\nAction Input: {"path": "«F0»", "content": "«"}')
    assert llguidance   # the constraint's engine is installed (not skipped)


def test_the_pattern_lets_text_through_and_markers_only_whole():
    import re
    pattern = re.compile(pattern_for(["«F0»", "«O1»"]))
    assert pattern.match('any "text"\n«F0» and «O1»') and pattern.match("")
    assert not pattern.match("«F1»") and not pattern.match("«F0") and not pattern.match("»")


def test_the_shipped_planner_hands_the_loop_to_the_shipped_agent(tmp_path):
    from model.backend import SHIPPED, SHIPPED_AGENT, TissLMBackend, load_backend
    shipped = load_backend({})
    assert Path(shipped.directory).resolve() == SHIPPED.resolve()
    agent_model = shipped.for_agent()
    assert Path(agent_model.directory).resolve() == SHIPPED_AGENT.resolve()
    assert shipped.for_agent() is agent_model           # loaded once
    configured = TissLMBackend(SHIPPED_AGENT)           # a model the user names is used as it is
    assert configured.for_agent() is configured


@pytest.mark.parametrize("family", ["create", "read", "replace", "search", "run"])
def test_the_shipped_agent_solves_a_held_out_goal_of_each_family_it_knows(tmp_path, family):
    """The shipped weights, greedy, on a held-out goal (wording, file names and
    texts that training never used), judged by the goal's own check. Append
    is left out: the shipped model writes over the file on held-out wordings
    (docs/agent.md, Limits)."""
    from model.backend import load_backend
    from runtime.agent_corpus import TOOLS, goals, prepare

    goal = next(g for g in goals("heldout", 12) if g.family == family)
    prepare(goal, tmp_path)
    outcome = agent(tmp_path, load_backend({}), goal.text, tools=list(TOOLS), max_steps=6)
    assert outcome.status == "succeeded", outcome.error
    assert goal.check(tmp_path, str(outcome.variables["answer"])), (goal.text, outcome.variables["answer"])
