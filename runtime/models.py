"""The model-backend protocol PROMPT_AGENT and ``--choose model`` talk to.

A backend is any object with::

    generate(prompt: str, *, system: str | None = None, max_tokens: int = 256) -> str
    score(options: list[str], context: str) -> list[float]   # higher = better

and, optionally, ``count_tokens(text) -> int`` (used for the TOKEN_COUNT
budget; without it tokens are estimated as one per 4 characters).

The embedded TissLM and the OpenAI-compatible HTTP client plug in by providing
``model.backend.load_backend()``; until that module exists, asking for a
model is a clear error rather than a silent fallback.
"""

from __future__ import annotations

import importlib
from typing import Protocol

from .errors import RunError

BACKEND_MODULE = "model.backend"


class ModelBackend(Protocol):
    def generate(self, prompt: str, *, system: str | None = None, max_tokens: int = 256) -> str: ...

    def score(self, options: list[str], context: str) -> list[float]: ...


class NoModelConfigured(RunError):
    pass


def load_default_backend() -> ModelBackend:
    """The configured backend, or NoModelConfigured saying how to get one."""
    try:
        module = importlib.import_module(BACKEND_MODULE)
    except ModuleNotFoundError as exc:
        if exc.name not in (BACKEND_MODULE, "model"):
            raise
        raise NoModelConfigured(
            "no language model is configured",
            hint="the embedded TissLM is not installed in this build yet; pass a backend to "
                 "runtime.Session(model=...) or remove PROMPT_AGENT / --choose model") from None
    backend = module.load_backend()
    if backend is None:
        raise NoModelConfigured("no language model is configured",
                                hint="configure a model backend (see docs/runtime.md)")
    return backend


def count_tokens(backend, text: str) -> int:
    counter = getattr(backend, "count_tokens", None)
    if counter is not None:
        return int(counter(text))
    return max(1, (len(text) + 3) // 4) if text else 0
