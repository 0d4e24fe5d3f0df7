"""End to end: `tiss agent --backend openai` pointed at a real `tiss serve`
on loopback completes a goal. The served TissLM is tiny and trained in the
test on this goal's transcript (the model is not under test: the loop, the
backend and the server are), so its free text is parsed and validated as
any server's would be, and the tool really runs."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from runtime.config import CONFIG_ENV
from tests.runtime.conftest import TINY
from tests.runtime.test_openai_backend import announced_url

TISS = str(Path(sys.executable).with_name("tiss"))
TRANSCRIPT = ('Goal: write hello\n'
              'Thought: write the file\nAction: write_file\n'
              'Action Input: {"path": "hello.txt", "content": "hello"}\n'
              'Observation: {"path": "hello.txt", "bytes": 5}\n'
              'Thought: done\nAction: final_answer\nAction Input: {"answer": "wrote hello.txt"}\n\n')


def train_transcript_model(root: Path) -> Path:
    """Memorises the whole conversation as the server will render it (the
    system prompt, then the transcript), with a BPE vocabulary learnt from it
    so that it fits a small context."""
    from model.tokenizer import Tokenizer
    from runtime.agent_format import system_prompt
    from runtime.cli import main as tiss
    from tools import load_registry

    registry = load_registry()
    text = system_prompt([registry["write_file"], registry["final_answer"]]) + "\n\n" + TRANSCRIPT
    Tokenizer.train([text] * 4, 600).save(root / "tokenizer.json")
    corpus = root / "corpus.txt"
    corpus.write_text(text * 40)
    flags = [*TINY]
    for flag, value in (("--context-length", "256"), ("--steps", "200"), ("--d-model", "48"),
                        ("--n-layers", "2"), ("--eval-every", "200")):
        flags[flags.index(flag) + 1] = value
    assert tiss(["model", "train", "--corpus", str(corpus), "--out", str(root / "run"), *flags,
                 "--tokenizer", str(root / "tokenizer.json")]) == 0
    return root / "run"


def test_the_agent_completes_a_goal_through_tiss_serve(tmp_path):
    model_dir = train_transcript_model(tmp_path)
    server = subprocess.Popen([TISS, "serve", "--model", str(model_dir), "--port", "0", "--name", "agent"],
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        url = announced_url(server)
        config = tmp_path / "config.yaml"
        config.write_text(f"model:\n  backend: openai\n  base_url: {url}\n  model: agent\n")
        workspace = tmp_path / "ws"
        workspace.mkdir()
        done = subprocess.run([TISS, "agent", "write hello", "--tools", "write_file", "--backend", "openai",
                               "--sandbox", "host", "--json"], cwd=workspace,
                              env={**os.environ, CONFIG_ENV: str(config)}, capture_output=True, text=True,
                              timeout=300)
    finally:
        server.terminate()
        server.wait(30)
    assert done.returncode == 0, done.stdout + done.stderr
    summary = json.loads(done.stdout)
    assert summary["status"] == "succeeded" and summary["answer"] == "wrote hello.txt"
    assert (workspace / "hello.txt").read_text() == "hello"    # the tool really ran
