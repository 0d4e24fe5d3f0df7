"""Continuous batching: many generation requests decoded together, each as if alone.

``tiss serve`` (model/server.py) hands every request to one ``BatchEngine``.
Its thread runs a loop:

1. admit waiting requests while a slot is free: the prompts waiting together
   go through the model in one forward pass (the *prefill*, left-padded to the
   longest, pads masked out), their keys/values are copied into free rows of
   the ``SlotCache``, and each picks its first token;
2. one *decode step* feeds the last token of every active request through the
   model at once: one batched forward pass over the cache;
3. every row picks its next token in one call (``model.generate.pick_tokens``:
   array operations over all rows, each row with its own settings and seeded
   generator), and a request leaves as soon as it is finished, freeing its
   slot for a waiting request before the next step.

Requests join and leave between steps, so a short request never waits for a
long one. A request's tokens do not depend on the others: pads are masked out
of its prefill, its row attends only to its own slots, positions count its
own tokens, sampling is row-wise and its generator is its own. ``max_batch=1``
is one request at a time (what bench/serve.py compares against).

Text is decoded per token only when someone needs it: a streamed request
(its deltas) or one with stop strings. A request that is not streamed gets
its text once, in its Result.

The queue in front of the slots is bounded: ``submit`` raises ``QueueFull``
when it is full, and the server answers 429.
"""

from __future__ import annotations

import threading
from collections import deque
from dataclasses import dataclass, field
from typing import Callable

import numpy as np

from model.generate import GenerationError, SamplingParams, pick_tokens
from model.loss import log_softmax
from model.threads import one_blas_thread

REPLACEMENT = "\ufffd"  # what decode shows for the bytes of a character not yet complete


class QueueFull(Exception):
    """Every slot is busy and the waiting line is full: try again later."""


class EngineClosed(Exception):
    """The engine was shut down before the request finished."""


# --- the cache ----------------------------------------------------------------


class SlotCache:
    """Keys and values for up to ``slots`` sequences, each at its own length.

    Unlike model/kv_cache.py's KVCache (one length for every row, for a batch
    that starts together), row ``i`` here holds ``used[i]`` tokens in slots
    ``0 .. used[i]-1``: a row can be emptied and refilled while the others go
    on. Active rows are kept at the front (``move`` fills a hole with the last
    row), so a step over ``n`` rows works on views, never on copies.
    """

    def __init__(self, cfg, slots: int, dtype) -> None:
        shape = (cfg.n_layers, slots, cfg.n_kv_heads, cfg.context_length, cfg.head_dim)
        self.k = np.zeros(shape, dtype=dtype)
        self.v = np.zeros(shape, dtype=dtype)
        self.used = np.zeros(slots, dtype=np.int64)

    def load(self, row: int, prefilled, source: int, tokens: int) -> None:
        """Copy the last ``tokens`` slots of row ``source`` of a (left-padded)
        KVCache, a prompt's prefill, into ``row``."""
        start = prefilled.length - tokens
        self.k[:, row, :, :tokens] = prefilled.k[:, source, :, start:prefilled.length]
        self.v[:, row, :, :tokens] = prefilled.v[:, source, :, start:prefilled.length]
        self.used[row] = tokens

    def move(self, src: int, dst: int) -> None:
        """Row ``src``'s tokens into row ``dst`` (which is being freed)."""
        n = self.used[src]
        self.k[:, dst, :, :n] = self.k[:, src, :, :n]
        self.v[:, dst, :, :n] = self.v[:, src, :, :n]
        self.used[dst] = n

    def step(self, rows: int) -> "_DecodeStep":
        return _DecodeStep(self, rows)


