"""Knowledge bases: documents cut into passages, indexed in SQLite (FTS5,
BM25, optional dense vectors), searched by ``tiss kb``, by ``@knowledge`` and
by the ``search_knowledge`` tool (docs/knowledge.md). Imports no model or runtime:
an embedder is passed in by the caller; only tisslang's naming rule is shared."""

from .chunking import Chunk, ChunkConfig, chunk_text
from .store import (AddReport, Hit, KnowledgeBase, KnowledgeError, base_names, base_path,
                    match_expression, open_base, reciprocal_rank_fusion)

__all__ = ["AddReport", "Chunk", "ChunkConfig", "Hit", "KnowledgeBase", "KnowledgeError",
           "base_names", "base_path", "chunk_text", "match_expression", "open_base",
           "reciprocal_rank_fusion"]
