"""``@knowledge "name"``: every PROMPT_AGENT in scope first retrieves the top
passages of that knowledge base and puts them, each with its source
(``path:first-last``), before the prompt (docs/knowledge.md)."""

from __future__ import annotations

from pathlib import Path

from tools.knowledge import Hit, KnowledgeError, open_base

from .errors import RunError

PASSAGES = 3              # how many passages go before a prompt
PASSAGE_CHARS = 800       # each one cut to this (a small model's context is short)


def ground(prompt: str, workspace: Path, name, line: int, backend=None) -> tuple[str, list[str]]:
    """The prompt with the passages before it, and their sources (for the
    journal). A missing base is the step's error; a prompt with no words to
    search for gets no passages."""
    if not isinstance(name, str):
        raise RunError(f"@knowledge needs the name of a knowledge base, not {name!r}", line,
                       hint='for example: @knowledge "docs"')
    try:
        base = open_base(workspace, name)
    except KnowledgeError as exc:
        raise RunError(f"@knowledge {name!r}: {exc.message}", line, hint=exc.hint) from None
    with base:
        try:
            hits = base.search(prompt, PASSAGES, embedder=_embedder(base, backend))
        except KnowledgeError:   # nothing to search for in this prompt
            return prompt, []
    if not hits:
        return prompt, []
    return grounded_text(prompt, name, hits), [hit.source for hit in hits]


def grounded_text(prompt: str, name: str, hits: list[Hit]) -> str:
    parts = [f'Passages from the knowledge base "{name}" (cite them by source):']
    for number, hit in enumerate(hits, start=1):
        heading = f" ({hit.heading})" if hit.heading else ""
        text = hit.text if len(hit.text) <= PASSAGE_CHARS else hit.text[:PASSAGE_CHARS] + " …"
        parts.append(f"[{number}] {hit.source}{heading}\n{text}")
    parts.append(prompt)
    return "\n\n".join(parts)


def _embedder(base, backend):
    """TissLM's embedder when the base has vectors from this very model."""
    if not base.embedder_name or backend is None or not hasattr(backend, "tokenizer"):
        return None
    from .kb_embed import TissLMEmbedder, _model_name

    directory = getattr(backend, "directory", None)
    if directory is None or _model_name(Path(directory)) != base.embedder_name:
        return None
    return TissLMEmbedder(backend.model, backend.tokenizer, base.embedder_name)
