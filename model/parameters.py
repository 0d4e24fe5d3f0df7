"""Where layers keep their weights: two dicts shared with the model.

Every layer registers its tensors under stable dotted names (``blocks.0.attn.wq``)
in the model's ``params`` dict; ``grads`` holds a gradient buffer of the same
shape for each, allocated on first use, so a model that only generates never
holds them. Layers look their arrays up by name on every call, so an optimizer or
a checkpoint loader may update the dicts in place or assign new arrays to keys.
"""

from __future__ import annotations

import numpy as np


class ParamStore:
    """The model's ``params`` and ``grads`` dicts, plus the dtype they use."""

    def __init__(self, dtype: np.dtype, shared_params: dict | None = None) -> None:
        """With ``shared_params``, layers built on this store use those arrays
        (the values they propose are ignored) and get gradients of their own."""
        self.dtype = np.dtype(dtype)
        self.sharing = shared_params is not None
        self.params: dict[str, np.ndarray] = {} if shared_params is None else shared_params
        self.names: list[str] = []   # the parameters this store's layers registered, in order
        self._grads: dict[str, np.ndarray] | None = None

    @property
    def grads(self) -> dict[str, np.ndarray]:
        """One zeroed buffer per registered parameter, allocated on first use
        (a backward pass): an inference-only model never pays for them."""
        if self._grads is None:
            self._grads = {name: np.zeros_like(self.params[name]) for name in self.names}
        return self._grads

    @property
    def has_grads(self) -> bool:
        return self._grads is not None

    def add(self, name: str, value: np.ndarray) -> str:
        if not self.sharing:
            if name in self.params:
                raise KeyError(f"parameter {name!r} registered twice")
            self.params[name] = np.ascontiguousarray(value, dtype=self.dtype)
        self.names.append(name)
        return name

    def normal(self, name: str, shape: tuple[int, ...], std: float,
               rng: np.random.Generator) -> str:
        return self.add(name, rng.standard_normal(shape) * std)

    def ones(self, name: str, shape: tuple[int, ...]) -> str:
        return self.add(name, np.ones(shape))

    def zeros(self, name: str, shape: tuple[int, ...]) -> str:
        return self.add(name, np.zeros(shape))
