"""Sampling rules, the KV-cache loop, batched prompts with left padding, stop conditions."""

import numpy as np
import pytest

from model.config import ModelConfig
from model.data import ByteTokenizer
from model.generate import (GenerationError, SamplingParams, generate, generate_ids,
                            pick_token)
from model.model import TissLM

SAMPLED = SamplingParams(max_new_tokens=12, temperature=0.9, top_k=20, top_p=0.9,
                         repetition_penalty=1.3, seed=4)
GREEDY = SamplingParams(max_new_tokens=12, temperature=0.0)


def sharp_model(**overrides) -> TissLM:
    """A small random model whose weights are scaled up so its next-token
    distributions are peaked: near-uniform logits would let float rounding,
    not the code, decide which token wins."""
    config = ModelConfig(**{"vocab_size": 64, "context_length": 32, "n_layers": 2,
                            "d_model": 32, "n_heads": 4, **overrides})
    model = TissLM(config, seed=3)
    for p in model.params.values():
        if p.ndim == 2:
            p *= 6.0
    return model


PROMPTS = [[5, 9, 2], [7, 1, 1, 30, 4, 8, 8, 12, 60], [3]]


# --- pick_token ---------------------------------------------------------------


def test_greedy_is_the_argmax():
    logits = np.array([0.1, 2.0, -1.0, 1.9])
    assert pick_token(logits, [], GREEDY, np.random.default_rng()) == 1


def test_sampling_follows_the_softmax():
    logits = np.log(np.array([0.1, 0.2, 0.3, 0.4]))
    rng = np.random.default_rng(0)
    draws = [pick_token(logits, [], SamplingParams(temperature=1.0), rng) for _ in range(20000)]
    freq = np.bincount(draws, minlength=4) / len(draws)
    np.testing.assert_allclose(freq, [0.1, 0.2, 0.3, 0.4], atol=0.015)


def test_low_temperature_sharpens_and_high_flattens():
    logits = np.log(np.array([0.2, 0.8]))
    rng = np.random.default_rng(1)

    def share_of_best(t):
        return np.mean([pick_token(logits, [], SamplingParams(temperature=t), rng)
                        for _ in range(4000)])

    assert share_of_best(0.25) > 0.98
    assert 0.45 < share_of_best(50.0) < 0.6


def test_top_k_only_draws_from_the_k_best():
    logits = np.array([3.0, 2.9, 2.8, 0.0, 0.1, 2.7])
    rng = np.random.default_rng(0)
    drawn = {pick_token(logits, [], SamplingParams(top_k=3), rng) for _ in range(2000)}
    assert drawn == {0, 1, 2}


def test_top_p_keeps_the_smallest_set_reaching_p():
    probs = np.array([0.5, 0.3, 0.15, 0.05])
    rng = np.random.default_rng(0)
    params = SamplingParams(top_p=0.75)  # 0.5 alone < 0.75, 0.5 + 0.3 reaches it
    drawn = [pick_token(np.log(probs), [], params, rng) for _ in range(4000)]
    assert set(drawn) == {0, 1}
    assert abs(np.mean(drawn) - 0.3 / 0.8) < 0.03
    assert {pick_token(np.log(probs), [], SamplingParams(top_p=0.01), rng)
            for _ in range(200)} == {0}


def test_repetition_penalty_steers_away_from_seen_tokens():
    logits = np.array([2.0, 1.5, -0.5, -0.6])
    params = SamplingParams(temperature=0.0, repetition_penalty=2.0)
    rng = np.random.default_rng()
    assert pick_token(logits, [0], params, rng) == 1      # 2.0 / 2 = 1.0 < 1.5
    assert pick_token(logits, [0, 1], params, rng) == 0   # 1.0 > 0.75
    # a negative logit is multiplied, so it also becomes less likely
    assert pick_token(np.array([-0.5, -0.6]), [0], params, rng) == 1
    assert pick_token(logits, [0], GREEDY, rng) == 0      # penalty 1.0 is off


def test_bad_settings_are_refused():
    for bad in ({"temperature": -1}, {"top_k": 0}, {"top_p": 1.5}, {"repetition_penalty": 0},
                {"max_new_tokens": -2}):
        with pytest.raises(GenerationError):
            SamplingParams(**bad)


# --- the loop -----------------------------------------------------------------


@pytest.mark.parametrize("overrides", [
    {}, {"positions": "learned"}, {"positions": "sinusoidal"}, {"n_kv_heads": 1},
    {"n_kv_heads": 2, "norm": "layernorm", "ffn": "gelu", "tied_embeddings": True},
])
def test_cached_and_uncached_generation_give_identical_tokens(overrides):
    model = sharp_model(**overrides)
    for params in (GREEDY, SAMPLED):
        cached, _ = generate_ids(model, [PROMPTS[1]], params, use_cache=True)
        uncached, _ = generate_ids(model, [PROMPTS[1]], params, use_cache=False)
        assert len(cached[0]) == 12
        assert cached == uncached


