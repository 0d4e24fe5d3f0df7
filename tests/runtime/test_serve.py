"""`tiss serve` (model/server.py) through the official `openai` client, on
loopback, with a tiny TissLM trained in the test session: completions, chat,
streaming, continuous batching that changes no answer, a bounded load test,
429 when the queue is full, clear 400s, and 401 without the key."""

from __future__ import annotations

import json
import threading
import urllib.error
import urllib.request
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager

import openai
import pytest

from model.backend import TissLMBackend
from model.generate import SamplingParams, generate
from model.server import chat_prompt, listen, load_service, uvicorn_server
from tests.waiting import wait_for

NAME = "tiny"


@contextmanager
def serving(service):
    """``service`` on a real uvicorn on 127.0.0.1 (a free port), in a thread."""
    sock = listen("127.0.0.1", 0)
    server = uvicorn_server(service)
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{sock.getsockname()[1]}/v1"
    finally:
        server.should_exit = True
        thread.join(30)
        service.engine.close()


@contextmanager
def engine_held(service):
    """Keep the engine busy between two steps until the block ends, so that
    requests pile up in its queue (what a burst of traffic does)."""
    gate, busy = threading.Event(), threading.Event()
    service.engine.submit(lambda: (busy.set(), gate.wait(60)))
    assert busy.wait(60)
    try:
        yield
    finally:
        gate.set()


@pytest.fixture(scope="module")
def served(model_dir):
    service = load_service(model_dir, name=NAME, max_batch=4, max_queue=8)
    with serving(service) as url:
        yield service, url


@pytest.fixture
def client(served):
    return openai.OpenAI(base_url=served[1], api_key="unused", max_retries=0, timeout=60)


def reference(service, text: str, **params) -> str:
    """What model/generate.py gives for this prompt alone: the server must agree."""
    return generate(service.model, service.tokenizer, [text], SamplingParams(**params))[0].text


def test_models_lists_the_served_model(client, served):
    models = client.models.list().data
    assert [m.id for m in models] == [NAME]


def test_a_completion_is_what_the_model_generates(client, served):
    answer = client.completions.create(model=NAME, prompt="TASK", max_tokens=20, temperature=0)
    assert answer.choices[0].text == reference(served[0], "TASK", max_new_tokens=20, temperature=0)
    assert answer.choices[0].finish_reason == "length"
    assert (answer.usage.prompt_tokens, answer.usage.completion_tokens) == (4, 20)


def test_chat_follows_the_template_the_embedded_backend_uses(client, served, model_dir):
    answer = client.chat.completions.create(
        model=NAME, max_tokens=20, temperature=0,
        messages=[{"role": "system", "content": "Be brief."}, {"role": "user", "content": "hi"}])
    assert chat_prompt([{"role": "system", "content": "S"}, {"role": "user", "content": "U"}]) == "S\n\nU\n"
    embedded = TissLMBackend(model_dir).generate("hi", system="Be brief.", max_tokens=20)
    assert answer.choices[0].message.content == embedded
    assert answer.choices[0].message.role == "assistant"


def test_streaming_sends_the_same_text_in_pieces(client, served):
    params = dict(model=NAME, max_tokens=25, temperature=0.8, seed=3)
    whole = client.chat.completions.create(messages=[{"role": "user", "content": "STEP"}], **params)
    chunks = list(client.chat.completions.create(messages=[{"role": "user", "content": "STEP"}], stream=True,
                                                 stream_options={"include_usage": True}, **params))
    pieces = [c.choices[0].delta.content for c in chunks if c.choices and c.choices[0].delta.content]
    assert len(pieces) > 1
    assert "".join(pieces) == whole.choices[0].message.content
    assert [c.choices[0].finish_reason for c in chunks if c.choices][-1] == "length"
    assert chunks[-1].usage.completion_tokens == 25
    streamed = client.completions.create(model=NAME, prompt="RUN", max_tokens=15, temperature=0, stream=True)
    assert "".join(c.choices[0].text for c in streamed) == reference(served[0], "RUN", max_new_tokens=15,
                                                                     temperature=0)


@pytest.mark.parametrize("temperature", [0.0, 1.0], ids=["greedy", "seeded-sampling"])
def test_batched_requests_get_what_they_get_alone(client, served, temperature):
    service = served[0]
    asks = [dict(prompt=p, seed=i, max_tokens=8 + 3 * i) for i, p in enumerate(["TASK", "STEP", "R", "{", "RUN \""])]
    alone = [client.completions.create(model=NAME, temperature=temperature, **a).choices[0].text for a in asks]
    steps_before = service.engine.steps
    with ThreadPoolExecutor(len(asks)) as pool:
        with engine_held(service):
            futures = [pool.submit(client.completions.create, model=NAME, temperature=temperature, **a)
                       for a in asks]
            wait_for(lambda: service.engine.load()[1] == len(asks), "every request to be queued")
        together = [f.result().choices[0].text for f in futures]
    assert together == alone
    # four slots: the five requests took fewer decode steps than their tokens
    assert service.engine.steps - steps_before < sum(a["max_tokens"] for a in asks) / 2


