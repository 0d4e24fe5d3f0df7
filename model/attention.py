"""Causal self-attention with multi-head, grouped-query and multi-query heads.

Shapes: B batch, T time, C = d_model, H query heads, K = n_kv_heads key/value
heads, G = H / K query heads per key/value head, hd = head dim.

Query head h uses key/value head h // G. Instead of copying keys G times, the
G query heads of a group are stacked along the time axis, q: (B, K, G*T, hd),
so one batched matmul against k: (B, K, T, hd) scores the whole group; the
backward then sums the group's key/value gradients for free.
"""

from __future__ import annotations

import math

import numpy as np

from model.parameters import ParamStore
from model.positions import RotaryEmbedding, apply_rope, apply_rope_backward


class CausalSelfAttention:
    def __init__(self, store: ParamStore, name: str, d_model: int, n_heads: int,
                 n_kv_heads: int, rng: np.random.Generator, out_std: float,
                 rope: RotaryEmbedding | None) -> None:
        self.store, self.rope = store, rope
        self.H, self.K = n_heads, n_kv_heads
        self.G = n_heads // n_kv_heads
        self.hd = d_model // n_heads
        self.scale = 1.0 / math.sqrt(self.hd)
        self.wq = store.normal(f"{name}.wq", (d_model, n_heads * self.hd), 0.02, rng)
        self.wk = store.normal(f"{name}.wk", (d_model, n_kv_heads * self.hd), 0.02, rng)
        self.wv = store.normal(f"{name}.wv", (d_model, n_kv_heads * self.hd), 0.02, rng)
        self.wo = store.normal(f"{name}.wo", (n_heads * self.hd, d_model), out_std, rng)
        self._causal_masks: dict[int, np.ndarray] = {}

    # -- layout helpers -------------------------------------------------------
    def _split_queries(self, q: np.ndarray, B: int, T: int, scale: float = 1.0) -> np.ndarray:
        """(B, T, H, hd) -> (B, K, G*T, hd), times ``scale`` in the same pass."""
        out = np.empty((B, self.K, self.G, T, self.hd), dtype=q.dtype)
        grouped = q.reshape(B, T, self.K, self.G, self.hd).transpose(0, 2, 3, 1, 4)
        np.multiply(grouped, scale, out=out)
        return out.reshape(B, self.K, self.G * T, self.hd)

    def _merge_queries(self, y: np.ndarray, B: int, T: int) -> np.ndarray:
        """(B, K, G*T, hd) -> (B, T, H, hd), the inverse layout of _split_queries."""
        y = y.reshape(B, self.K, self.G, T, self.hd).transpose(0, 3, 1, 2, 4)
        return y.reshape(B, T, self.H, self.hd)

    def _causal_mask(self, T: int) -> np.ndarray:
        """Additive mask (T, T): 0 on and below the diagonal, -inf above."""
        if T not in self._causal_masks:
            mask = np.triu(np.full((T, T), -np.inf, dtype=self.store.dtype), k=1)
            self._causal_masks[T] = mask
        return self._causal_masks[T]

    # -- forward / backward ---------------------------------------------------
    def forward(self, x: np.ndarray, B: int, T: int, positions=None, cache=None,
                layer: int = 0, allowed=None, keep: bool = True) -> np.ndarray:
        """x: (B*T, C) rows -> (B*T, C).

        Without a cache, attention is plainly causal over these T tokens.
        With a cache, keys/values are appended to it and ``allowed``
        (B, 1, T, S) says which of the S cached slots each query may see.
        """
        H, K, hd = self.H, self.K, self.hd
        p = self.store.params
        q = (x @ p[self.wq]).reshape(B, T, H, hd)
        k = (x @ p[self.wk]).reshape(B, T, K, hd)
        v = (x @ p[self.wv]).reshape(B, T, K, hd)
        rotations = None
        if self.rope is not None:
            rotations = self.rope.tables(T, positions)
            q, k = apply_rope(q, rotations), apply_rope(k, rotations)
        q = self._split_queries(q, B, T, self.scale)         # (B, K, G*T, hd)
        k = k.transpose(0, 2, 1, 3)                          # (B, K, T, hd)
        v = v.transpose(0, 2, 1, 3)
        if cache is not None:
            k, v = cache.store(layer, k, v)                  # (B, K, S, hd)

        y = np.empty(q.shape, dtype=q.dtype)                 # (B, K, G*T, hd)
        probs = np.empty(q.shape[:3] + (k.shape[2],), dtype=q.dtype)  # (B, K, G*T, S)

        self._attend(q, k, v, allowed, out=(y, probs))
        y = self._merge_queries(y, B, T).reshape(B * T, H * hd)
        if keep:
            self.saved = (x, q, k, v, probs, y, rotations)
        return y @ self.store.params[self.wo]               # (B*T, C)

    def _attend(self, q, k, v, allowed, out):
        """y = softmax(q k^T + mask) v for each head, written into out = (y, probs);
        q (b, K, G*T, hd), k and v (b, K, S, hd)."""
        y, probs = out
        b, T, S = q.shape[0], q.shape[2] // self.G, k.shape[2]
        scores = np.matmul(q, k.transpose(0, 1, 3, 2), out=probs)   # (b, K, G*T, S)
        grouped = scores.reshape(b, self.K, self.G, T, S)    # a view
        if allowed is None:
            grouped += self._causal_mask(T)
        else:
            np.copyto(grouped, -np.inf, where=~allowed[:, :, None])
        # softmax over keys, stable: subtract the row max first
        scores -= scores.max(axis=-1, keepdims=True)
        np.exp(scores, out=scores)
        scores /= scores.sum(axis=-1, keepdims=True)
        np.matmul(scores, v, out=y)

    def backward(self, dout: np.ndarray, B: int, T: int) -> np.ndarray:
        x, q, k, v, probs, y, rotations = self.saved
        H, K, hd = self.H, self.K, self.hd
        p, g = self.store.params, self.store.grads
        np.matmul(y.T, dout, out=g[self.wo])                 # (H*hd, C)
        dy = self._split_queries((dout @ p[self.wo].T).reshape(B, T, H, hd), B, T)

        dq = np.empty(q.shape, dtype=q.dtype)                # (B, K, G*T, hd)
        dk = np.empty(k.shape, dtype=q.dtype)                # (B, K, T, hd)
        dv = np.empty(v.shape, dtype=q.dtype)

        self._attend_backward(dy, q, k, v, probs, out=(dq, dk, dv))
        dq = self._merge_queries(dq, B, T) * self.scale      # (B, T, H, hd)
        dk = dk.transpose(0, 2, 1, 3)                        # (B, T, K, hd)
        if self.rope is not None:
            dq = apply_rope_backward(dq, rotations)
            dk = apply_rope_backward(dk, rotations)
        dq, dk = dq.reshape(B * T, H * hd), dk.reshape(B * T, K * hd)
        dv = dv.transpose(0, 2, 1, 3).reshape(B * T, K * hd)
        # q = x @ Wq, k = x @ Wk, v = x @ Wv
        np.matmul(x.T, dq, out=g[self.wq])
        np.matmul(x.T, dk, out=g[self.wk])
        np.matmul(x.T, dv, out=g[self.wv])
        dx = dq @ p[self.wq].T
        dx += dk @ p[self.wk].T
        dx += dv @ p[self.wv].T
        return dx                                            # (B*T, C)

    @staticmethod
    def _attend_backward(dy, q, k, v, probs, out):
        """Gradients of y = softmax(q k^T + mask) v given dy, per head, written
        into out = (dq (b, K, G*T, hd), dk (b, K, T, hd), dv (b, K, T, hd))."""
        dq, dk, dv = out
        # y = P @ v:  dP = dy @ v^T,  dv = P^T @ dy (sums the group for free)
        dscores = dy @ v.transpose(0, 1, 3, 2)               # dP: (b, K, G*T, T)
        np.matmul(probs.transpose(0, 1, 3, 2), dy, out=dv)
        # softmax: dS = P * (dP - sum_j dP_j P_j)
        dscores -= np.einsum("bkij,bkij->bki", dscores, probs)[..., None]
        dscores *= probs
        # S = q' @ k^T with q' = q / sqrt(hd):  dq' = dS @ k,  dk = dS^T @ q'
        np.matmul(dscores, k, out=dq)
        np.matmul(dscores.transpose(0, 1, 3, 2), q, out=dk)
