"""model/loss.py: the gradient of cross-entropy checked against finite
differences (with label smoothing and ignored rows), log-softmax over the last
axis of a batch, and the errors. Written for the mutants bench/mutation.py
found surviving."""

from __future__ import annotations

import numpy as np
import pytest

from model.loss import cross_entropy, log_softmax


def numeric_gradient(logits, targets, smoothing, h=1e-6):
    grad = np.zeros_like(logits)
    for index in np.ndindex(*logits.shape):
        up, down = logits.copy(), logits.copy()
        up[index] += h
        down[index] -= h
        grad[index] = (cross_entropy(up, targets, smoothing)[0] - cross_entropy(down, targets, smoothing)[0]) / (2 * h)
    return grad


@pytest.mark.parametrize("smoothing", [0.0, 0.2])
@pytest.mark.parametrize("targets", [[0, 3, 1], [2, -1, 4]])
def test_the_gradient_is_the_derivative_of_the_loss(smoothing, targets):
    logits = np.random.default_rng(1).standard_normal((3, 5))
    targets = np.array(targets)
    _, grad = cross_entropy(logits.copy(), targets, smoothing)
    np.testing.assert_allclose(grad, numeric_gradient(logits, targets, smoothing), atol=1e-7)


def test_smoothed_loss_by_hand():
    logits = np.log(np.array([[0.5, 0.25, 0.25]]))
    loss, _ = cross_entropy(logits, np.array([0]), label_smoothing=0.3)
    expected = -(0.7 + 0.1) * np.log(0.5) - 0.1 * np.log(0.25) * 2
    assert loss == pytest.approx(expected, rel=1e-12)


def test_log_softmax_normalises_the_last_axis_of_a_batch():
    logits = np.random.default_rng(2).standard_normal((2, 3, 4)) * 50
    logp = log_softmax(logits)
    np.testing.assert_allclose(np.exp(logp).sum(axis=-1), np.ones((2, 3)), rtol=1e-12)
    np.testing.assert_allclose(logp[1, 2], log_softmax(logits[1, 2][None])[0])


def test_targets_may_come_as_a_column():
    logits = np.zeros((2, 4))
    assert cross_entropy(logits, np.array([[1], [2]]))[0] == pytest.approx(np.log(4))


def test_a_target_outside_the_vocabulary_is_named():
    with pytest.raises(ValueError) as caught:
        cross_entropy(np.zeros((2, 5)), np.array([1, 5]))
    assert str(caught.value) == "target id 5 is outside the vocabulary (size 5)"


def test_all_targets_ignored_is_an_error():
    with pytest.raises(ValueError) as caught:
        cross_entropy(np.zeros((2, 5)), np.array([-1, -1]))
    assert str(caught.value) == "every target is ignored (negative): there is nothing to learn from"
