"""Token embedding: a lookup table whose backward scatters rows back."""

from __future__ import annotations

import numpy as np

from model.parameters import ParamStore


class Embedding:
    """x = E[ids]: ids (B, T) -> (B, T, C); also serves as the tied output layer."""

    def __init__(self, store: ParamStore, name: str, vocab_size: int, d_model: int,
                 rng: np.random.Generator) -> None:
        self.store = store
        self.weight = store.normal(name, (vocab_size, d_model), 0.02, rng)

    def forward(self, ids: np.ndarray) -> np.ndarray:
        return self.store.params[self.weight][ids]

    def backward(self, ids: np.ndarray, dx: np.ndarray, accumulate: bool = False) -> None:
        """dE[v] = sum of dx over the positions where ids == v."""
        grad = self.store.grads[self.weight]
        if not accumulate:
            grad[:] = 0.0
        np.add.at(grad, ids.reshape(-1), dx.reshape(-1, grad.shape[1]))
