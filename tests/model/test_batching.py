"""Continuous batching (model/batching.py): requests that join and leave a
running batch get exactly the tokens they get alone; the queue is bounded."""

import threading

import pytest

from model.batching import BatchEngine, QueueFull, Request, prompt_logprobs
from model.data import ByteTokenizer
from model.generate import SamplingParams, generate_ids
from tests.model.test_generate import sharp_model

PROMPTS = [list(b"TASK "), list(b"STEP \"a\" {\n"), list(b"R"), list(b"RUN \"echo hi\" AS x\n  ")]
GREEDY = dict(temperature=0.0)
SAMPLED = dict(temperature=0.9, top_k=40, top_p=0.95, repetition_penalty=1.2)


class Collected:
    """A request's events, and a way to wait for its end."""

    def __init__(self):
        self.deltas, self.result, self.error = [], None, None
        self.finished = threading.Event()

    def __call__(self, kind, payload):
        if kind == "delta":
            self.deltas.append(payload)
        else:
            self.result, self.error = (payload, None) if kind == "done" else (None, payload)
            self.finished.set()

    def wait(self):
        assert self.finished.wait(60), "the engine never finished the request"
        assert self.error is None, self.error
        return self.result


@pytest.fixture
def model():
    return sharp_model(vocab_size=256, context_length=64)


def engine_for(model, **options):
    engine = BatchEngine(model, ByteTokenizer(), **options)
    return engine


def submit(engine, prompt, **params):
    out = Collected()
    engine.submit(Request(list(prompt), SamplingParams(**params), out))
    return out


def alone(model, prompt, **params):
    """The reference: model/generate.py's loop on this prompt only."""
    ids, reasons = generate_ids(model, [list(prompt)], SamplingParams(**params))
    return ids[0], reasons[0]


@pytest.mark.parametrize("sampling", [GREEDY, SAMPLED], ids=["greedy", "seeded-sampling"])
def test_every_request_gets_its_lone_tokens_while_others_join_and_leave(model, sampling):
    engine = engine_for(model, max_batch=3, max_queue=20)
    try:
        # more requests than slots, of different lengths: rows join as others leave
        jobs = [(prompt, dict(sampling, max_new_tokens=5 + 7 * (i % 3), seed=i))
                for i, prompt in enumerate(PROMPTS * 3)]
        outs = [submit(engine, prompt, **params) for prompt, params in jobs]
        results = [out.wait() for out in outs]
    finally:
        engine.close()
    for (prompt, params), result, out in zip(jobs, results, outs):
        ids, reason = alone(model, prompt, **params)
        assert result.token_ids == ids
        assert result.finish_reason == reason == "length"
        assert result.text == "".join(out.deltas) == ByteTokenizer().decode(ids)
        assert result.prompt_tokens == len(prompt)
    total = sum(len(r.token_ids) for r in results)
    assert engine.steps < total / 2  # many rows per forward pass, not one each


def test_one_at_a_time_gives_the_same_tokens(model):
    engine = engine_for(model, max_batch=1, max_queue=10)
    try:
        outs = [submit(engine, p, max_new_tokens=9, seed=7, **SAMPLED) for p in PROMPTS]
        results = [out.wait() for out in outs]
    finally:
        engine.close()
    assert [r.token_ids for r in results] == [alone(model, p, max_new_tokens=9, seed=7, **SAMPLED)[0]
                                              for p in PROMPTS]
    assert engine.steps == sum(len(r.token_ids) - 1 for r in results)  # the first comes from the prefill


def test_a_stop_string_ends_the_request_and_is_never_streamed(model):
    free = alone(model, PROMPTS[1], max_new_tokens=30, **GREEDY)[0]
    text = ByteTokenizer().decode(free)
    stop = text[6:8]  # two characters the free run produces
    engine = engine_for(model)
    try:
        result = (out := submit(engine, PROMPTS[1], max_new_tokens=30, stop=[stop], **GREEDY)).wait()
    finally:
        engine.close()
    assert result.text == text[:text.find(stop)]
    assert result.finish_reason == "stop"
    assert "".join(out.deltas) == result.text


def test_the_context_limits_the_tokens(model):
    engine = engine_for(model)
    try:
        result = submit(engine, [1] * 60, max_new_tokens=50, **GREEDY).wait()
    finally:
        engine.close()
    assert len(result.token_ids) == 4 and result.finish_reason == "length"


def test_the_queue_is_bounded_and_refuses_more(model):
    engine = engine_for(model, max_batch=2, max_queue=1)
    gate, busy = threading.Event(), threading.Event()
    try:
        engine.submit(lambda: (busy.set(), gate.wait(60)))  # holds the engine between steps
        assert busy.wait(60)
        outs = [submit(engine, PROMPTS[0], max_new_tokens=3, **GREEDY) for _ in range(3)]
        with pytest.raises(QueueFull, match="waiting"):
            submit(engine, PROMPTS[0], max_new_tokens=3, **GREEDY)
        gate.set()
        assert all(len(out.wait().token_ids) == 3 for out in outs)
        submit(engine, PROMPTS[0], max_new_tokens=3, **GREEDY).wait()  # room again
    finally:
        gate.set()
        engine.close()


