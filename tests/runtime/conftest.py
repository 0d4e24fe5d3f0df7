"""Shared helpers for the runtime tests: run TissLang text in a temporary
workspace on the host sandbox (fast; the docker tests choose docker), and a
real tiny TissLM trained once per test session."""

from __future__ import annotations

import json
import textwrap
from pathlib import Path

import pytest

from runtime import run_plan
from runtime.journal import RunFolder


# a TissLM trained in a few seconds by `tiss model train`'s own code path:
# its answers are noise, but real
TINY = ["--context-length", "48", "--n-layers", "1", "--d-model", "16", "--n-heads", "2",
        "--steps", "30", "--lr", "0.03", "--batch-size", "4", "--eval-every", "30", "--eval-windows", "2",
        "--warmup-steps", "1", "--quiet"]


@pytest.fixture(scope="session")
def model_dir(tmp_path_factory):
    """The directory of a tiny TissLM (byte vocabulary) trained on one small plan."""
    return train_tiny(tmp_path_factory.mktemp("tisslm"))


@pytest.fixture(scope="session")
def bpe_model_dir(tmp_path_factory):
    """The same with a small BPE tokenizer (an end-of-sequence token: what the
    grammar constraint needs) learnt from the example plans."""
    from model.tokenizer import Tokenizer

    root = tmp_path_factory.mktemp("tisslm-bpe")
    examples = Path(__file__).parents[2] / "examples"
    tokenizer = Tokenizer.train([p.read_text() for p in sorted(examples.glob("*.tiss"))], 400)
    tokenizer.save(root / "tokenizer.json")
    return train_tiny(root, "--tokenizer", str(root / "tokenizer.json"))


def train_tiny(root: Path, *flags: str) -> Path:
    from runtime.cli import main as tiss  # `tiss model train` in-process

    corpus = root / "corpus.txt"
    corpus.write_text('TASK "demo" {\n    STEP "one" {\n        RUN "echo hi"\n    }\n}\n' * 40)
    assert tiss(["model", "train", "--corpus", str(corpus), "--out", str(root / "run"), *TINY, *flags]) == 0
    return root / "run"


class ScriptedModel:
    """A model backend that answers from a list (the interpreter's neighbour,
    not the thing under test)."""

    def __init__(self, answers=("ok",), scores=None):
        self.answers = list(answers)
        self.prompts = []
        self.scores = scores

    def generate(self, prompt, *, system=None, max_tokens=256):
        self.prompts.append((prompt, system))
        return self.answers.pop(0) if len(self.answers) > 1 else self.answers[0]

    def score(self, options, context):
        return self.scores or [float(i) for i in range(len(options))]

    def count_tokens(self, text):
        return len(text.split())


@pytest.fixture
def run(tmp_path):
    """``run(source, **options) -> RunOutcome`` in ``tmp_path / 'ws'``."""
    workspace = tmp_path / "ws"
    workspace.mkdir()

    def _run(source: str, **options):
        options.setdefault("sandbox", "host")
        options.setdefault("review", "pause")
        return run_plan(textwrap.dedent(source).strip() + "\n", workspace, **options)

    _run.workspace = workspace
    return _run


def events_of(outcome) -> list[dict]:
    return list(RunFolder(outcome.journal).events())


def dumps(value) -> str:
    return json.dumps(value, ensure_ascii=False)
