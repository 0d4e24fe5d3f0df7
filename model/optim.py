"""AdamW, the cosine learning-rate schedule with warmup, and gradient clipping.

AdamW (Loshchilov & Hutter) with decoupled weight decay, written exactly as
PyTorch's ``torch.optim.AdamW`` does it, step t = 1, 2, ...:

    p <- p * (1 - lr * wd)                       (only for decayed params)
    m <- b1 m + (1 - b1) g
    v <- b2 v + (1 - b2) g^2
    p <- p - lr / (1 - b1^t) * m / (sqrt(v) / sqrt(1 - b2^t) + eps)

By default weight decay skips norms, biases and embeddings (``default_no_decay``).
Updates happen in place, so the model's arrays stay the same objects.
"""

from __future__ import annotations

import math
from typing import Callable

import numpy as np


def default_no_decay(name: str) -> bool:
    """Norm gains, biases (every 1-D tensor) and embeddings are not decayed."""
    leaf = name.rsplit(".", 1)[-1]
    return (".norm" in f".{name}" or leaf == "bias" or name in ("tok_emb", "pos_emb"))


class AdamW:
    def __init__(self, params: dict[str, np.ndarray], lr: float = 1e-3,
                 betas: tuple[float, float] = (0.9, 0.999), eps: float = 1e-8,
                 weight_decay: float = 0.01,
                 no_decay: Callable[[str], bool] = default_no_decay) -> None:
        self.params = params
        self.lr, self.betas, self.eps = lr, tuple(betas), eps
        self.weight_decay = weight_decay
        self.decay = {name: not no_decay(name) for name in params}
        self.step_count = 0
        self.m = {name: np.zeros_like(p) for name, p in params.items()}
        self.v = {name: np.zeros_like(p) for name, p in params.items()}
        self._scratch = {name: np.empty_like(p) for name, p in params.items()}

    def step(self, grads: dict[str, np.ndarray], lr: float | None = None) -> None:
        lr = self.lr if lr is None else lr
        b1, b2 = self.betas
        self.step_count += 1
        t = self.step_count
        step_size = lr / (1.0 - b1 ** t)
        sqrt_bias2 = math.sqrt(1.0 - b2 ** t)
        for name, p in self.params.items():
            g, m, v, denom = grads[name], self.m[name], self.v[name], self._scratch[name]
            if self.decay[name] and self.weight_decay:
                p *= 1.0 - lr * self.weight_decay
            m *= b1
            m += (1.0 - b1) * g
            v *= b2
            np.multiply(g, g, out=denom)
            denom *= 1.0 - b2
            v += denom
            np.sqrt(v, out=denom)
            denom *= 1.0 / sqrt_bias2
            denom += self.eps
            np.divide(m, denom, out=denom)
            denom *= step_size
            p -= denom

    def state_dict(self) -> dict:
        """Everything needed to continue bit-identically (arrays are copies)."""
        return {
            "step": self.step_count,
            "lr": self.lr, "betas": list(self.betas), "eps": self.eps,
            "weight_decay": self.weight_decay,
            "m": {k: a.copy() for k, a in self.m.items()},
            "v": {k: a.copy() for k, a in self.v.items()},
        }

    def load_state_dict(self, state: dict) -> None:
        missing = sorted(set(self.m) - set(state["m"]))
        unexpected = sorted(set(state["m"]) - set(self.m))
        if missing or unexpected:
            raise ValueError(f"optimizer state does not match the model: missing "
                             f"{missing or 'nothing'}, unexpected {unexpected or 'nothing'}")
        for name in self.m:
            for ours, theirs in ((self.m[name], state["m"][name]), (self.v[name], state["v"][name])):
                if ours.shape != np.shape(theirs):
                    raise ValueError(f"optimizer state for {name}: shape {np.shape(theirs)}, "
                                     f"the model has {ours.shape}")
                ours[...] = theirs
        self.step_count = int(state["step"])
        self.lr, self.betas = state["lr"], tuple(state["betas"])
        self.eps, self.weight_decay = state["eps"], state["weight_decay"]


def cosine_lr(step: int, max_lr: float, warmup_steps: int, total_steps: int,
              min_lr: float = 0.0) -> float:
    """Linear warmup to max_lr over warmup_steps, then a cosine decay to min_lr
    at total_steps (and min_lr after). ``step`` counts from 0."""
    if step < warmup_steps:
        return max_lr * (step + 1) / warmup_steps
    if step >= total_steps:
        return min_lr
    progress = (step - warmup_steps) / max(1, total_steps - warmup_steps)
    return min_lr + 0.5 * (max_lr - min_lr) * (1.0 + math.cos(math.pi * progress))


def clip_grad_norm(grads: dict[str, np.ndarray], max_norm: float) -> float:
    """Scale all gradients in place so their global L2 norm is at most max_norm;
    returns the norm before clipping."""
    total = math.sqrt(sum(float(np.vdot(g, g)) for g in grads.values()))
    if total > max_norm:
        scale = max_norm / (total + 1e-6)
        for g in grads.values():
            g *= scale
    return total
