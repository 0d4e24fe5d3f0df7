"""``search_knowledge``: the knowledge base as a tool, for ``CALL`` and the
agent loop (``@knowledge`` does the same search before every prompt)."""

from __future__ import annotations

from pathlib import Path

from ..context import ToolContext
from ..errors import ToolError
from ..registry import tool
from .store import KnowledgeError, open_base

MAX_K = 50


@tool(source="built-in")
def search_knowledge(query: str, context: ToolContext, k: int = 5, kb: str = "default") -> list[dict]:
    """Search a knowledge base of the workspace (made with `tiss kb add`) for
    the passages that best answer a question; each hit cites its source as
    path:first-last.

    Args:
        query: the question or keywords, e.g. "how to configure the sandbox".
        k: how many passages to return (1 to 50).
        kb: the knowledge base's name (default "default").
    """
    if not 1 <= k <= MAX_K:
        raise ToolError(f"argument 'k' must be between 1 and {MAX_K}, got {k}")
    try:
        with open_base(_workspace_root(context), kb) as base:
            return [hit.to_json() for hit in base.search(query, k)]
    except KnowledgeError as exc:
        raise ToolError(exc.message, hint=exc.hint) from None


def _workspace_root(context: ToolContext) -> Path:
    root = getattr(context.files(), "root", None)
    if root is None:
        raise ToolError("search_knowledge needs the run's workspace folder",
                        hint="call it from a plan (CALL) or the agent loop")
    return Path(root)
