"""Inverted dropout: in training, zero each element with probability p and
scale the survivors by 1/(1-p), so evaluation needs no rescaling at all."""

from __future__ import annotations

import numpy as np


def dropout_mask(shape, p: float, rng: np.random.Generator, dtype) -> np.ndarray:
    """A mask of 0 and 1/(1-p), to multiply the activations (and their
    gradients, in the backward) with."""
    keep = rng.random(shape, dtype=np.float32) >= p
    return keep.astype(dtype) * np.asarray(1.0 / (1.0 - p), dtype=dtype)