class _DecodeStep:
    """The cache interface ``TissLM.forward_cached`` expects (begin, store,
    attention_mask, commit), for one new token in each of the first ``rows`` rows."""

    def __init__(self, cache: SlotCache, rows: int) -> None:
        self.cache, self.rows = cache, rows
        self.row_index = np.arange(rows)
        self.used = cache.used[:rows]
        self.end = int(self.used.max()) + 1 if rows else 1

    def begin(self, pad_mask: np.ndarray) -> np.ndarray:
        if pad_mask.shape != (self.rows, 1):
            raise ValueError(f"a decode step takes one token per row, got {pad_mask.shape}")
        return self.used[:, None].copy()  # a row's next position = its tokens so far

    def store(self, layer: int, k_new: np.ndarray, v_new: np.ndarray):
        self.cache.k[layer, self.row_index, :, self.used] = k_new[:, :, 0]
        self.cache.v[layer, self.row_index, :, self.used] = v_new[:, :, 0]
        return (self.cache.k[layer, :self.rows, :, :self.end],
                self.cache.v[layer, :self.rows, :, :self.end])

    def attention_mask(self, t: int) -> np.ndarray:
        """Row i sees its own slots 0 .. used[i] (the new token included)."""
        return (np.arange(self.end)[None, :] <= self.used[:, None])[:, None, None, :]

    def commit(self, pad_mask: np.ndarray) -> None:
        self.used += 1


# --- requests -----------------------------------------------------------------


@dataclass
class Request:
    """One generation: what to do, and where its output goes.

    ``on_event(kind, payload)`` is called from the engine's thread:
    ``("delta", text)`` as text becomes final (only when ``stream``), then
    exactly one of ``("done", Result)`` or ``("error", message)``.
    """

    prompt_ids: list[int]
    params: SamplingParams
    on_event: Callable[[str, object], None]
    ignore_eos: bool = False
    logprobs: bool = False          # record each new token's log-probability
    stream: bool = True             # send deltas; False: the text comes in the Result only
    cancelled: bool = False         # set by the server when the client went away


@dataclass
class Result:
    text: str
    token_ids: list[int]
    finish_reason: str              # "stop" (end token or stop string) or "length"
    prompt_tokens: int
    logprobs: list[float] = field(default_factory=list)


class _Active:
    """A request in a slot: its tokens so far and what was already sent."""

    def __init__(self, request: Request, tokenizer) -> None:
        self.request, self.tokenizer = request, tokenizer
        self.rng = np.random.default_rng(request.params.seed)
        self.new_ids: list[int] = []
        self.logprobs: list[float] = []
        self.sent = 0  # characters already sent as deltas
        self.hold = max((len(s) for s in request.params.stop), default=1) - 1

    def text(self) -> str:
        return self.tokenizer.decode(self.new_ids)

    def stop_at(self, text: str) -> int:
        """Where the earliest stop string starts in ``text``; -1 if none is there."""
        return min((text.find(s) for s in self.request.params.stop if s in text), default=-1)

    def stream(self, text: str) -> None:
        """Send what can no longer change: not a character still being
        decoded, nor the start of what may become a stop string."""
        end = len(text.rstrip(REPLACEMENT)) - self.hold
        if end > self.sent:
            self.request.on_event("delta", text[self.sent:end])
            self.sent = end

    def finish(self, reason: str) -> None:
        text = self.text()
        cut = self.stop_at(text)
        if cut >= 0:
            text, reason = text[:cut], "stop"
        if self.request.stream and len(text) > self.sent:
            self.request.on_event("delta", text[self.sent:])
        self.request.on_event("done", Result(text, self.new_ids, reason,
                                             len(self.request.prompt_ids), self.logprobs))


# --- the engine -----------------------------------------------------------------


