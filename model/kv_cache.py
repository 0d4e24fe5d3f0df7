"""A pre-allocated key/value cache for incremental decoding.

Keys and values of every layer live in two arrays allocated once,
(n_layers, B, n_kv_heads, max_len, head_dim); each call to
``TissLM.forward_cached`` writes the new tokens' keys and values into the next
free slots, so nothing is ever re-concatenated.

With left-padded batches, ``real`` records which slots hold real tokens (pads
are masked out of attention) and ``n_real`` counts each row's real tokens so
far, which is the position the row's next real token gets.
"""

from __future__ import annotations

import numpy as np


class CacheFullError(ValueError):
    """More tokens were fed than the cache (or the model's context) holds."""


class KVCache:
    def __init__(self, n_layers: int, batch_size: int, max_len: int,
                 n_kv_heads: int, head_dim: int, dtype) -> None:
        shape = (n_layers, batch_size, n_kv_heads, max_len, head_dim)
        self.k = np.zeros(shape, dtype=dtype)
        self.v = np.zeros(shape, dtype=dtype)
        self.real = np.zeros((batch_size, max_len), dtype=bool)
        self.n_real = np.zeros(batch_size, dtype=np.int64)
        self.length = 0  # slots filled so far (same for every row)

    @property
    def batch_size(self) -> int:
        return self.k.shape[1]

    @property
    def max_len(self) -> int:
        return self.k.shape[3]

    def reset(self) -> None:
        self.real[:] = False
        self.n_real[:] = 0
        self.length = 0

    def begin(self, pad_mask: np.ndarray) -> np.ndarray:
        """Reserve slots for t new tokens; returns their positions (B, t).

        A real token's position counts only the real tokens before it in its
        row; a pad gets position 0 (it is masked out, its value is irrelevant).
        """
        B, t = pad_mask.shape
        if B != self.batch_size:
            raise ValueError(f"the cache was made for batch size {self.batch_size}, got {B} rows")
        if self.length + t > self.max_len:
            raise CacheFullError(
                f"the KV cache holds {self.max_len} tokens and {self.length} are used; "
                f"{t} more do not fit (make the cache with a larger max_len)")
        positions = self.n_real[:, None] + np.cumsum(pad_mask, axis=1) - 1
        positions[~pad_mask] = 0
        self.real[:, self.length:self.length + t] = pad_mask
        return np.maximum(positions, 0)

    def store(self, layer: int, k_new: np.ndarray, v_new: np.ndarray):
        """Write (B, Hkv, t, hd) keys/values into the reserved slots; return views
        of every filled slot, (B, Hkv, length + t, hd)."""
        start, end = self.length, self.length + k_new.shape[2]
        self.k[layer, :, :, start:end] = k_new
        self.v[layer, :, :, start:end] = v_new
        return self.k[layer, :, :, :end], self.v[layer, :, :, :end]

    def commit(self, pad_mask: np.ndarray) -> None:
        """Mark the reserved slots as used, once every layer has stored its part."""
        self.length += pad_mask.shape[1]
        self.n_real += pad_mask.sum(axis=1)

    def attention_mask(self, t: int) -> np.ndarray:
        """Which keys each new query may see: (B, 1, t, length + t) booleans.

        Query i (slot length + i) sees slot j when j <= length + i (causal) and
        slot j holds a real token. A pad query also sees itself, so its softmax
        row is never empty (its output is discarded anyway).
        """
        end = self.length + t
        slots = np.arange(end)
        query_slots = self.length + np.arange(t)
        causal = slots[None, :] <= query_slots[:, None]                    # (t, S)
        allowed = causal[None] & self.real[:, None, :end]                  # (B, t, S)
        allowed |= slots[None, None, :] == query_slots[None, :, None]
        return allowed[:, None]
