"""How a token knows where it is: RoPE, sinusoidal or learned positions.

``positions`` arguments are either None (the plain case: token t sits at
position t) or an int array (B, T) of per-row positions, used with left padding
where pads do not count.
"""

from __future__ import annotations

import numpy as np


class RotaryEmbedding:
    """Rotary position embedding (RoPE), applied to queries and keys.

    Features are taken in adjacent pairs (x[2i], x[2i+1]), and pair i of the
    token at position p is rotated by the angle p * base^(-2i/hd). Seen as a
    complex number z = x[2i] + j x[2i+1], the rotation is one multiplication,
    z * e^(j angle), which NumPy does in one pass over a complex view of x.
    A rotation's transpose is the rotation by -angle, so the backward
    multiplies by the conjugate.
    """

    def __init__(self, head_dim: int, context_length: int, base: float, dtype) -> None:
        inv_freq = base ** (-np.arange(0, head_dim, 2, dtype=np.float64) / head_dim)
        angles = np.outer(np.arange(context_length, dtype=np.float64), inv_freq)
        complex_dtype = np.result_type(dtype, np.complex64)
        self.rotations = np.exp(1j * angles).astype(complex_dtype)   # (L, hd/2)

    def tables(self, T: int, positions: np.ndarray | None) -> np.ndarray:
        """The rotations, shaped to broadcast against (B, T, heads, hd/2)."""
        if positions is None:
            return self.rotations[:T, None, :]                        # (T, 1, hd/2)
        return self.rotations[positions][:, :, None, :]               # (B, T, 1, hd/2)


def apply_rope(x: np.ndarray, rotations: np.ndarray) -> np.ndarray:
    """Rotate x (B, T, heads, hd), last axis contiguous; returns a new array."""
    z = x.view(rotations.dtype)                    # (B, T, heads, hd/2) complex
    return (z * rotations).view(x.dtype)


def apply_rope_backward(dy: np.ndarray, rotations: np.ndarray) -> np.ndarray:
    return apply_rope(dy, rotations.conj())


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
