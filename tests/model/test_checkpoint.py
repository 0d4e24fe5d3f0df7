"""Weights in safetensors + JSON config; atomic, resumable training checkpoints."""

import json
from pathlib import Path

import numpy as np
import pytest
from safetensors.numpy import load_file, save_file

from model.checkpoint import (CheckpointError, load_checkpoint, load_model, load_model_tokenizer,
                              read_config, save_checkpoint, save_model)
from model.config import ModelConfig
from model.data import ByteTokenizer
from model.model import TissLM
from model.optim import AdamW
from model.tokenizer import Tokenizer

TINY = ModelConfig(vocab_size=40, context_length=16, n_layers=2, d_model=16, n_heads=2)


def trained_a_little(config=TINY, steps=3):
    """A model and optimizer whose weights and moments are no longer their initial values."""
    model = TissLM(config, seed=1)
    opt = AdamW(model.params, lr=1e-2, weight_decay=0.1)
    rng = np.random.default_rng(0)
    for _ in range(steps):
        ids = rng.integers(0, config.vocab_size, (2, 8))
        model.loss(ids, np.roll(ids, -1, axis=1))
        model.backward()
        opt.step(model.grads)
    return model, opt


def test_model_round_trips_exactly(tmp_path):
    model, _ = trained_a_little()
    save_model(tmp_path / "m", model)
    loaded, directory = load_model(tmp_path / "m")
    assert directory == tmp_path / "m"
    assert loaded.cfg == model.cfg
    for name, p in model.params.items():
        np.testing.assert_array_equal(loaded.params[name], p)
    ids = np.array([[1, 2, 3, 4]])
    np.testing.assert_array_equal(loaded.forward(ids), model.forward(ids))
    assert isinstance(load_model_tokenizer(directory), ByteTokenizer)


def test_files_are_standard_safetensors_and_json(tmp_path):
    model, _ = trained_a_little()
    save_model(tmp_path / "m", model)
    tensors = load_file(str(tmp_path / "m" / "model.safetensors"))
    assert set(tensors) == set(model.params)
    config = json.loads((tmp_path / "m" / "config.json").read_text())
    assert config["model"] == TINY.to_dict() and config["tokenizer"] == "bytes"


def test_tokenizer_is_saved_beside_the_model(tmp_path):
    tok = Tokenizer.train(["the cat sat on the mat"] * 3, vocab_size=275)
    tok.save(tmp_path / "tok.json")
    model = TissLM(ModelConfig(vocab_size=tok.vocab_size, context_length=8, n_layers=1,
                               d_model=8, n_heads=2))
    save_model(tmp_path / "m", model, tokenizer_path=tmp_path / "tok.json")
    loaded = load_model_tokenizer(tmp_path / "m")
    assert loaded.encode("the cat") == tok.encode("the cat")


def test_a_shape_mismatch_names_every_tensor_that_differs(tmp_path):
    save_model(tmp_path / "m", TissLM(TINY))
    config = json.loads((tmp_path / "m" / "config.json").read_text())
    config["model"]["d_model"] = 32
    (tmp_path / "m" / "config.json").write_text(json.dumps(config))
    with pytest.raises(CheckpointError) as err:
        load_model(tmp_path / "m")
    message = str(err.value)
    assert "does not match its config" in message
    assert "tok_emb: the file has shape (40, 16), the config expects (40, 32)" in message
    assert "blocks.1.attn.wq" in message


def test_missing_and_unexpected_tensors_are_listed(tmp_path):
    save_model(tmp_path / "m", TissLM(TINY))
    path = str(tmp_path / "m" / "model.safetensors")
    tensors = load_file(path)
    del tensors["norm_f.weight"]
    tensors["extra.bias"] = np.zeros(3, dtype=np.float32)
    save_file(tensors, path)
    with pytest.raises(CheckpointError) as err:
        load_model(tmp_path / "m")
    assert "missing tensor norm_f.weight" in str(err.value)
    assert "unexpected tensor extra.bias of shape (3,)" in str(err.value)


def test_a_bad_config_or_directory_is_a_clear_error(tmp_path):
    with pytest.raises(CheckpointError, match="not a TissLM model"):
        load_model(tmp_path)
    save_model(tmp_path / "m", TissLM(TINY))
    (tmp_path / "m" / "config.json").write_text('{"model": {"d_model": "big"}}')
    with pytest.raises(CheckpointError, match="not a valid TissLM config"):
        read_config(tmp_path / "m")


