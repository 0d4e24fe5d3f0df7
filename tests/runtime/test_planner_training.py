"""`tiss model train --config` with a generated corpus and a vocabulary
learnt from it (what model/configs/planner.yaml does), interrupted and
resumed: the mechanism behind the shipped planner, on a tiny corpus."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from runtime import planner_corpus

ROOT = Path(__file__).resolve().parents[2]


def tiny_corpus(out_dir: Path) -> list[Path]:
    """``generate:tests.runtime.test_planner_training:tiny_corpus``."""
    return [planner_corpus.write_corpus(out_dir / "planner_corpus.txt", pairs=150, seed=4)]


def train(*flags: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "runtime.cli", "model", "train", "--quiet", *flags],
                          capture_output=True, text=True, cwd=ROOT, timeout=600)


def test_a_generated_corpus_and_its_own_vocabulary_train_and_resume(tmp_path):
    config = tmp_path / "planner.yaml"
    config.write_text(
        "corpus: [generate:tests.runtime.test_planner_training:tiny_corpus]\n"
        "tokenizer: {vocab_size: 400}\n"
        "model: {context_length: 128, n_layers: 1, d_model: 32, n_heads: 2}\n"
        "train: {steps: 6, batch_size: 4, eval_every: 3, checkpoint_every: 3, eval_windows: 2}\n")
    out = tmp_path / "run"
    first = train("--config", str(config), "--out", str(out), "--stop-at", "3")
    assert first.returncode == 0, first.stderr
    corpus = (out / "corpus" / "planner_corpus.txt").read_text()
    assert corpus.count("<|eos|>") >= 150 and "GOAL: " in corpus and "«F0»" in corpus
    vocabulary = json.loads((out / "run.json").read_text())["tokenizer"]
    assert Path(vocabulary) == out / "tokenizer.json"
    learnt = (out / "tokenizer.json").read_text()
    resumed = train("--out", str(out), "--resume", "--json")
    assert resumed.returncode == 0, resumed.stderr
    assert json.loads(resumed.stdout)["step"] == 6
    assert (out / "tokenizer.json").read_text() == learnt      # the same vocabulary after resuming
    # the trained directory is a planner the runtime can load
    from model.backend import TissLMBackend
    from runtime.planner import plan
    assert plan("create notes.txt containing 'hi'", TissLMBackend(out)).constrained


def test_a_generator_that_cannot_be_loaded_is_one_clear_error(tmp_path):
    config = tmp_path / "bad.yaml"
    config.write_text("corpus: [generate:no_such_module:corpus]\n")
    result = train("--config", str(config), "--out", str(tmp_path / "run"))
    assert result.returncode == 2
    assert result.stderr.startswith("error: corpus 'generate:no_such_module:corpus': cannot load")
    assert "Traceback" not in result.stderr
