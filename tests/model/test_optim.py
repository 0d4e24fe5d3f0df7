"""AdamW against a step worked out by hand, the schedule and clipping."""

import math

import numpy as np
import pytest

from model.config import ModelConfig
from model.model import TissLM
from model.optim import AdamW, clip_grad_norm, cosine_lr, default_no_decay


def test_two_adamw_steps_match_hand_computation():
    w = np.array([1.0, -2.0])
    gain = np.array([0.5])
    opt = AdamW({"w": w, "norm.weight": gain}, lr=0.1, betas=(0.9, 0.99), eps=1e-8,
                weight_decay=0.5)
    opt.step({"w": np.array([0.2, -0.4]), "norm.weight": np.array([1.0])})
    # step 1: m = 0.1 g, v = 0.01 g^2, mhat = g, vhat = g^2 -> update = lr * sign(g)
    # w decays first: w * (1 - 0.1 * 0.5) = w * 0.95
    np.testing.assert_allclose(w, [0.95 - 0.1, -1.9 + 0.1], rtol=1e-7)
    np.testing.assert_allclose(gain, [0.5 - 0.1], rtol=1e-7)   # norms are not decayed

    opt.step({"w": np.array([0.1, 0.0]), "norm.weight": np.array([1.0])}, lr=0.05)
    # step 2, first element: m = 0.9*0.02 + 0.1*0.1 = 0.028, v = 0.99*0.0004 + 0.01*0.01 = 0.000496
    m, v = 0.028, 0.000496
    expected = 0.85 * (1 - 0.05 * 0.5) - 0.05 / (1 - 0.81) * m / (math.sqrt(v) / math.sqrt(1 - 0.99 ** 2) + 1e-8)
    assert w[0] == pytest.approx(expected, rel=1e-7)
    # second element: g = 0, m = -0.036, v = 0.99 * 0.0016
    m, v = -0.036, 0.99 * 0.0016
    expected = -1.8 * 0.975 - 0.05 / 0.19 * m / (math.sqrt(v) / math.sqrt(1 - 0.99 ** 2) + 1e-8)
    assert w[1] == pytest.approx(expected, rel=1e-7)


def test_default_no_decay_skips_norms_biases_and_embeddings():
    model = TissLM(ModelConfig(vocab_size=20, context_length=8, n_layers=1, d_model=8,
                               n_heads=2, norm="layernorm", positions="learned"))
    skipped = {name for name in model.params if default_no_decay(name)}
    assert skipped == {"tok_emb", "pos_emb", "blocks.0.norm1.weight", "blocks.0.norm1.bias",
                       "blocks.0.norm2.weight", "blocks.0.norm2.bias",
                       "norm_f.weight", "norm_f.bias"}


def test_custom_no_decay_and_in_place_updates():
    p = {"a": np.ones(3), "b": np.ones(3)}
    before = p["a"]
    opt = AdamW(p, lr=0.1, weight_decay=1.0, no_decay=lambda name: name == "b")
    opt.step({"a": np.zeros(3), "b": np.zeros(3)})
    assert p["a"] is before
    np.testing.assert_allclose(p["a"], 0.9)
    np.testing.assert_allclose(p["b"], 1.0)


def test_state_dict_resumes_identically():
    rng = np.random.default_rng(0)
    grads = [{"w": rng.standard_normal(4)} for _ in range(6)]
    a = {"w": np.linspace(-1, 1, 4)}
    opt_a = AdamW(a, lr=0.01)
    for g in grads[:3]:
        opt_a.step(g)
    b = {"w": a["w"].copy()}
    opt_b = AdamW(b, lr=0.5, betas=(0.5, 0.5))
    opt_b.load_state_dict(opt_a.state_dict())
    for g in grads[3:]:
        opt_a.step(g)
        opt_b.step(g)
    assert np.array_equal(a["w"], b["w"])
    with pytest.raises(ValueError, match="missing"):
        AdamW({"other": np.zeros(4)}).load_state_dict(opt_a.state_dict())


def test_cosine_schedule_warms_up_then_decays_to_min():
    lrs = [cosine_lr(s, 1.0, warmup_steps=10, total_steps=110, min_lr=0.1) for s in range(120)]
    assert lrs[0] == pytest.approx(0.1) and lrs[9] == pytest.approx(1.0)
    assert lrs[10] == pytest.approx(1.0)
    assert lrs[60] == pytest.approx(0.55)              # half way through the cosine
    assert all(x >= y for x, y in zip(lrs[10:], lrs[11:]))
    assert lrs[110] == lrs[119] == pytest.approx(0.1)


def test_clip_grad_norm_scales_only_when_needed():
    grads = {"a": np.array([3.0]), "b": np.array([4.0])}
    assert clip_grad_norm(grads, 10.0) == pytest.approx(5.0)
    assert grads["a"][0] == 3.0
    assert clip_grad_norm(grads, 1.0) == pytest.approx(5.0)
    total = math.hypot(grads["a"][0], grads["b"][0])
    assert total == pytest.approx(1.0, rel=1e-5)
    assert grads["a"][0] / grads["b"][0] == pytest.approx(0.75)
