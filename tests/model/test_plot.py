"""Pictures of TissLM (model/plot.py): training curves written by `tiss model
train` at each evaluation and redrawn by `tiss model plot`, attention maps by
`tiss model attention`; a real tiny model, real PNG files read back."""

from __future__ import annotations

import io
import json
import sys

import numpy as np
import pytest

from model.checkpoint import load_model, load_model_tokenizer
from model.plot import attention_weights, read_curves
from runtime.cli import main

TINY = ["--context-length", "32", "--n-layers", "2", "--d-model", "16", "--n-heads", "2",
        "--batch-size", "4", "--warmup-steps", "1", "--eval-every", "5", "--eval-windows", "2",
        "--log-every", "1", "--lr", "0.03", "--quiet"]


@pytest.fixture(scope="module")
def corpus(tmp_path_factory):
    path = tmp_path_factory.mktemp("text") / "plans.txt"
    path.write_text('TASK "demo" {\n    STEP "one" {\n        RUN "echo hi"\n    }\n}\n' * 40)
    return path


@pytest.fixture(scope="module")
def run_dir(corpus, tmp_path_factory):
    out = tmp_path_factory.mktemp("run") / "run"
    assert main(["model", "train", "--corpus", str(corpus), "--out", str(out), "--steps", "10", *TINY]) == 0
    return out


def picture(path):
    """The PNG as an (H, W, channels) array: a real image, not an empty canvas."""
    import matplotlib.image
    assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    pixels = matplotlib.image.imread(path)
    assert pixels.std() > 0.05, "a blank picture"
    return pixels


def test_training_draws_the_curves_beside_its_log_at_each_evaluation(corpus, tmp_path):
    out = tmp_path / "run"
    base = ["model", "train", "--corpus", str(corpus), "--out", str(out), "--steps", "10", *TINY]
    assert main([*base, "--stop-at", "5"]) == 0
    first = (out / "curves.png").read_bytes()
    picture(out / "curves.png")
    assert main([*base, "--resume"]) == 0          # one more evaluation: redrawn
    assert (out / "curves.png").read_bytes() != first
    curves = read_curves(out / "log.jsonl")
    assert [step for step, _ in curves["val"]] == [5, 10]
    assert [step for step, _ in curves["train"]] == list(range(1, 11))


def test_tiss_model_plot_redraws_them(run_dir, tmp_path, capsys):
    assert main(["model", "plot", str(run_dir), "-o", str(tmp_path / "again.png")]) == 0
    assert "again.png" in capsys.readouterr().out
    assert picture(tmp_path / "again.png").shape[:2] == (400, 700)


def test_a_resumed_log_keeps_the_last_value_of_each_step(tmp_path):
    lines = [{"event": "train", "step": 1, "loss": 3.0}, {"event": "train", "step": 2, "loss": 2.0},
             {"event": "start", "step": 1}, {"event": "train", "step": 2, "loss": 1.5},
             {"event": "eval", "step": 2, "val_loss": 1.7}]
    log = tmp_path / "log.jsonl"
    log.write_text("".join(json.dumps(line) + "\n" for line in lines) + '{"event": "tra')
    assert read_curves(log) == {"train": [(1, 3.0), (2, 1.5)], "val": [(2, 1.7)]}


def test_a_picture_that_cannot_be_drawn_never_stops_training(run_dir, tmp_path, monkeypatch):
    from model.config import ModelConfig
    from model.train import TrainConfig, train

    monkeypatch.setitem(sys.modules, "matplotlib", None)   # as if it were not installed
    settings = json.loads((run_dir / "run.json").read_text())
    stream = io.StringIO()
    result = train(ModelConfig.from_dict(settings["model"]), TrainConfig.from_dict(settings["train"]),
                   tmp_path / "run", tokens_path=run_dir / "tokens.bin", stream=stream, plot=True)
    assert result["step"] == 10 and (tmp_path / "run" / "LATEST").is_file()
    assert not (tmp_path / "run" / "curves.png").exists()
    assert stream.getvalue().count("curves.png not drawn") == 1 and "needs matplotlib" in stream.getvalue()


def test_plot_errors_are_one_clear_message(run_dir, tmp_path, monkeypatch, capsys):
    assert main(["model", "plot", str(tmp_path)]) == 2
    assert "is not a training run" in capsys.readouterr().err
    monkeypatch.setitem(sys.modules, "matplotlib", None)
    assert main(["model", "plot", str(run_dir)]) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: drawing needs matplotlib") and "quanta-tissu[plot]" in err
    assert main(["model", "attention", "--model", str(run_dir), "TASK", "-o", str(tmp_path / "a.png")]) == 2


def test_attention_weights_are_causal_distributions_per_layer_and_head(run_dir):
    model, directory = load_model(run_dir)
    ids = load_model_tokenizer(directory).encode('TASK "demo" {')
    weights = attention_weights(model, ids)
    T = len(ids)
    assert weights.shape == (2, 2, T, T)
    np.testing.assert_allclose(weights.sum(axis=-1), 1.0, rtol=1e-5)
    assert np.all(np.triu(weights, k=1) == 0)                         # no token sees the future
    assert not np.allclose(weights[0, 0], weights[0, 1])              # the heads differ
    assert not np.allclose(weights[0], weights[1])                    # and so do the layers
    # the first token can only look at itself
    np.testing.assert_allclose(weights[:, :, 0, 0], 1.0, rtol=1e-5)


def test_tiss_model_attention_draws_every_layer_and_head(run_dir, tmp_path, capsys):
    out = tmp_path / "attn.png"
    assert main(["model", "attention", "--model", str(run_dir), 'TASK "demo" {\n  STEP', "-o", str(out),
                 "--max-tokens", "8"]) == 0
    captured = capsys.readouterr()
    assert "2 layers x 2 heads, 8 tokens" in captured.out and "first 8 of" in captured.err
    height, width = picture(out).shape[:2]
    assert height > 400 and width > 400
    assert main(["model", "attention", "--model", str(run_dir), "", "-o", str(out)]) == 2
    assert "the text is empty" in capsys.readouterr().err
    assert main(["model", "attention", "--model", str(run_dir), "x", "--max-tokens", "500"]) == 2
