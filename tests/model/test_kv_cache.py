"""The KV cache gives the same logits as a full forward, and left-padded
batches give each row exactly its unbatched logits."""

import numpy as np
import pytest

from model.config import ModelConfig
from model.kv_cache import CacheFullError
from model.model import TissLM


def tiny(**overrides):
    cfg = dict(vocab_size=50, context_length=32, n_layers=2, d_model=32, n_heads=4)
    cfg.update(overrides)
    return TissLM(ModelConfig(**cfg), seed=3)


@pytest.mark.parametrize("overrides", [
    {}, {"n_kv_heads": 2}, {"n_kv_heads": 1},
    {"positions": "learned", "norm": "layernorm", "ffn": "gelu"},
    {"positions": "sinusoidal", "tied_embeddings": True},
])
def test_cached_logits_equal_uncached(overrides):
    model = tiny(dtype="float64", **overrides)
    ids = np.random.default_rng(0).integers(0, 50, (3, 20))
    full = model.forward(ids)
    cache = model.new_cache(3, 32)
    pieces = [model.forward_cached(ids[:, :7], cache)]               # a prompt...
    pieces += [model.forward_cached(ids[:, i:i + 1], cache) for i in range(7, 20)]  # ...then one by one
    np.testing.assert_allclose(np.concatenate(pieces, axis=1), full, rtol=0, atol=1e-12)
    assert cache.length == 20


def test_cached_logits_equal_uncached_float32():
    model = tiny()
    ids = np.random.default_rng(1).integers(0, 50, (2, 16))
    cache = model.new_cache(2, 16)
    steps = [model.forward_cached(ids[:, i:i + 1], cache) for i in range(16)]
    np.testing.assert_allclose(np.concatenate(steps, axis=1), model.forward(ids), atol=2e-5)


def test_cache_is_preallocated_not_regrown():
    model = tiny()
    cache = model.new_cache(1, 10)
    k_buffer, v_buffer = cache.k, cache.v
    for token in range(10):
        model.forward_cached(np.array([[token]]), cache)
    assert cache.k is k_buffer and cache.v is v_buffer
    assert cache.k.shape == (2, 1, 4, 10, 8)
    assert np.abs(cache.k).sum() > 0


@pytest.mark.parametrize("overrides", [{}, {"n_kv_heads": 1, "positions": "learned"}])
def test_left_padded_rows_equal_unbatched(overrides):
    model = tiny(dtype="float64", **overrides)
    rng = np.random.default_rng(2)
    rows = [rng.integers(0, 50, n) for n in (9, 4, 1)]
    width = max(len(r) for r in rows)
    ids = np.zeros((3, width), dtype=np.int64)
    mask = np.zeros((3, width), dtype=bool)
    for i, row in enumerate(rows):
        ids[i, width - len(row):] = row
        mask[i, width - len(row):] = True
    cache = model.new_cache(3, 16)
    prompt_logits = model.forward_cached(ids, cache, pad_mask=mask)
    next_ids = rng.integers(0, 50, (3, 2))
    step1 = model.forward_cached(next_ids[:, :1], cache)
    step2 = model.forward_cached(next_ids[:, 1:], cache)
    for i, row in enumerate(rows):
        alone = model.forward(np.concatenate([row, next_ids[i]])[None])[0]
        np.testing.assert_allclose(prompt_logits[i, width - len(row):], alone[:len(row)], atol=1e-12)
        np.testing.assert_allclose(step1[i, 0], alone[len(row)], atol=1e-12)
        np.testing.assert_allclose(step2[i, 0], alone[len(row) + 1], atol=1e-12)
    # and the uncached forward with a pad mask agrees with the cached one
    np.testing.assert_allclose(model.forward(ids, pad_mask=mask)[mask], prompt_logits[mask], atol=1e-12)


def test_overfilling_the_cache_is_a_clear_error():
    model = tiny()
    cache = model.new_cache(1, 4)
    model.forward_cached(np.zeros((1, 3), dtype=np.int64), cache)
    with pytest.raises(CacheFullError, match="holds 4 tokens"):
        model.forward_cached(np.zeros((1, 2), dtype=np.int64), cache)
    with pytest.raises(ValueError, match="context_length"):
        model.new_cache(1, 64)