def test_checkpoint_restores_weights_and_optimizer_exactly(tmp_path):
    model, opt = trained_a_little()
    state = {"step": 3, "rng": np.random.default_rng(5).bit_generator.state, "data": {"epoch": 1}}
    save_checkpoint(tmp_path, model, opt, state)
    fresh = TissLM(TINY, seed=99)
    fresh_opt = AdamW(fresh.params, lr=1e-2, weight_decay=0.1)
    restored = load_checkpoint(tmp_path, fresh, fresh_opt)
    assert restored["step"] == 3 and restored["data"] == {"epoch": 1}
    rng = np.random.default_rng()
    rng.bit_generator.state = restored["rng"]
    assert rng.random() == np.random.default_rng(5).random()
    for name in model.params:
        np.testing.assert_array_equal(fresh.params[name], model.params[name])
    saved, loaded = opt.state_dict(), fresh_opt.state_dict()
    assert loaded["step"] == saved["step"]
    for name in saved["m"]:
        np.testing.assert_array_equal(loaded["m"][name], saved["m"][name])
        np.testing.assert_array_equal(loaded["v"][name], saved["v"][name])


def test_checkpoints_rotate_and_latest_points_at_the_newest(tmp_path):
    model, opt = trained_a_little()
    for step in (10, 20, 30):
        save_checkpoint(tmp_path, model, opt, {"step": step}, keep=2)
    names = sorted(p.name for p in (tmp_path / "checkpoints").iterdir())
    assert names == ["step-0000020", "step-0000030"]
    assert (tmp_path / "LATEST").read_text().strip() == "checkpoints/step-0000030"
    _, directory = load_model(tmp_path)
    assert directory == tmp_path / "checkpoints" / "step-0000030"


def test_a_crash_while_writing_leaves_the_previous_checkpoint_intact(tmp_path):
    model, opt = trained_a_little()
    save_checkpoint(tmp_path, model, opt, {"step": 1})
    before = {n: p.copy() for n, p in model.params.items()}
    model.params["tok_emb"] += 1.0

    class Unserialisable:
        pass

    with pytest.raises(TypeError):  # state.json cannot be written: the save dies half-way
        save_checkpoint(tmp_path, model, opt, {"step": 2, "rng": Unserialisable()})
    assert (tmp_path / "LATEST").read_text().strip() == "checkpoints/step-0000001"
    assert not (tmp_path / "checkpoints" / "step-0000002").exists()
    restored, _ = load_model(tmp_path)
    np.testing.assert_array_equal(restored.params["tok_emb"], before["tok_emb"])


def test_a_checkpoint_is_on_disk_before_latest_names_it(tmp_path, monkeypatch):
    """Power-cut safety: every file of the checkpoint and its folder are
    fsynced before the renames, LATEST (a file) before its rename, and the
    folders after the renames, before older checkpoints are deleted."""
    from tests.model.test_fileio import fsync_log
    model, opt = trained_a_little()
    synced = fsync_log(monkeypatch)
    save_checkpoint(tmp_path, model, opt, {"step": 1})
    checkpoints, tmp = tmp_path / "checkpoints", tmp_path / "checkpoints" / ".step-0000001.tmp"
    files = {"config.json", "model.safetensors", "optimizer.safetensors", "state.json"}
    assert {Path(p).name for p in synced if Path(p).parent == tmp} == files
    assert synced.index(str(tmp)) > max(synced.index(str(tmp / f)) for f in files)
    assert str(checkpoints) in synced                 # the rename into place
    latest_temp = [p for p in synced if Path(p).name.startswith(".LATEST")]
    assert latest_temp and synced[-1] == str(tmp_path)   # LATEST's rename, last


def test_resuming_with_another_config_names_the_differences(tmp_path):
    model, opt = trained_a_little()
    save_checkpoint(tmp_path, model, opt, {"step": 1})
    other = TissLM(ModelConfig(**{**TINY.to_dict(), "n_layers": 3}))
    with pytest.raises(CheckpointError, match="n_layers: checkpoint 2, now 3"):
        load_checkpoint(tmp_path, other, AdamW(other.params))


def test_a_model_directory_cannot_be_resumed(tmp_path):
    model, opt = trained_a_little()
    save_model(tmp_path / "m", model)
    with pytest.raises(CheckpointError, match="without training state"):
        load_checkpoint(tmp_path / "m", model, opt)
