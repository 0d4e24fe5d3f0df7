"""Properties of single layers that the gradient check cannot see."""

import numpy as np
import pytest

from model.allocator import keep_freed_memory
from model.dropout import dropout_mask
from model.positions import RotaryEmbedding, apply_rope, apply_rope_backward, sinusoidal_table
from model.threads import ThreadChooser, in_parallel


def test_rope_is_a_rotation_that_encodes_relative_position():
    rope = RotaryEmbedding(head_dim=8, context_length=64, base=10000.0, dtype=np.float64)
    rng = np.random.default_rng(0)
    q, k = rng.standard_normal((2, 8))

    def at(vec, pos):
        return apply_rope(vec[None, None, None, :].copy(), rope.tables(pos + 1, None)[pos:pos + 1])[0, 0, 0]

    assert np.linalg.norm(at(q, 17)) == pytest.approx(np.linalg.norm(q))
    # the score of (query at p, key at p - 3) is the same wherever p is
    scores = [at(q, p) @ at(k, p - 3) for p in (3, 10, 40)]
    assert scores == pytest.approx([scores[0]] * 3)
    assert at(q, 5) @ at(k, 2) != pytest.approx(at(q, 5) @ at(k, 4))
    # the backward (rotation by -angle) undoes the forward
    x = rng.standard_normal((2, 6, 3, 8))
    table = rope.tables(6, None)
    np.testing.assert_allclose(apply_rope_backward(apply_rope(x, table), table), x, atol=1e-12)


def test_rope_with_explicit_positions_matches_plain_positions():
    rope = RotaryEmbedding(head_dim=4, context_length=16, base=10000.0, dtype=np.float32)
    x = np.random.default_rng(1).standard_normal((2, 5, 3, 4)).astype(np.float32)
    positions = np.tile(np.arange(5), (2, 1))
    np.testing.assert_array_equal(apply_rope(x, rope.tables(5, positions)),
                                  apply_rope(x, rope.tables(5, None)))


def test_sinusoidal_table_follows_the_paper():
    table = sinusoidal_table(50, 8, np.float64)
    p = np.arange(50)
    np.testing.assert_allclose(table[:, 0], np.sin(p))
    np.testing.assert_allclose(table[:, 1], np.cos(p))
    np.testing.assert_allclose(table[:, 6], np.sin(p / 10000 ** (6 / 8)))


def test_dropout_mask_drops_about_p_and_keeps_the_mean():
    mask = dropout_mask((400, 500), 0.25, np.random.default_rng(0), np.float32)
    assert mask.dtype == np.float32
    assert set(np.unique(mask)) == {0.0, np.float32(1 / 0.75)}
    assert (mask == 0).mean() == pytest.approx(0.25, abs=0.01)
    assert mask.mean() == pytest.approx(1.0, abs=0.01)


def test_a_model_puts_numpys_blas_on_one_thread():
    from threadpoolctl import threadpool_info

    from model.config import ModelConfig
    from model.model import TissLM

    TissLM(ModelConfig(vocab_size=20, context_length=8, n_layers=1, d_model=8, n_heads=2))
    blas = [lib for lib in threadpool_info() if lib["user_api"] == "blas"]
    assert blas, "threadpoolctl found no BLAS library behind NumPy"
    assert all(lib["num_threads"] == 1 for lib in blas)


def test_in_parallel_runs_every_item_once():
    seen = []
    in_parallel(lambda i: seen.append(i), 5, workers=2)
    assert sorted(seen) == [0, 1, 2, 3, 4]
    with pytest.raises(ZeroDivisionError):
        in_parallel(lambda i: 1 / (i - 1), 3, workers=2)   # a worker's error reaches the caller


def test_malloc_thresholds_are_accepted_on_glibc():
    assert keep_freed_memory() is True


def test_thread_chooser_keeps_the_faster_count_and_rechecks():
    chooser = ThreadChooser(probes=3, recheck_every=10)
    chooser.candidates = [1, 2]          # as on a 2-core machine
    step_seconds = {1: 0.1, 2: 0.5}      # a busy machine: one thread wins
    ran = []
    for _ in range(10):
        ran.append(chooser.begin_step())
        chooser.end_step(step_seconds[chooser.workers])
    assert ran[:6] == [1, 2, 1, 2, 1, 2] and ran[6:] == [1] * 4
    assert chooser.chosen == 1
    step_seconds = {1: 0.5, 2: 0.1}      # the machine got quiet: the next check switches
    for _ in range(7):
        chooser.begin_step()
        chooser.end_step(step_seconds[chooser.workers])
    assert chooser.chosen == 2


def test_training_results_do_not_depend_on_the_thread_count():
    from model.config import ModelConfig
    from model.model import TissLM

    cfg = ModelConfig(vocab_size=20, context_length=8, n_layers=2, d_model=16, n_heads=2,
                      dropout=0.1)
    ids = np.random.default_rng(0).integers(0, 20, (4, 8))
    results = []
    for workers in (1, 2):
        model = TissLM(cfg, seed=0)
        model.threads.candidates = [workers]
        model.threads.chosen = workers
        loss = model.loss(ids, ids, rng=np.random.default_rng(5))
        model.backward()
        results.append((loss, {k: g.copy() for k, g in model.grads.items()}))
    assert results[0][0] == results[1][0]
    for name, grad in results[0][1].items():
        assert np.array_equal(grad, results[1][1][name]), name
