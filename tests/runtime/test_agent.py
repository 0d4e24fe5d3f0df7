"""The ReAct agent loop (runtime/agent.py): a scripted model (the loop's
neighbour) drives real tools in a real workspace, with real journals, the
real review policies and a real SIGKILL; the grammar constraint with a real
tiny TissLM."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from runtime import resume_run, run_agent
from runtime.agent import AgentSettings, observation_text, truncate
from runtime.agent_format import FormatProblem, parse_action
from runtime.journal import RunFolder
from tests.waiting import wait_for


def act(tool: str, thought: str = "next", **arguments) -> str:
    return f"Thought: {thought}\nAction: {tool}\nAction Input: {json.dumps(arguments)}"


class ScriptedAgent:
    """A model backend answering from a list; records the prompts it saw."""

    def __init__(self, *answers: str):
        self.answers = list(answers)
        self.prompts: list[tuple[str, str | None]] = []

    def generate(self, prompt, *, system=None, max_tokens=256, stop=(), constraint=None):
        assert constraint is None   # it writes freely, like the openai backend
        self.prompts.append((prompt, system))
        return self.answers.pop(0)

    def score(self, options, context):
        return [0.0] * len(options)


def events(outcome, *kinds) -> list[dict]:
    return [e for e in RunFolder(outcome.journal).events() if not kinds or e["event"] in kinds]


def agent(workspace, model, **options):
    options.setdefault("sandbox", "host")
    options.setdefault("review", "approve")
    return run_agent(options.pop("goal", "the goal"), workspace, model=model, **options)


def test_the_loop_calls_tools_until_the_final_answer(tmp_path):
    model = ScriptedAgent(act("write_file", "make it", path="notes/a.txt", content="hello"),
                          act("read_file", path="notes/a.txt"),
                          act("final_answer", answer="a.txt says hello"))
    outcome = agent(tmp_path, model, tools=["read_file", "write_file"], goal="Write hello")
    assert outcome.status == "succeeded", outcome.error
    assert outcome.variables["answer"] == "a.txt says hello"
    assert (tmp_path / "notes/a.txt").read_text() == "hello"
    last_prompt, system = model.prompts[-1]
    assert last_prompt.startswith("Goal: Write hello\nThought: make it\nAction: write_file")
    assert "Observation: hello" in last_prompt            # the tool's real answer
    assert "- read_file(path: string)" in system and "- shell(" not in system   # only the tools given
    kinds = [e["event"] for e in events(outcome, "agent_thought", "agent_action", "agent_observation",
                                        "agent_answer")]
    assert kinds == ["agent_thought", "agent_action", "agent_observation"] * 2 + \
        ["agent_thought", "agent_action", "agent_observation", "agent_answer"]


def test_malformed_answers_and_tool_errors_become_observations_with_a_reminder(tmp_path):
    model = ScriptedAgent("I think I will read it",
                          act("read_file", path="missing.txt"),
                          act("read_file", nope=1),
                          act("final_answer", answer="gave up"))
    outcome = agent(tmp_path, model, tools=["read_file"])
    assert outcome.status == "succeeded", outcome.error
    observations = [e["observation"] for e in events(outcome, "agent_observation")]
    assert observations[0].startswith("error: no 'Action:' line. Answer exactly in this format")
    assert "missing.txt" in observations[1] and "Action Input:" in observations[1]
    assert "argument 'path' is missing" in observations[2] and "Action Input:" in observations[2]
    assert all(e.get("error") for e in events(outcome, "agent_observation")[:3])


def test_a_repeated_action_stops_the_run_with_the_reason(tmp_path):
    model = ScriptedAgent(act("list_files"), act("list_files"), act("final_answer", answer="x"))
    outcome = agent(tmp_path, model, tools=["list_files"])
    assert outcome.status == "failed" and outcome.exit_code == 1
    assert "repeated its last action (list_files with the same input)" in outcome.error
    assert len(model.answers) == 1   # stopped before asking again


def test_the_step_limit_ends_the_run(tmp_path):
    model = ScriptedAgent(*[act("write_file", path=f"f{i}.txt", content="x") for i in range(5)])
    outcome = agent(tmp_path, model, tools=["write_file"], max_steps=3)
    assert outcome.status == "failed"
    assert "no final answer within 3 steps" in outcome.error
    assert sorted(p.name for p in tmp_path.glob("f*.txt")) == ["f0.txt", "f1.txt", "f2.txt"]


def test_observations_keep_head_and_tail(tmp_path):
    text = "BEGIN" + "x" * 5000 + "END"
    cut = truncate(text, 300)
    assert cut.startswith("BEGIN") and cut.endswith("END") and "characters cut" in cut
    assert len(cut) < 400
    assert observation_text({"exit_code": 2, "stdout": "out\n", "stderr": "err\n"}, 100) == "exit code 2\nout\nerr"
    (tmp_path / "big.txt").write_text(text)
    model = ScriptedAgent(act("read_file", path="big.txt"), act("final_answer", answer="ok"))
    outcome = agent(tmp_path, model, tools=["read_file"], settings=AgentSettings(max_observation=120))
    seen = events(outcome, "agent_observation")[0]["observation"]
    assert seen.startswith("BEGIN") and seen.endswith("END") and len(seen) < 200


def test_budgets_apply_as_for_plans(tmp_path):
    from runtime import run_plan
    plan = textwrap.dedent('''\
        SET_BUDGET API_CALLS = 3
        @tools "list_files"
        PROMPT_AGENT "list" INTO answer
        ''')
    model = ScriptedAgent(act("list_files"), act("list_files", path="."), act("final_answer", answer="x"))
    outcome = run_plan(plan, tmp_path, model=model, sandbox="host", review="approve")
    # model call, tool call, model call, tool call: the fourth charge is refused
    assert outcome.status == "failed" and "API_CALLS would reach 4, the limit is 3" in outcome.error


def test_tools_directive_puts_the_final_answer_into_the_variable(tmp_path):
    from runtime import run_plan
    (tmp_path / "data.txt").write_text("42\n")
    plan = textwrap.dedent('''\
        TASK "ask" {
            @tools "read_file"
            PROMPT_AGENT "What number is in data.txt?" INTO number
            WRITE "answer.txt" "{{number}}"
        }
        ''')
    model = ScriptedAgent(act("read_file", path="data.txt"), act("final_answer", answer="42"))
    outcome = run_plan(plan, tmp_path, model=model, sandbox="host")
    assert outcome.status == "succeeded", outcome.error
    assert (tmp_path / "answer.txt").read_text() == "42"
    assert model.prompts[0][0] == "Goal: What number is in data.txt?"


def test_an_unknown_tool_in_tools_is_one_clear_error(tmp_path):
    from runtime import run_plan
    outcome = run_plan('@tools "read_file, teleport"\nPROMPT_AGENT "go" INTO x\n', tmp_path,
                       model=ScriptedAgent("unused"), sandbox="host")
    assert outcome.status == "failed"
    assert "@tools names unknown tool(s): teleport" in outcome.error


def test_a_risky_command_pauses_and_resumes_without_asking_the_model_again(tmp_path):
    command = "echo ran >> side.txt"
    model = ScriptedAgent(act("shell", "run it", command=command))
    outcome = agent(tmp_path, model, tools=["shell"], review="pause")
    assert outcome.status == "paused" and outcome.exit_code == 75
    assert f"the agent wants to run the command: {command}" in outcome.error
    assert not (tmp_path / "side.txt").exists()
    later = ScriptedAgent(act("final_answer", answer="done"))
    resumed = resume_run(outcome.run_id, tmp_path, verdict="approve", model=later, review="pause")
    assert resumed.status == "succeeded", resumed.error
    assert (tmp_path / "side.txt").read_text() == "ran\n"
    assert len(later.prompts) == 1    # the paused action was not regenerated
    assert resumed.variables["answer"] == "done"


def test_a_rejected_action_ends_the_run_as_rejected(tmp_path):
    model = ScriptedAgent(act("shell", command="rm -rf data"))
    outcome = agent(tmp_path, model, tools=["shell"], review="reject")
    assert outcome.status == "rejected" and outcome.exit_code == 3


def test_risky_patterns_choose_what_asks(tmp_path):
    settings = AgentSettings(risky_commands=("rm *",), risky_paths=("src/*",))
    model = ScriptedAgent(act("shell", command="echo safe > out.txt"),
                          act("write_file", path="notes.txt", content="n"),
                          act("write_file", path="src/main.py", content="x = 1\n"))
    outcome = agent(tmp_path, model, tools=["shell", "write_file"], settings=settings, review="pause")
    assert outcome.status == "paused"
    assert "write the file src/main.py" in outcome.error
    assert (tmp_path / "out.txt").read_text() == "safe\n" and (tmp_path / "notes.txt").exists()
    assert not (tmp_path / "src/main.py").exists()


def test_risky_paths_cover_replace_in_file_too(tmp_path):
    (tmp_path / "src").mkdir()
    (tmp_path / "src/main.py").write_text("x = 1\n")
    model = ScriptedAgent(act("replace_in_file", path="src/main.py", old="1", new="2"))
    outcome = agent(tmp_path, model, tools=["replace_in_file"], review="pause",
                    settings=AgentSettings(risky_paths=("src/*",)))
    assert outcome.status == "paused" and "write the file src/main.py" in outcome.error
    assert (tmp_path / "src/main.py").read_text() == "x = 1\n"


KILLED_RUN = '''
import sys, json, time
from pathlib import Path
from runtime import run_agent

def act(tool, **arguments):
    return f"Thought: next\\nAction: {tool}\\nAction Input: {json.dumps(arguments)}"

class Model:
    answers = [act("shell", command="echo one >> side.txt"), act("shell", command="echo two >> side.txt")]
    def generate(self, prompt, **options):
        if self.answers:
            return self.answers.pop(0)
        Path("ready").write_text("the third answer is being written")
        time.sleep(600)   # killed here, mid-loop
    def score(self, options, context):
        return [0.0] * len(options)

run_agent("append twice", sys.argv[1], model=Model(), tools=["shell"], sandbox="host", review="approve")
'''


def test_a_sigkilled_agent_resumes_without_repeating_a_completed_tool_call(tmp_path):
    workspace = tmp_path / "ws"
    workspace.mkdir()
    child = subprocess.Popen([sys.executable, "-c", KILLED_RUN, str(workspace)], cwd=tmp_path,
                             env={**os.environ, "PYTHONPATH": str(Path(__file__).parents[2])})
    try:
        wait_for(lambda: (tmp_path / "ready").exists(), "the agent's third model call")
    finally:
        child.send_signal(signal.SIGKILL)
        child.wait(30)
    assert (workspace / "side.txt").read_text() == "one\ntwo\n"
    run_id = RunFolder.open(workspace, next(p.name for p in (workspace / ".tiss/runs").iterdir())).run_id
    model = ScriptedAgent(act("final_answer", answer="appended twice"))
    resumed = resume_run(run_id, workspace, model=model, review="approve")
    assert resumed.status == "succeeded", resumed.error
    assert (workspace / "side.txt").read_text() == "one\ntwo\n"   # each call made once
    assert resumed.variables["answer"] == "appended twice"
    prompt = model.prompts[0][0]
    assert prompt.count("Observation: exit code 0") == 2   # the steps before the kill, from the journal


@pytest.mark.parametrize("text, expected", [
    ('Thought: t\nAction: read_file\nAction Input: {"path": "a"}\nObservation: made up',
     ("t", "read_file", {"path": "a"})),
    ('```\nThought: t\nAction: `read_file`\nAction Input: ```json\n{"path": "a"}\n```',
     ("t", "read_file", {"path": "a"})),
    ("Thought: I know\nFinal Answer: 42", ("I know", "final_answer", {"answer": "42"})),
])
def test_free_text_is_parsed_the_same_way(text, expected):
    assert parse_action(text, ["read_file", "final_answer"]) == expected


@pytest.mark.parametrize("text, problem", [
    ("Action: fly\nAction Input: {}", "unknown tool 'fly'"),
    ("Action: read_file\n", "no 'Action Input:' line"),
    ("Action: read_file\nAction Input: {path: a}", "not JSON"),
    ('Action: read_file\nAction Input: ["a"]', "must be a JSON object"),
])
def test_free_text_problems_are_named(text, problem):
    with pytest.raises(FormatProblem, match=problem):
        parse_action(text, ["read_file", "final_answer"])


@pytest.fixture(scope="module")
def constrained_model_dir(tmp_path_factory):
    """A real tiny TissLM with a BPE vocabulary (an end-of-sequence token, as
    the grammar needs) and room for the agent's prompt."""
    from model.tokenizer import Tokenizer
    from tests.runtime.conftest import train_tiny

    root = tmp_path_factory.mktemp("tisslm-agent")
    tokenizer = Tokenizer.train([act("read_file", path="a.txt"), act("final_answer", answer="done")] * 20, 300)
    tokenizer.save(root / "tokenizer.json")
    return train_tiny(root, "--tokenizer", str(root / "tokenizer.json"), "--context-length", "256")


