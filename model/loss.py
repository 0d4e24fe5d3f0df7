"""Cross-entropy over the vocabulary, with optional label smoothing.

With label smoothing eps the target distribution of a row is
    q = (1 - eps) * onehot(target) + eps / V,
the loss is the mean over rows of -sum_v q_v log p_v, and its gradient with
respect to the logits is (p - q) / N. Rows whose target is negative (for
example padding) are ignored and do not count in N.
"""

from __future__ import annotations

import numpy as np


def log_softmax(logits: np.ndarray) -> np.ndarray:
    """Stable log-softmax over the last axis: subtract the row max before exp."""
    shifted = logits - logits.max(axis=-1, keepdims=True)
    shifted -= np.log(np.exp(shifted).sum(axis=-1, keepdims=True))
    return shifted


def cross_entropy(logits: np.ndarray, targets: np.ndarray,
                  label_smoothing: float = 0.0) -> tuple[float, np.ndarray]:
    """logits (N, V), targets (N,) ints -> (mean loss, dL/dlogits (N, V)).

    The gradient array reuses the memory of the log-probabilities.
    """
    N, V = logits.shape
    targets = np.asarray(targets).reshape(N)
    if targets.size and targets.max() >= V:
        raise ValueError(f"target id {int(targets.max())} is outside the vocabulary (size {V})")
    valid = targets >= 0
    count = int(valid.sum())
    if count == 0:
        raise ValueError("every target is ignored (negative): there is nothing to learn from")
    rows = np.flatnonzero(valid)
    logp = log_softmax(logits)                                 # (N, V)
    nll = -logp[rows, targets[rows]]                           # (n,)
    loss = (1.0 - label_smoothing) * nll.sum()
    if label_smoothing:
        loss -= label_smoothing * logp[rows].mean(axis=-1).sum()
    loss /= count

    grad = np.exp(logp, out=logp)                              # p = softmax(logits)
    grad[rows, targets[rows]] -= 1.0 - label_smoothing
    if label_smoothing:
        grad -= label_smoothing / V
    grad[~valid] = 0.0
    grad *= 1.0 / count
    return float(loss), grad
