"""The position-wise feed-forward layer: SwiGLU, GELU or ReLU.

Input and output are (N, C) rows (N = batch * time). Weights are stored
(in, out) so that a layer is a plain ``x @ W`` that BLAS runs as one GEMM.
Each backward adds its weight gradients into the gradient dict and returns dx.
"""

from __future__ import annotations

import math

import numpy as np

from model.parameters import ParamStore

_GELU_C = math.sqrt(2.0 / math.pi)


class SwiGLU:
    """y = (silu(x @ W_gate) * (x @ W_up)) @ W_down,  silu(a) = a * sigmoid(a)."""

    def __init__(self, store: ParamStore, name: str, d_model: int, d_ff: int,
                 rng: np.random.Generator, out_std: float) -> None:
        self.store = store
        self.w_gate = store.normal(f"{name}.w_gate", (d_model, d_ff), 0.02, rng)
        self.w_up = store.normal(f"{name}.w_up", (d_model, d_ff), 0.02, rng)
        self.w_down = store.normal(f"{name}.w_down", (d_ff, d_model), out_std, rng)

    def forward(self, x: np.ndarray, keep: bool = True) -> np.ndarray:
        p = self.store.params
        a = x @ p[self.w_gate]                       # (N, F) gate pre-activation
        u = x @ p[self.w_up]                         # (N, F)
        s = np.exp(-a)
        s += 1.0
        np.reciprocal(s, out=s)                      # sigmoid(a)
        h = a * s                                    # silu(a)
        h *= u                                       # (N, F)
        if keep:
            self.saved = (x, a, u, s, h)
        return h @ p[self.w_down]                    # (N, C)

    def backward(self, dy: np.ndarray) -> np.ndarray:
        x, a, u, s, h = self.saved
        p, g = self.store.params, self.store.grads
        np.matmul(h.T, dy, out=g[self.w_down])       # (F, C)
        dh = dy @ p[self.w_down].T                   # (N, F)
        # du = dh * silu(a)
        du = a * s
        du *= dh
        # da = dh * u * silu'(a),  silu'(a) = s + a s (1 - s) = s (1 + a (1 - s))
        da = 1.0 - s
        da *= a
        da += 1.0
        da *= s
        da *= u
        da *= dh
        np.matmul(x.T, da, out=g[self.w_gate])
        np.matmul(x.T, du, out=g[self.w_up])
        dx = da @ p[self.w_gate].T
        dx += du @ p[self.w_up].T
        return dx                                    # (N, C)


class GELUMLP:
    """y = act(x @ W_in) @ W_out with act = GELU (tanh form) or ReLU."""

    def __init__(self, store: ParamStore, name: str, d_model: int, d_ff: int,
                 rng: np.random.Generator, out_std: float, activation: str) -> None:
        self.store, self.activation = store, activation
        self.w_in = store.normal(f"{name}.w_in", (d_model, d_ff), 0.02, rng)
        self.w_out = store.normal(f"{name}.w_out", (d_ff, d_model), out_std, rng)

    def forward(self, x: np.ndarray, keep: bool = True) -> np.ndarray:
        p = self.store.params
        a = x @ p[self.w_in]                         # (N, F)
        if self.activation == "relu":
            h, t = np.maximum(a, 0.0), None
        else:
            # gelu(a) = 0.5 a (1 + tanh(c (a + 0.044715 a^3)))
            t = np.tanh(_GELU_C * (a + 0.044715 * a ** 3))
            h = 0.5 * a * (1.0 + t)
        if keep:
            self.saved = (x, a, t, h)
        return h @ p[self.w_out]                     # (N, C)

    def backward(self, dy: np.ndarray) -> np.ndarray:
        x, a, t, h = self.saved
        p, g = self.store.params, self.store.grads
        np.matmul(h.T, dy, out=g[self.w_out])
        da = dy @ p[self.w_out].T                    # dL/dh: (N, F)
        if self.activation == "relu":
            da *= a > 0
        else:
            # d gelu/da = 0.5 (1 + t) + 0.5 a (1 - t^2) c (1 + 3 * 0.044715 a^2)
            da *= 0.5 * (1.0 + t) + 0.5 * a * (1.0 - t * t) * _GELU_C * (
                1.0 + 3 * 0.044715 * a * a)
        np.matmul(x.T, da, out=g[self.w_in])
        return da @ p[self.w_in].T


def make_feedforward(kind: str, store: ParamStore, name: str, d_model: int, d_ff: int,
                     rng: np.random.Generator, out_std: float):
    if kind == "swiglu":
        return SwiGLU(store, name, d_model, d_ff, rng, out_std)
    return GELUMLP(store, name, d_model, d_ff, rng, out_std, activation=kind)