def test_the_embedded_model_writes_only_valid_actions_under_the_grammar(tmp_path, constrained_model_dir):
    from model.backend import load_backend
    from tools import load_registry

    backend = load_backend({"path": str(constrained_model_dir)})
    (tmp_path / "a.txt").write_text("alpha\n")
    outcome = agent(tmp_path, backend, tools=["list_files", "read_file"], max_steps=3)
    actions = events(outcome, "agent_action")
    assert actions, [e["event"] for e in events(outcome)]
    registry = load_registry()
    for action in actions:   # noise, but always a registered tool with schema-valid JSON
        assert action["tool"] in ("list_files", "read_file", "final_answer")
        registry[action["tool"]].check_arguments(action["input"])
    for observation in events(outcome, "agent_observation"):
        assert "unknown tool" not in observation["observation"]
        assert "not JSON" not in observation["observation"]


def test_the_report_shows_each_thought_action_observation_and_the_review(tmp_path):
    from runtime.report import build_view, entry_summary, render_html
    model = ScriptedAgent(act("shell", "look", command="echo seen"), act("final_answer", answer="done"))
    outcome = agent(tmp_path, model, tools=["shell"])
    view = build_view(RunFolder(outcome.journal))
    lines = [entry_summary(entry) for entry in view.loose]
    assert "thought: look" in lines and '→ shell {"command": "echo seen"}' in lines
    assert "← exit code 0 ⏎ seen" in lines and "answer: done" in lines
    assert "REVIEW the agent wants to run the command: echo seen → approve" in lines
    html = render_html(view)
    assert '<span class="kind">observation</span><pre>exit code 0\nseen</pre>' in html


