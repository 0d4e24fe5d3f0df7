"""Normalisation layers: RMSNorm and LayerNorm, each with its backward.

Both normalise the last axis (features, size C) of an input x of shape (N, C).
The backward takes dy = dL/dy (N, C), adds the weight gradients into the
gradient dict, and returns dx = dL/dx (N, C).
"""

from __future__ import annotations

import numpy as np

from model.parameters import ParamStore


class RMSNorm:
    """y = x / rms(x) * g,  rms(x) = sqrt(mean(x^2) + eps)."""

    def __init__(self, store: ParamStore, name: str, dim: int, eps: float) -> None:
        self.store, self.eps = store, eps
        self.weight = store.ones(f"{name}.weight", (dim,))

    def forward(self, x: np.ndarray, keep: bool = True) -> np.ndarray:
        # r = 1/rms: (N, 1);  xhat = x * r: (N, C)
        r = 1.0 / np.sqrt(np.mean(np.square(x), axis=-1, keepdims=True) + self.eps)
        xhat = x * r
        if keep:
            self.saved = (xhat, r)
        return xhat * self.store.params[self.weight]

    def backward(self, dy: np.ndarray) -> np.ndarray:
        xhat, r = self.saved
        g = self.store.params[self.weight]
        # dL/dg = sum over rows of dy * xhat
        np.einsum("nc,nc->c", dy, xhat, out=self.store.grads[self.weight])
        # With dxhat = dy * g, the Jacobian of x -> x * r(x) gives
        # dx = r * (dxhat - xhat * mean(dxhat * xhat))
        dxhat = dy * g
        proj = np.mean(dxhat * xhat, axis=-1, keepdims=True)
        dxhat -= xhat * proj
        dxhat *= r
        return dxhat


class LayerNorm:
    """y = (x - mean(x)) / std(x) * g + b, std over the feature axis."""

    def __init__(self, store: ParamStore, name: str, dim: int, eps: float) -> None:
        self.store, self.eps = store, eps
        self.weight = store.ones(f"{name}.weight", (dim,))
        self.bias = store.zeros(f"{name}.bias", (dim,))

    def forward(self, x: np.ndarray, keep: bool = True) -> np.ndarray:
        mu = np.mean(x, axis=-1, keepdims=True)                              # (N, 1)
        centred = x - mu                                                     # (N, C)
        r = 1.0 / np.sqrt(np.mean(np.square(centred), axis=-1, keepdims=True) + self.eps)
        xhat = centred * r
        if keep:
            self.saved = (xhat, r)
        p = self.store.params
        return xhat * p[self.weight] + p[self.bias]

    def backward(self, dy: np.ndarray) -> np.ndarray:
        xhat, r = self.saved
        grads = self.store.grads
        np.einsum("nc,nc->c", dy, xhat, out=grads[self.weight])
        np.sum(dy, axis=0, out=grads[self.bias])
        # dx = r * (dxhat - mean(dxhat) - xhat * mean(dxhat * xhat))
        dxhat = dy * self.store.params[self.weight]
        dxhat -= np.mean(dxhat, axis=-1, keepdims=True) + xhat * np.mean(
            dxhat * xhat, axis=-1, keepdims=True)
        dxhat *= r
        return dxhat


def make_norm(kind: str, store: ParamStore, name: str, dim: int, eps: float):
    return {"rmsnorm": RMSNorm, "layernorm": LayerNorm}[kind](store, name, dim, eps)