def test_a_cancelled_request_leaves_and_the_others_go_on(model):
    engine = engine_for(model, max_batch=4)
    gate, busy = threading.Event(), threading.Event()
    try:
        engine.submit(lambda: (busy.set(), gate.wait(60)))
        assert busy.wait(60)
        gone = Request(PROMPTS[0], SamplingParams(max_new_tokens=20, **GREEDY), Collected())
        engine.submit(gone)
        kept = submit(engine, PROMPTS[2], max_new_tokens=20, **GREEDY)
        gone.cancelled = True
        gate.set()
        assert kept.wait().token_ids == alone(model, PROMPTS[2], max_new_tokens=20, **GREEDY)[0]
    finally:
        gate.set()
        engine.close()
    assert not gone.on_event.finished.is_set()


def test_prompt_logprobs_are_the_models_next_token_logprobs(model):
    import numpy as np

    from model.loss import log_softmax

    ids = PROMPTS[3]
    logp = log_softmax(model.forward(np.asarray([ids]))[0].astype(np.float64))
    got = prompt_logprobs(model, ids)
    assert got[0] is None
    np.testing.assert_allclose(got[1:], [logp[i - 1, ids[i]] for i in range(1, len(ids))])


def test_a_request_that_fails_is_told_and_the_engine_goes_on(model):
    engine = engine_for(model, max_batch=2)
    try:
        bad = submit(engine, [1, 999], max_new_tokens=3, **GREEDY)  # 999: not in the vocabulary
        assert bad.finished.wait(60) and "outside the vocabulary" in bad.error
        assert submit(engine, PROMPTS[0], max_new_tokens=3, **GREEDY).wait().token_ids == \
            alone(model, PROMPTS[0], max_new_tokens=3, **GREEDY)[0]
    finally:
        engine.close()


def hold(engine):
    """Keep the engine busy with a job (run between steps) until the returned
    event is set: whatever is submitted meanwhile waits together."""
    gate, busy = threading.Event(), threading.Event()
    engine.submit(lambda: (busy.set(), gate.wait(60)))
    assert busy.wait(60)
    return gate


@pytest.mark.parametrize("sampling", [GREEDY, SAMPLED], ids=["greedy", "seeded-sampling"])
def test_prompts_that_wait_together_are_prefilled_in_one_pass_with_their_lone_tokens(model, sampling):
    engine = engine_for(model, max_batch=8)
    try:
        gate = hold(engine)
        jobs = [(prompt, dict(sampling, max_new_tokens=12, seed=i)) for i, prompt in enumerate(PROMPTS)]
        outs = [submit(engine, prompt, **params) for prompt, params in jobs]  # 4 lengths: padded
        gate.set()
        results = [out.wait() for out in outs]
    finally:
        engine.close()
    assert engine.prompt_passes == 1
    for (prompt, params), result in zip(jobs, results):
        assert result.token_ids == alone(model, prompt, **params)[0]


def test_a_bad_prompt_in_a_shared_prefill_fails_alone(model):
    engine = engine_for(model, max_batch=4)
    try:
        gate = hold(engine)
        good = submit(engine, PROMPTS[3], max_new_tokens=6, **GREEDY)
        bad = submit(engine, [1, 999], max_new_tokens=3, **GREEDY)  # 999: not in the vocabulary
        also_good = submit(engine, PROMPTS[0], max_new_tokens=6, **GREEDY)
        gate.set()
        assert bad.finished.wait(60) and "outside the vocabulary" in bad.error
        assert good.wait().token_ids == alone(model, PROMPTS[3], max_new_tokens=6, **GREEDY)[0]
        assert also_good.wait().token_ids == alone(model, PROMPTS[0], max_new_tokens=6, **GREEDY)[0]
    finally:
        engine.close()


def test_a_request_that_is_not_streamed_gets_no_deltas_and_all_its_text(model):
    engine = engine_for(model)
    try:
        out = Collected()
        engine.submit(Request(list(PROMPTS[1]), SamplingParams(max_new_tokens=20, **SAMPLED), out,
                              stream=False))
        result = out.wait()
    finally:
        engine.close()
    ids = alone(model, PROMPTS[1], max_new_tokens=20, **SAMPLED)[0]
    assert out.deltas == []
    assert result.token_ids == ids and result.text == ByteTokenizer().decode(ids)


def test_rows_sampled_together_get_the_tokens_they_get_alone():
    import numpy as np

    from model.generate import pick_token, pick_tokens

    rng = np.random.default_rng(3)
    logits = rng.standard_normal((6, 300)).astype(np.float32) * 3
    settings = [SamplingParams(temperature=0.0), SamplingParams(temperature=0.7, top_k=5),
                SamplingParams(top_p=0.6), SamplingParams(temperature=1.3, top_k=40, top_p=0.9),
                SamplingParams(repetition_penalty=1.5, top_k=5), SamplingParams(top_k=5, seed=1)]
    histories = [[1, 2], [], [7, 7, 8], [], list(range(0, 300, 3)), []]
    together = [np.random.default_rng(100 + i) for i in range(6)]
    apart = [np.random.default_rng(100 + i) for i in range(6)]
    for _ in range(20):  # the generators move on: 20 draws each
        rows = pick_tokens(logits, histories, settings, together)
        assert list(rows) == [pick_token(logits[i], histories[i], settings[i], apart[i]) for i in range(6)]
