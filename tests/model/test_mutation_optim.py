"""model/optim.py: the messages of a mismatched optimizer state, the schedule's
default floor, and gradient clipping at and over the limit. Written for the
mutants bench/mutation.py found surviving."""

from __future__ import annotations

import numpy as np
import pytest

from model.optim import AdamW, clip_grad_norm, cosine_lr


def test_a_state_for_other_parameters_names_what_is_missing_and_unexpected():
    state = AdamW({"a": np.zeros(2), "b": np.zeros(2)}).state_dict()
    with pytest.raises(ValueError) as caught:
        AdamW({"a": np.zeros(2), "c": np.zeros(2)}).load_state_dict(state)
    assert str(caught.value) == ("optimizer state does not match the model: "
                                 "missing ['c'], unexpected ['b']")
    with pytest.raises(ValueError) as caught:
        AdamW({"a": np.zeros(2)}).load_state_dict(state)
    assert str(caught.value).endswith("missing nothing, unexpected ['b']")
    with pytest.raises(ValueError) as caught:
        AdamW({"a": np.zeros(2), "b": np.zeros(2), "c": np.zeros(2)}).load_state_dict(state)
    assert str(caught.value).endswith("missing ['c'], unexpected nothing")


def test_a_state_of_another_shape_names_the_parameter_and_both_shapes():
    state = AdamW({"w": np.zeros((2, 3))}).state_dict()
    with pytest.raises(ValueError) as caught:
        AdamW({"w": np.zeros((3, 2))}).load_state_dict(state)
    assert str(caught.value) == "optimizer state for w: shape (2, 3), the model has (3, 2)"


def test_the_schedule_ends_at_zero_by_default():
    assert cosine_lr(10, 1.0, warmup_steps=2, total_steps=10) == 0.0
    assert cosine_lr(50, 1.0, warmup_steps=2, total_steps=10) == 0.0


def test_gradients_exactly_at_the_limit_are_left_alone():
    grads = {"a": np.array([3.0]), "b": np.array([4.0])}
    assert clip_grad_norm(grads, 5.0) == 5.0
    assert grads["a"][0] == 3.0 and grads["b"][0] == 4.0


def test_clipped_gradients_end_at_or_just_under_the_limit():
    grads = {"a": np.array([30.0]), "b": np.array([40.0])}
    assert clip_grad_norm(grads, 5.0) == 50.0
    norm = float(np.sqrt(grads["a"][0] ** 2 + grads["b"][0] ** 2))
    assert norm <= 5.0
    assert norm == pytest.approx(5.0, rel=1e-6)


@pytest.mark.parametrize("name, skipped", [
    ("blocks.0.mlp.bias", True), ("bias", True), ("head.bias", True), ("blocks.0.mlp.weight", False),
    ("blocks.0.norm1.weight", True), ("norm_f.weight", True), ("tok_emb", True), ("lm_head.weight", False),
    ("blocks.0.attn.bias_scale", False), ("enormous.weight", False),
])
def test_default_no_decay_by_name(name, skipped):
    from model.optim import default_no_decay
    assert default_no_decay(name) is skipped


def test_defaults_are_pytorchs():
    opt = AdamW({"w": np.zeros(1)})
    assert (opt.lr, opt.betas, opt.eps, opt.weight_decay) == (1e-3, (0.9, 0.999), 1e-8, 0.01)


def test_eps_is_added_to_the_denominator():
    w = np.array([0.0])
    AdamW({"w": w}, lr=0.1, eps=1.0, weight_decay=0.0).step({"w": np.array([1.0])})
    # first step: m_hat = g = 1, sqrt(v_hat) = |g| = 1 -> update = lr * 1 / (1 + eps)
    assert w[0] == pytest.approx(-0.05, rel=1e-12)