@pytest.mark.parametrize("document", ["README.md", "docs/agent.md"])
def test_the_documented_python_example_runs(document, tmp_path, monkeypatch, capsys):
    text = (Path(__file__).parents[2] / document).read_text()
    section = text[text.index("from runtime import run_agent"):]
    code = section[:section.index("```")]
    monkeypatch.chdir(tmp_path)
    exec(compile(code, document, "exec"), {})
    assert capsys.readouterr().out == "succeeded nothing yet\n"
    assert (tmp_path / "agent-demo/.tiss/runs").is_dir()


def test_tiss_check_knows_tools_and_its_names(tmp_path, capsys):
    from runtime.cli import main as tiss
    (tmp_path / "good.tiss").write_text('@tools "read_file, list_files"\nPROMPT_AGENT "look" INTO seen\n')
    (tmp_path / "bad.tiss").write_text('@tools "read_fil"\nPROMPT_AGENT "look" INTO seen\n')
    assert tiss(["check", str(tmp_path / "good.tiss")]) == 0
    assert "unknown directive" not in capsys.readouterr().err
    assert tiss(["check", str(tmp_path / "bad.tiss")]) == 2
    err = capsys.readouterr().err
    assert "unknown tool 'read_fil' in @tools" in err and "did you mean read_file?" in err