@pytest.mark.parametrize("overrides", [{}, {"positions": "learned"}, {"n_kv_heads": 2}])
def test_each_row_of_a_padded_batch_equals_its_unbatched_result(overrides):
    model = sharp_model(**overrides)
    for params in (GREEDY, SAMPLED):
        batched, _ = generate_ids(model, PROMPTS, params)
        alone = [generate_ids(model, [p], params)[0][0] for p in PROMPTS]
        assert batched == alone
        assert len({tuple(row) for row in batched}) == 3  # the rows really differ


def test_a_batch_without_cache_matches_the_cached_batch():
    model = sharp_model()
    assert generate_ids(model, PROMPTS, SAMPLED, use_cache=False) == \
        generate_ids(model, PROMPTS, SAMPLED)


def test_the_seed_makes_sampling_reproducible():
    model = sharp_model()
    hot = SamplingParams(max_new_tokens=20, temperature=1.5, seed=1)
    first, _ = generate_ids(model, [PROMPTS[0]], hot)
    assert generate_ids(model, [PROMPTS[0]], hot)[0] == first
    other = SamplingParams(max_new_tokens=20, temperature=1.5, seed=2)
    assert generate_ids(model, [PROMPTS[0]], other)[0] != first


def test_per_row_seeds():
    model = sharp_model()
    hot = SamplingParams(max_new_tokens=15, temperature=1.5, seed=[1, 2])
    rows, _ = generate_ids(model, [PROMPTS[0], PROMPTS[0]], hot)
    assert rows[0] != rows[1]
    alone = SamplingParams(max_new_tokens=15, temperature=1.5, seed=2)
    assert generate_ids(model, [PROMPTS[0]], alone)[0][0] == rows[1]


def test_eos_stops_a_row_without_being_returned():
    model = sharp_model()
    full, _ = generate_ids(model, [PROMPTS[0]], GREEDY)
    eos = full[0][4]
    first = full[0].index(eos)
    ids, reasons = generate_ids(model, [PROMPTS[0], PROMPTS[1]], GREEDY, eos_id=eos)
    assert ids[0] == full[0][:first] and reasons[0] == "stop"


def test_generation_stops_when_the_context_is_full():
    model = sharp_model()
    ids, reasons = generate_ids(model, [list(range(1, 30))], SamplingParams(max_new_tokens=10,
                                                                              temperature=0))
    assert len(ids[0]) == 3 and reasons == ["length"]


def test_bad_prompts_are_clear_errors():
    model = sharp_model()
    with pytest.raises(GenerationError, match="prompt 1 is empty"):
        generate_ids(model, [[1], []], GREEDY)
    with pytest.raises(GenerationError, match="prompt 0 has 32 tokens but the model's context is 32"):
        generate_ids(model, [list(range(32))], GREEDY)
    with pytest.raises(GenerationError, match="2 seeds for 1 prompts"):
        generate_ids(model, [[1]], SamplingParams(seed=[1, 2]))


def test_stop_strings_cut_the_text():
    model = sharp_model(vocab_size=256)
    tok = ByteTokenizer()
    params = SamplingParams(max_new_tokens=20, temperature=0.0)
    [free] = generate(model, tok, ["Hello"], params)
    assert len(free.token_ids) == 20 and free.finish_reason == "length"
    stop = free.text[6:8]
    cut = free.text.index(stop)
    [stopped] = generate(model, tok, ["Hello"], SamplingParams(max_new_tokens=20,
                                                               temperature=0.0, stop=[stop]))
    assert stopped.text == free.text[:cut]
    assert stopped.finish_reason == "stop"
    assert stopped.token_ids == free.token_ids[:len(stopped.token_ids)]
    assert len(stopped.token_ids) < 20


def test_zero_new_tokens():
    assert generate_ids(sharp_model(), [[1, 2]], SamplingParams(max_new_tokens=0)) == ([[]], ["length"])


def test_no_prompts_no_work():
    assert generate_ids(sharp_model(), [], GREEDY) == ([], [])


def test_a_short_row_runs_on_after_a_long_row_fills_the_context():
    model = sharp_model()
    prompts = [[4, 2], list(range(1, 26))]  # context 32: the long row has room for 7 tokens
    params = SamplingParams(max_new_tokens=20, temperature=0.0)
    batched, reasons = generate_ids(model, prompts, params)
    assert [len(row) for row in batched] == [20, 7] and reasons == ["length", "length"]
    assert batched == [generate_ids(model, [p], params)[0][0] for p in prompts]
