"""Dense retrieval with a real (tiny) TissLM: ``tiss kb add --dense`` stores
its mean-pooled hidden states, search fuses them with BM25, and a plan's
``@knowledge`` uses the run's own model for the query."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import numpy as np

from runtime.kb_embed import TissLMEmbedder
from runtime.models import load_backend

from .conftest import events_of

TISS = [sys.executable, "-m", "runtime.cli"]


def write_docs(folder):
    folder.mkdir()
    (folder / "a.md").write_text("# Alpha\n\nThe alpha release ships on Monday.\n\n## Beta\n\nBeta follows.\n")
    (folder / "b.md").write_text("# Gamma\n\nGamma rays are not software.\n")


def test_embeddings_are_mean_pooled_hidden_states(model_dir):
    embedder = TissLMEmbedder.from_directory(model_dir)
    vectors = embedder.embed(["RUN echo hi", "RUN echo hi", "STEP one", ""])
    assert vectors.shape == (4, embedder.model.cfg.d_model) and vectors.dtype == np.float32
    assert np.array_equal(vectors[0], vectors[1]) and not np.array_equal(vectors[0], vectors[2])
    assert np.isfinite(vectors).all()
    assert embedder.name.startswith("tisslm:") and embedder.name == TissLMEmbedder.from_directory(model_dir).name


def test_tiss_kb_add_dense_then_hybrid_search(tmp_path, model_dir):
    write_docs(tmp_path / "docs")
    config = tmp_path / "config.yaml"
    config.write_text(f"model:\n  path: {model_dir}\n")
    env = {**os.environ, "TISS_CONFIG": str(config)}

    def tiss(*args):
        return subprocess.run([*TISS, "kb", *args], cwd=tmp_path, env=env, capture_output=True,
                              text=True, timeout=120)

    added = tiss("add", "--dense", "docs")
    assert added.returncode == 0, added.stderr
    stats = json.loads(tiss("stats", "--json").stdout)
    assert stats["vectors"] == stats["chunks"] == 3 and stats["embedder"].startswith("tisslm:")
    hybrid = json.loads(tiss("search", "ships on monday", "--json").stdout)
    assert hybrid["hits"][0]["source"] == "docs/a.md:1-3"
    assert len(hybrid["hits"]) == 3                     # dense ranks every passage
    bm25 = json.loads(tiss("search", "ships on monday", "--mode", "bm25", "--json").stdout)
    assert [h["source"] for h in bm25["hits"]] == ["docs/a.md:1-3"]
    refused = tiss("add", "--dense", "docs", "--kb", "other")
    assert refused.returncode == 0
    plain = tiss("add", "docs", "--kb", "plain")
    assert plain.returncode == 0
    upgrade = tiss("add", "--dense", "docs", "--kb", "plain")
    assert upgrade.returncode == 2 and "already has files without vectors" in upgrade.stderr


def test_knowledge_directive_uses_the_runs_model_for_a_dense_base(run, model_dir):
    from tools.knowledge import open_base

    write_docs(run.workspace / "docs")
    embedder = TissLMEmbedder.from_directory(model_dir)
    with open_base(run.workspace, "docs", create=True) as base:
        base.add([str(run.workspace / "docs")], embedder=embedder)
    backend = load_backend("tisslm", {"path": str(model_dir)})
    outcome = run('''
        @knowledge "docs"
        PROMPT_AGENT "which day: monday?"
        ''', model=backend)
    assert outcome.status == "succeeded", outcome.error
    sources = [e for e in events_of(outcome) if e.get("stmt") == "PromptAgent"][0]["knowledge"]
    assert sources[0] == "docs/a.md:1-3" and len(sources) == 3     # hybrid: dense adds the rest