class BatchEngine:
    """Decodes every admitted request together, one batched forward per step."""

    def __init__(self, model, tokenizer, *, max_batch: int = 16, max_queue: int = 64) -> None:
        if max_batch < 1 or max_queue < 0:
            raise ValueError(f"max_batch must be >= 1 and max_queue >= 0, got {max_batch}, {max_queue}")
        self.model, self.tokenizer = model, tokenizer
        self.max_batch, self.max_queue = max_batch, max_queue
        self.eos_id = getattr(tokenizer, "special_tokens", {}).get("<|eos|>")
        self.cache = SlotCache(model.cfg, max_batch, model.dtype)
        self.active: list[_Active] = []
        self.waiting: deque = deque()   # Requests, and jobs (callables) run between steps
        self.lock = threading.Condition()
        self.closed = False
        self.steps = 0                  # decode steps so far (tests and the bench read it)
        self.prompt_passes = 0          # prefill forward passes so far (each over 1+ prompts)
        self.thread = threading.Thread(target=self._loop, name="tisslm-batch", daemon=True)
        self.thread.start()

    # -- the caller's side ---------------------------------------------------
    def check(self, prompt_ids: list[int], params: SamplingParams) -> None:
        """A GenerationError for a request the model cannot take."""
        context = self.model.cfg.context_length
        if not prompt_ids:
            raise GenerationError("the prompt is empty; give at least one token")
        if len(prompt_ids) >= context:
            raise GenerationError(f"the prompt has {len(prompt_ids)} tokens but the model's context "
                                  f"is {context}; shorten it so there is room to generate")

    def submit(self, item) -> None:
        """Queue a Request (or a job: a callable run alone between steps);
        QueueFull when the waiting line is full."""
        with self.lock:
            if self.closed:
                raise EngineClosed("the server is shutting down")
            if len(self.active) + len(self.waiting) >= self.max_batch + self.max_queue:
                raise QueueFull(f"{len(self.active)} requests are being generated and "
                                f"{len(self.waiting)} are waiting: the limit")
            self.waiting.append(item)
            self.lock.notify()

    def load(self) -> tuple[int, int]:
        """(active, waiting) requests."""
        with self.lock:
            return len(self.active), len(self.waiting)

    def close(self) -> None:
        with self.lock:
            self.closed = True
            self.lock.notify()
        self.thread.join()

    # -- the engine's thread -------------------------------------------------
    def _loop(self) -> None:
        with one_blas_thread():  # model/threads.py: one BLAS thread is faster here
            while self._admit():
                if self.active:
                    try:
                        self._step()
                    except Exception as exc:  # a bug must not hang every client
                        self._fail_all(f"{type(exc).__name__}: {exc}")
        for item in list(self.waiting):
            if isinstance(item, Request):
                item.on_event("error", "the server is shutting down")
        for row in self.active:
            row.request.on_event("error", "the server is shutting down")

    def _fail_all(self, message: str) -> None:
        with self.lock:
            failed, self.active = self.active, []
            self.cache.used[:] = 0
        for row in failed:
            row.request.on_event("error", message)

    def _admit(self) -> bool:
        """Move waiting requests into free slots (waiting while nothing is
        active); run waiting jobs. False once closed."""
        while True:
            with self.lock:
                while not self.closed and not self.waiting and not self.active:
                    self.lock.wait()
                if self.closed:
                    return False
                if not self.waiting or len(self.active) >= self.max_batch:
                    return True
                job = self.waiting.popleft() if not isinstance(self.waiting[0], Request) else None
                arrived = self._take_waiting(self.max_batch - len(self.active)) if job is None else []
            if job is None:
                self._prefill([r for r in arrived if not r.cancelled])
                continue
            try:
                job()
            except Exception:  # a job reports its own errors; it must not stop the engine
                pass

    def _take_waiting(self, free: int) -> list[Request]:
        """The waiting requests at the head of the line, up to ``free`` (the
        caller holds the lock); a job stops the run, to keep the order."""
        taken = []
        while self.waiting and len(taken) < free and isinstance(self.waiting[0], Request):
            taken.append(self.waiting.popleft())
        return taken

    def _drop(self, request: Request, message: str) -> None:
        """End ``request`` with an error, freeing its slot if it has one."""
        for i, row in enumerate(self.active):
            if row.request is request:
                self._leave(i)
                break
        request.on_event("error", message)

    def _prefill(self, requests: list[Request]) -> None:
        """Run the prompts of ``requests`` through the model together, then
        seat them. A pass that fails (a bad prompt) is retried one prompt at
        a time, so only the request at fault is told."""
        if not requests:
            return
        try:
            cache, logits = self._prompt_pass([r.prompt_ids for r in requests])
        except Exception as exc:
            if len(requests) == 1:
                return self._drop(requests[0], f"{type(exc).__name__}: {exc}")
            for request in requests:
                self._prefill([request])
            return
        try:
            self._seat(requests, cache, logits)
        except Exception as exc:  # a bug must not stop the engine for everyone
            for request in requests:
                self._drop(request, f"{type(exc).__name__}: {exc}")

    def _seat(self, requests: list[Request], cache, logits: np.ndarray) -> None:
        """Copy each prefilled prompt's keys/values into a free row of the
        slot cache and pick its first token."""
        first = len(self.active)
        for source, request in enumerate(requests):
            row = _Active(request, self.tokenizer)
            if request.params.max_new_tokens == 0:
                row.finish("length")
                continue
            self.cache.load(len(self.active), cache, source, len(request.prompt_ids))
            with self.lock:
                self.active.append(row)
        kept = [i for i, r in enumerate(requests) if r.params.max_new_tokens > 0]
        self._take_all(range(first, len(self.active)), logits[kept])

    def _prompt_pass(self, prompts: list[list[int]]):
        """One forward pass over left-padded prompts: (its KVCache, (B, V) last logits)."""
        longest = max(len(p) for p in prompts)
        ids = np.zeros((len(prompts), longest), dtype=np.int64)
        real = np.zeros((len(prompts), longest), dtype=bool)
        for i, prompt in enumerate(prompts):
            ids[i, longest - len(prompt):] = prompt
            real[i, longest - len(prompt):] = True
        cache = self.model.new_cache(len(prompts), longest)
        logits = self.model.forward_cached(ids, cache, pad_mask=real)[:, -1]
        self.prompt_passes += 1
        return cache, logits

    def _step(self) -> None:
        rows = len(self.active)
        last = np.asarray([[row.new_ids[-1]] for row in self.active], dtype=np.int64)
        logits = self.model.forward_cached(last, self.cache.step(rows))[:, -1]
        self.steps += 1
        self._take_all(range(rows), logits)

    def _take_all(self, rows: range, logits: np.ndarray) -> None:
        """Active rows ``rows`` (the last ones) pick their next tokens from
        their logits (one row each, in order), then go on or leave."""
        if not rows:
            return
        active = [self.active[i] for i in rows]
        histories = [r.request.prompt_ids + r.new_ids if r.request.params.repetition_penalty != 1.0
                     else [] for r in active]
        tokens = pick_tokens(logits, histories, [r.request.params for r in active],
                             [r.rng for r in active])
        for i in reversed(rows):  # reversed: a row that leaves moves the last one in
            self._take(i, int(tokens[i - rows.start]), logits[i - rows.start])

    def _take(self, i: int, token: int, logits: np.ndarray) -> None:
        """Row ``i`` takes its next token (picked from ``logits``), then goes on or leaves."""
        row = self.active[i]
        request, params = row.request, row.request.params
        if request.cancelled:
            return self._leave(i)
        if token == self.eos_id and not request.ignore_eos:
            row.finish("stop")
            return self._leave(i)
        row.new_ids.append(token)
        if request.logprobs:
            row.logprobs.append(float(log_softmax(logits.astype(np.float64)[None])[0, token]))
        text = row.text() if params.stop or request.stream else None
        if params.stop and row.stop_at(text) >= 0:
            row.finish("stop")
            return self._leave(i)
        if len(row.new_ids) >= params.max_new_tokens or \
                len(request.prompt_ids) + len(row.new_ids) >= self.model.cfg.context_length:
            row.finish("length")
            return self._leave(i)
        if request.stream:
            row.stream(text)

    def _leave(self, i: int) -> None:
        """Free row ``i``'s slot: the last active row moves into it."""
        last = len(self.active) - 1
        if i != last:
            self.cache.move(last, i)
        with self.lock:
            self.active[i] = self.active[last]
            self.active.pop()


def prompt_logprobs(model, ids: list[int]) -> list[float | None]:
    """Each token's log-probability given the tokens before it (None for the
    first): what ``echo`` with ``logprobs`` returns, and how options are scored."""
    with one_blas_thread():
        logp = log_softmax(model.forward(np.asarray([ids]))[0].astype(np.float64))
    return [None] + [float(logp[i - 1, ids[i]]) for i in range(1, len(ids))]
