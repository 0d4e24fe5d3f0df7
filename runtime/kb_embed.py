"""TissLM's own embeddings for dense retrieval (``tiss kb add --dense``).

A text's vector is the mean of the model's final hidden states (after the
last norm) over its tokens, truncated to the context length. The knowledge
base (tools/knowledge) imports no model: the runtime builds this embedder and
hands it in. Whether it helps is measured by bench/knowledge.py; the figures
are in docs/knowledge.md.
"""

from __future__ import annotations

import hashlib
from pathlib import Path
from typing import Sequence

import numpy as np

from model.checkpoint import WEIGHTS, load_model, load_model_tokenizer
from model.threads import one_blas_thread
from tools.knowledge import KnowledgeError


class TissLMEmbedder:
    """Mean-pooled hidden states of a loaded TissLM."""

    def __init__(self, model, tokenizer, name: str, max_tokens: int | None = None):
        self.model, self.tokenizer, self.name = model, tokenizer, name
        self.max_tokens = min(max_tokens or model.cfg.context_length, model.cfg.context_length)

    @classmethod
    def from_directory(cls, path, max_tokens: int | None = None) -> "TissLMEmbedder":
        model, directory = load_model(path)
        return cls(model, load_model_tokenizer(directory), _model_name(Path(directory)), max_tokens)

    def embed(self, texts: Sequence[str]) -> np.ndarray:
        net = self.model.net
        rows = np.zeros((len(texts), self.model.cfg.d_model), dtype=np.float32)
        with one_blas_thread():
            for i, text in enumerate(texts):
                ids = self.tokenizer.encode(text)[: self.max_tokens] or [0]
                net.logits(np.asarray([ids]), keep=True)      # keeps the final hidden rows h
                hidden = net.saved[1]
                net.saved = None
                rows[i] = hidden.mean(axis=0)
        return rows


def default_embedder(config=None) -> TissLMEmbedder:
    """The embedder of the configured TissLM (``model: {path: …}``)."""
    from .models import load_default_backend

    try:
        backend = load_default_backend(config)
    except Exception as exc:
        raise KnowledgeError(f"dense retrieval needs a TissLM: {getattr(exc, 'message', exc)}",
                             getattr(exc, "hint", None)) from None
    model, tokenizer = getattr(backend, "model", None), getattr(backend, "tokenizer", None)
    if model is None or tokenizer is None or not hasattr(model, "net"):
        raise KnowledgeError("dense retrieval needs the embedded TissLM backend (model.backend: tisslm)",
                             "search without --dense, or configure model.backend: tisslm")
    return TissLMEmbedder(model, tokenizer, _model_name(Path(backend.directory)))


def _model_name(directory: Path) -> str:
    """Names the weights, so vectors are never compared across models."""
    weights = directory / WEIGHTS
    digest = hashlib.sha256(weights.read_bytes()).hexdigest()[:16] if weights.is_file() else directory.name
    return f"tisslm:{digest}"