def test_tiss_agent_refuses_an_unknown_tool_before_running(tmp_path, capsys):
    from runtime.cli import main as tiss
    assert tiss(["agent", "go", "--tools", "read_file,teleport", "--workspace", str(tmp_path), "--json"]) == 2
    out = json.loads(capsys.readouterr().out)
    assert out["status"] == "error" and "unknown tool(s): teleport" in out["error"]
    assert not (tmp_path / ".tiss").exists()


def test_the_display_marks_each_kind(tmp_path):
    import io

    from runtime.display import make_display
    stream = io.StringIO()
    model = ScriptedAgent(act("list_files", "look around"), act("final_answer", answer="empty"))
    agent(tmp_path, model, tools=["list_files"], display=make_display(stream, live=False))
    shown = stream.getvalue()
    assert "  thought: look around\n  → list_files {}\n  ← []\n" in shown
    assert "  ✔ answer: empty\n" in shown


def test_the_shipped_weights_drive_the_loop_with_valid_actions_only(tmp_path):
    """The default model (model/weights/planner, shipped) under the action
    grammar: whatever it decides, each answer is a registered tool with
    schema-valid input, so the loop runs to its end without format errors."""
    from model.backend import SHIPPED, load_backend
    from tools import load_registry

    assert (SHIPPED / "config.json").is_file()
    backend = load_backend({})   # nothing configured: the shipped weights
    (tmp_path / "notes.txt").write_text("buy milk\n")
    outcome = agent(tmp_path, backend, goal='What does "notes.txt" say?',
                    tools=["read_file", "list_files"], max_steps=2)
    registry = load_registry()
    actions = events(outcome, "agent_action")
    assert actions
    for action in actions:
        registry[action["tool"]].check_arguments(action["input"])
    assert not any("could not be read" in e["observation"] or "not JSON" in e["observation"]
                   for e in events(outcome, "agent_observation"))


