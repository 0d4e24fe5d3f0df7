"""How a token knows where it is: RoPE, sinusoidal or learned positions.

``positions`` arguments are either None (the plain case: token t sits at
position t) or an int array (B, T) of per-row positions, used with left padding
where pads do not count.
"""

from __future__ import annotations

import numpy as np


class RotaryEmbedding:
    """Rotary position embedding (RoPE), applied to queries and keys.

    Features are split in two halves (x1, x2) of size hd/2; pair i is rotated
    by the angle pos * base^(-2i/hd):
        y1 = x1 cos - x2 sin,   y2 = x2 cos + x1 sin.
    A rotation's transpose is the rotation by -angle, so the backward is the
    same function with -sin.
    """

    def __init__(self, head_dim: int, context_length: int, base: float, dtype) -> None:
        inv_freq = base ** (-np.arange(0, head_dim, 2, dtype=np.float64) / head_dim)
        angles = np.outer(np.arange(context_length, dtype=np.float64), inv_freq)
        self.cos = np.cos(angles).astype(dtype)      # (L, hd/2)
        self.sin = np.sin(angles).astype(dtype)

    def tables(self, T: int, positions: np.ndarray | None):
        """cos, sin shaped to broadcast against (B, T, heads, hd/2)."""
        if positions is None:
            return self.cos[:T, None, :], self.sin[:T, None, :]       # (T, 1, hd/2)
        return self.cos[positions][:, :, None, :], self.sin[positions][:, :, None, :]


def apply_rope(x: np.ndarray, cos: np.ndarray, sin: np.ndarray) -> np.ndarray:
    """Rotate x (B, T, heads, hd) by the angles in cos/sin; returns a new array."""
    half = x.shape[-1] // 2
    x1, x2 = x[..., :half], x[..., half:]
    out = np.empty_like(x)
    np.multiply(x1, cos, out=out[..., :half])
    out[..., :half] -= x2 * sin
    np.multiply(x2, cos, out=out[..., half:])
    out[..., half:] += x1 * sin
    return out


def apply_rope_backward(dy: np.ndarray, cos: np.ndarray, sin: np.ndarray) -> np.ndarray:
    return apply_rope(dy, cos, -sin)


def sinusoidal_table(context_length: int, d_model: int, dtype) -> np.ndarray:
    """The fixed table of "Attention is all you need": (L, C).

    PE[p, 2i] = sin(p / 10000^(2i/C)),  PE[p, 2i+1] = cos(p / 10000^(2i/C)).
    """
    pos = np.arange(context_length, dtype=np.float64)[:, None]
    div = 10000.0 ** (np.arange(0, d_model, 2, dtype=np.float64) / d_model)
    table = np.zeros((context_length, d_model))
    table[:, 0::2] = np.sin(pos / div)
    table[:, 1::2] = np.cos(pos / div)
    return table.astype(dtype)