def test_a_bounded_load_loses_and_corrupts_nothing(client, served):
    service = served[0]
    asks = [dict(prompt=["TASK", "STEP \"", "RUN", "x"][i % 4], seed=i, max_tokens=5 + i % 7,
                 temperature=[0.0, 0.9][i % 2], stream=bool(i % 3 == 0)) for i in range(40)]
    expected = [reference(service, a["prompt"], max_new_tokens=a["max_tokens"],
                          temperature=a["temperature"], seed=a["seed"]) for a in asks]

    def ask(a):
        answer = client.completions.create(model=NAME, **a)
        return "".join(c.choices[0].text for c in answer) if a["stream"] else answer.choices[0].text

    with ThreadPoolExecutor(8) as pool:  # 8 at once: within the 4 slots + 8 waiting
        got = list(pool.map(ask, asks))
    assert got == expected


def test_a_full_queue_answers_429_and_the_queued_requests_still_complete(client, served):
    service = served[0]
    capacity = service.engine.max_batch + service.engine.max_queue
    with ThreadPoolExecutor(capacity) as pool:
        with engine_held(service):
            futures = [pool.submit(client.completions.create, model=NAME, prompt="TASK", max_tokens=3,
                                   temperature=0) for _ in range(capacity)]
            wait_for(lambda: service.engine.load()[1] == capacity, "the queue to fill")
            with pytest.raises(openai.RateLimitError, match="busy"):
                client.completions.create(model=NAME, prompt="TASK", max_tokens=3)
        texts = [f.result().choices[0].text for f in futures]
    assert texts == [reference(service, "TASK", max_new_tokens=3, temperature=0)] * capacity


@pytest.mark.parametrize("body, status, says", [
    ({"prompt": "x", "temperature": 3}, 400, "temperature must be in [0.0, 2.0]"),
    ({"prompt": "x", "n": 2}, 400, "n must be 1"),
    ({"prompt": "x", "max_tokens": "ten"}, 400, "max_tokens must be an integer"),
    ({"prompt": "x", "stop": ["a", ""]}, 400, "stop must be"),
    ({"prompt": "x", "logit_bias": {"1": 5}}, 400, "logit_bias is not supported"),
    ({"prompt": 5}, 400, "prompt must be a string"),
    ({"prompt": "x" * 60}, 400, "the model's context is 48"),
    ({}, 400, "prompt is required"),
    ({"prompt": "x", "model": "gpt-9"}, 404, "'gpt-9' does not exist; this server has 'tiny'"),
])
def test_a_bad_completion_request_is_a_clear_error(served, body, status, says):
    code, answer = post(served[1] + "/completions", {"model": NAME, **body})
    assert code == status
    assert says in answer["error"]["message"]


@pytest.mark.parametrize("messages, says", [
    ([], "messages must be a non-empty list"),
    ([{"role": "robot", "content": "x"}], "messages[0].role is 'robot'"),
    ([{"role": "user", "content": [{"type": "image_url"}]}], "TissLM reads text only"),
])
def test_a_bad_chat_request_is_a_clear_error(served, messages, says):
    code, answer = post(served[1] + "/chat/completions", {"model": NAME, "messages": messages})
    assert code == 400 and says in answer["error"]["message"]
    assert answer["error"]["param"].startswith("messages")


def test_a_body_that_is_not_json_is_a_400(served):
    code, answer = post(served[1] + "/completions", b"{nope")
    assert (code, answer["error"]["message"]) == (400, "the body is not valid JSON")


def test_echo_with_logprobs_scores_the_prompt(client, served):
    answer = client.completions.create(model=NAME, prompt="TASK x", max_tokens=0, echo=True, logprobs=0)
    logprobs = answer.choices[0].logprobs
    assert answer.choices[0].text == "TASK x"
    assert logprobs.tokens == list("TASK x") and logprobs.text_offset == list(range(6))
    assert logprobs.token_logprobs[0] is None and all(lp < 0 for lp in logprobs.token_logprobs[1:])


def post(url: str, body) -> tuple[int, dict]:
    data = body if isinstance(body, bytes) else json.dumps(body).encode()
    request = urllib.request.Request(url, data=data, headers={"Content-Type": "application/json"})
    try:
        with urllib.request.urlopen(request, timeout=60) as response:
            return response.status, json.load(response)
    except urllib.error.HTTPError as exc:
        return exc.code, json.load(exc)