def finishing_backend(settings):
    """A backend registered by name for the test below: it answers at once."""
    return ScriptedAgent(act("final_answer", answer="finished by the named backend"))


def test_a_resumed_run_uses_the_backend_it_started_with(tmp_path, monkeypatch):
    """`tiss agent --backend NAME` then `tiss resume` (no model handed in):
    the loop goes on with NAME, not with the configuration's backend (here an
    openai server that does not exist)."""
    from importlib.metadata import EntryPoint

    from runtime import models
    monkeypatch.setitem(models.BUILT_IN, "finishing",
                        EntryPoint("finishing", "tests.runtime.test_agent:finishing_backend", models.GROUP))
    config = tmp_path / "config.yaml"
    config.write_text("model:\n  backend: openai\n  base_url: http://127.0.0.1:9/v1\n  model: none\n"
                      "  max_retries: 0\n")
    monkeypatch.setenv("TISS_CONFIG", str(config))
    workspace = tmp_path / "ws"
    workspace.mkdir()
    outcome = agent(workspace, ScriptedAgent(act("shell", command="echo hi > said.txt")), tools=["shell"],
                    review="pause", settings=AgentSettings(backend="finishing"))
    assert outcome.status == "paused"
    resumed = resume_run(outcome.run_id, workspace, verdict="approve", review="pause")
    assert resumed.status == "succeeded", resumed.error
    assert resumed.variables["answer"] == "finished by the named backend"
    assert (workspace / "said.txt").read_text() == "hi\n"
