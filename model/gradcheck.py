"""Check every hand-written gradient against central finite differences.

For each configuration variant a tiny float64 model is built, its weights are
re-drawn large enough that every non-linearity is really exercised, and each
element w of every parameter gets the numerical derivative

    (L(w + h) - L(w - h)) / 2h

which is compared with ``backward``'s. With h = 1e-6 in float64 the
truncation error (~h^2 times the third derivative) and the rounding error
(~1e-16 |L| / h) both stay near 1e-10, far below any real mistake in a
backward pass. The error of a parameter is
max |analytic - numeric| / max(max |analytic|, max |numeric|): the largest
disagreement relative to the size of that parameter's gradient.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

import numpy as np

from model.config import ModelConfig
from model.model import TissLM

TOLERANCE = 1e-5

# A tiny model; every variant below changes one thing from it.
TINY = ModelConfig(vocab_size=11, context_length=8, n_layers=2, d_model=8, n_heads=2,
                   d_ff=12, dtype="float64")

VARIANTS: dict[str, dict] = {
    "base (rmsnorm, swiglu, rope, mha)": {},
    "gqa (4 heads, 2 kv heads)": {"n_heads": 4, "n_kv_heads": 2},
    "mqa (4 heads, 1 kv head)": {"n_heads": 4, "n_kv_heads": 1},
    "layernorm": {"norm": "layernorm"},
    "gelu": {"ffn": "gelu"},
    "relu": {"ffn": "relu"},
    "sinusoidal positions": {"positions": "sinusoidal"},
    "learned positions": {"positions": "learned"},
    "tied embeddings": {"tied_embeddings": True},
    "label smoothing": {"label_smoothing": 0.1},
    "dropout": {"dropout": 0.2},
}


@dataclass
class ParamCheck:
    variant: str
    param: str
    max_rel_error: float
    passed: bool


def variant_config(overrides: dict) -> ModelConfig:
    return replace(TINY, **overrides)


def check_model(model: TissLM, variant: str, batch: int = 2, seq: int = 5,
                h: float = 1e-6, seed: int = 0, tolerance: float = TOLERANCE) -> list[ParamCheck]:
    rng = np.random.default_rng(seed)
    V = model.cfg.vocab_size
    ids = rng.integers(0, V, (batch, seq))
    targets = rng.integers(0, V, (batch, seq))
    targets[0, 0] = -1  # an ignored target takes part too

    def loss() -> float:
        # the same dropout masks on every evaluation: a fresh generator each time
        return model.loss(ids, targets, train=True, rng=np.random.default_rng(seed + 1))

    loss()
    model.backward()
    analytic = {k: g.copy() for k, g in model.grads.items()}
    results = []
    for name, p in model.params.items():
        numeric = np.zeros_like(p)
        flat, num_flat = p.reshape(-1), numeric.reshape(-1)
        for i in range(flat.size):
            saved = flat[i]
            flat[i] = saved + h
            up = loss()
            flat[i] = saved - h
            down = loss()
            flat[i] = saved
            num_flat[i] = (up - down) / (2 * h)
        scale = max(np.abs(analytic[name]).max(), np.abs(numeric).max(), 1e-30)
        err = float(np.abs(analytic[name] - numeric).max() / scale)
        results.append(ParamCheck(variant, name, err, err <= tolerance))
    return results


def randomize(model: TissLM, seed: int) -> None:
    """Draw weights large enough that attention is far from uniform and
    activations reach the curved parts of GELU/SiLU."""
    rng = np.random.default_rng(seed)
    for name, p in model.params.items():
        if p.ndim == 1:  # norm gains and biases
            base = 1.0 if name.endswith("weight") else 0.0
            p[...] = base + 0.3 * rng.standard_normal(p.shape)
        else:
            p[...] = rng.standard_normal(p.shape) * 0.5


def run_gradcheck(variants: list[str] | None = None, seed: int = 0,
                  tolerance: float = TOLERANCE) -> list[ParamCheck]:
    """Check every parameter of every variant (all of ``VARIANTS`` by default).
    Returns one ParamCheck per (variant, parameter); see ``passed``."""
    names = list(VARIANTS) if variants is None else variants
    unknown = [n for n in names if n not in VARIANTS]
    if unknown:
        raise ValueError(f"unknown gradcheck variant(s) {unknown}; known: {list(VARIANTS)}")
    results: list[ParamCheck] = []
    for name in names:
        model = TissLM(variant_config(VARIANTS[name]), seed=seed)
        randomize(model, seed)
        results.extend(check_model(model, name, seed=seed, tolerance=tolerance))
    return results
