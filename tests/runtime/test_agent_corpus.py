"""The agent-trace corpus (runtime/agent_corpus.py) and bench/agent.py: the
reference actions really solve their goals through the real loop and tools,
the held-out split shares nothing with training, the corpus is exactly what
the loop sends our model, and the bench judges by the goal's check."""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path

import pytest

from runtime.agent_corpus import MAKERS, STEMS, TOOLS, WORDINGS, WORDS, goals, trace, write_corpus
from runtime.agent_format import parse_action

ROOT = Path(__file__).parents[2]


@pytest.mark.parametrize("split", ["train", "heldout"])
def test_every_reference_solves_its_goal_through_the_real_loop(split, tmp_path):
    for number, goal in enumerate(goals(split, 2 * len(MAKERS), seed=3)):
        texts = trace(goal, tmp_path / str(number))      # raises unless goal.check passes
        assert len(texts) == len(goal.actions)


def test_a_goal_left_undone_fails_its_check(tmp_path):
    from runtime.agent_corpus import prepare
    for number, goal in enumerate(goals("heldout", len(MAKERS))):
        workspace = tmp_path / str(number)
        workspace.mkdir()
        prepare(goal, workspace)
        assert not goal.check(workspace, ""), goal.text


def test_held_out_goals_share_no_wording_file_or_text_with_training(tmp_path):
    corpus = write_corpus(tmp_path / "corpus.txt", 60).read_text()
    for goal in goals("heldout", 30):
        assert goal.text not in corpus
        for literal in re.findall(r'"([^"]+)"', goal.text):
            assert literal not in corpus, literal
    assert not set(STEMS[1]) & set(STEMS[0]) and not set(WORDS[1]) & set(WORDS[0])
    for family, (train, heldout) in WORDINGS.items():
        assert not set(train) & set(heldout), family


def test_the_corpus_is_what_the_loop_sends_our_model(tmp_path):
    corpus = write_corpus(tmp_path / "corpus.txt", 12).read_text()
    chunks = corpus.split("<|eos|>")
    assert chunks[-1] == "" and len(chunks) > 12
    for chunk in chunks[:-1]:
        prompt, _, answer = chunk.rpartition("\nThought: ")
        assert re.search(r"Tools: [a-z_, ]+\nGoal: .+\nDone: [a-z_, ]+$", prompt), prompt
        assert prompt.endswith("Done: nothing yet") == ("Observation: " not in prompt)
        thought, tool, arguments = parse_action("Thought: " + answer, [*TOOLS, "final_answer"])
        assert thought and isinstance(arguments, dict)
        goal = prompt.rpartition("\nGoal: ")[2]
        assert '"' not in goal and "«" in goal, goal      # the literals are markers (runtime/agent_slots.py)
        assert "«" in json.dumps(arguments, ensure_ascii=False) or tool == "final_answer", answer
    assert "Observation: " in corpus   # real tool results
    assert re.search(r"Observation: «O0» = \w+", corpus)   # a text read back, with its marker


def test_the_bench_runs_a_model_and_judges_by_the_check(tmp_path):
    from model.tokenizer import Tokenizer
    from tests.runtime.conftest import train_tiny
    write_corpus(tmp_path / "corpus.txt", 12)
    Tokenizer.train([(tmp_path / "corpus.txt").read_text()], 300).save(tmp_path / "tokenizer.json")
    model = train_tiny(tmp_path, "--tokenizer", str(tmp_path / "tokenizer.json"), "--context-length", "256")
    done = subprocess.run([sys.executable, str(ROOT / "bench/agent.py"), "--goals", "2", "--max-steps", "2",
                           "--model", str(model), "--json"], capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr
    figures = json.loads(done.stdout)
    assert figures["goals"] == 2 and 0 <= figures["agent_success_rate"] <= 1
    assert 1 <= figures["agent_steps_mean"] <= 2 and figures["agent_seconds_p50"] > 0
    for row in figures["results"]:   # a noise model solves nothing: the check, not its word
        assert row["success"] is False
