"""Text generation with TissLM: greedy or sampled, batched, with a KV cache.

The loop, for a batch of prompts of different lengths:

1. left-pad the prompts to one length and run them through the model once
   (``forward_cached`` with a pad mask), which fills the pre-allocated KV cache;
2. pick each row's next token from its last logits (``pick_token``);
3. feed just those tokens back, one position per step, until every row has
   stopped (max tokens, end-of-sequence, a stop string, or the context is full).

Each row samples with its own generator seeded from ``seed``, and pads are
masked out of attention and positions, so a row's tokens are the same whether
it is generated alone or in a batch. ``use_cache=False`` runs the plain full
forward pass on each row instead: slower, and the reference the cache is
tested against.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Callable

import numpy as np

from model.kv_cache import KVCache
from model.threads import one_blas_thread


class GenerationError(ValueError):
    """Bad generation input (empty prompt, prompt longer than the context, bad setting)."""


@dataclass
class SamplingParams:
    max_new_tokens: int = 64
    temperature: float = 1.0      # 0 means greedy: always the most likely token
    top_k: int | None = None      # keep only the k most likely tokens
    top_p: float | None = None    # keep the smallest set whose probability reaches p
    repetition_penalty: float = 1.0  # > 1 discourages tokens already in the row
    stop: list[str] = field(default_factory=list)  # stop strings (not part of the result)
    seed: int | list[int] = 0     # one seed for every row, or one per row

    def __post_init__(self) -> None:
        if self.max_new_tokens < 0:
            raise GenerationError(f"max_new_tokens must be >= 0, got {self.max_new_tokens}")
        if self.temperature < 0:
            raise GenerationError(f"temperature must be >= 0 (0 = greedy), got {self.temperature}")
        if self.top_k is not None and self.top_k < 1:
            raise GenerationError(f"top_k must be >= 1, got {self.top_k}")
        if self.top_p is not None and not 0 < self.top_p <= 1:
            raise GenerationError(f"top_p must be in (0, 1], got {self.top_p}")
        if self.repetition_penalty <= 0:
            raise GenerationError(f"repetition_penalty must be > 0, got {self.repetition_penalty}")


@dataclass
class Completion:
    text: str
    token_ids: list[int]
    finish_reason: str  # "stop" (eos or stop string) or "length" (max tokens or context full)


# --- choosing one token -------------------------------------------------------


def pick_token(logits: np.ndarray, history: list[int], params: SamplingParams,
               rng: np.random.Generator) -> int:
    """The next token for one row, from its (V,) logits and the tokens it has so far."""
    return int(pick_tokens(logits[None], [history], [params], [rng])[0])


def pick_tokens(logits: np.ndarray, histories: list[list[int]], params: list[SamplingParams],
                rngs: list[np.random.Generator]) -> np.ndarray:
    """The next token of each row, from (R, V) logits: row ``r`` with its own
    history, settings and generator, exactly as if it were picked alone.

    Each stage is one array operation over all the rows rather than one per
    row (a decode batch pays NumPy's per-call overhead once, not 16 times);
    every operation is row-wise, so a row's token does not depend on the others.
    """
    logits = np.array(logits, dtype=np.float64)  # a private copy, and stable maths for the softmax
    for row, (settings, history) in enumerate(zip(params, histories)):
        if settings.repetition_penalty != 1.0 and history:
            _penalise(logits[row], history, settings.repetition_penalty)
    greedy = np.array([settings.temperature == 0 for settings in params], dtype=bool)
    if not greedy.any():  # the usual batch: every row samples, and no copy is needed
        return _sample(logits, params, rngs)
    tokens = np.argmax(logits, axis=1)  # the greedy rows' tokens; sampled rows are replaced
    sampled = np.flatnonzero(~greedy)
    if sampled.size:
        tokens[sampled] = _sample(logits[sampled], [params[i] for i in sampled],
                                  [rngs[i] for i in sampled])
    return tokens


def _penalise(logits: np.ndarray, history: list[int], penalty: float) -> None:
    """CTRL's repetition penalty, in place: push tokens already seen towards
    "less likely" whatever their sign."""
    seen = np.unique(history)
    logits[seen] = np.where(logits[seen] > 0, logits[seen] / penalty, logits[seen] * penalty)


def _sample(logits: np.ndarray, params: list[SamplingParams],
            rngs: list[np.random.Generator]) -> np.ndarray:
    """Temperature, top-k, top-p, then one draw per row from its generator;
    ``logits`` (R, V) is a private float64 array, changed in place."""
    vocab = logits.shape[1]
    temperature = np.array([settings.temperature for settings in params])
    if (temperature != 1.0).any():  # x / 1.0 is x: skipping it changes no bit
        logits /= temperature[:, None]
    top_k = [s.top_k if s.top_k is not None and s.top_k < vocab else 0 for s in params]
    for k in set(top_k) - {0}:  # rows sharing a k are cut in one partition
        rows = np.flatnonzero(np.array(top_k) == k)
        block = logits[rows]
        kth = np.partition(block, -k, axis=1)[:, -k, None]  # each row's k-th largest
        block[block < kth] = -np.inf
        logits[rows] = block
    logits -= logits.max(axis=1, keepdims=True)
    probs = np.exp(logits, out=logits)  # in place: 16 rows of a big vocabulary are a lot of bytes
    probs /= probs.sum(axis=1, keepdims=True)
    top_p = np.array([s.top_p if s.top_p is not None and s.top_p < 1 else np.inf for s in params])
    nucleus = np.flatnonzero(top_p < np.inf)
    if nucleus.size:
        probs[nucleus] = _nucleus(probs[nucleus], top_p[nucleus])
    # Inverse-CDF sampling: one uniform draw per token keeps rows reproducible.
    totals = probs.sum(axis=1)
    cdf = np.cumsum(probs, axis=1)
    index = [np.searchsorted(row_cdf, rng.random() * total, side="right")
             for row_cdf, rng, total in zip(cdf, rngs, totals)]
    return np.minimum(index, vocab - 1)


def _nucleus(probs: np.ndarray, top_p: np.ndarray) -> np.ndarray:
    """Each row cut to the smallest set of its most likely tokens whose
    probability reaches its p (the most likely one is always kept), renormalised."""
    order = np.argsort(-probs, axis=1, kind="stable")
    ranked = np.take_along_axis(probs, order, axis=1)
    before = np.cumsum(ranked, axis=1) - ranked      # mass of the more likely tokens
    np.put_along_axis(probs, order, np.where(before >= top_p[:, None], 0.0, ranked), axis=1)
    probs /= probs.sum(axis=1, keepdims=True)
    return probs


# --- the loop ---------------------------------------------------------------


def generate_ids(model, prompts: list[list[int]], params: SamplingParams, *,
                 use_cache: bool = True, eos_id: int | None = None,
                 is_done: Callable[[int, list[int]], bool] | None = None,
                 constraint=None,
                 ) -> tuple[list[list[int]], list[str]]:
    """Generate new tokens for each prompt; returns (new ids per row, finish reason per row).

    ``is_done(row, new_ids)`` lets the caller stop a row early (stop strings).
    ``constraint`` (model/backend.py's TokenConstraint, one prompt only) masks
    every step's logits to the tokens it allows and is told each token picked.
    BLAS runs on one thread meanwhile (model/threads.py: ~10x faster here).
    """
    with one_blas_thread():
        return _generate_ids(model, prompts, params, use_cache=use_cache, eos_id=eos_id,
                             is_done=is_done, constraint=constraint)


def _generate_ids(model, prompts: list[list[int]], params: SamplingParams, *,
                 use_cache: bool = True, eos_id: int | None = None,
                 is_done: Callable[[int, list[int]], bool] | None = None,
                 constraint=None,
                 ) -> tuple[list[list[int]], list[str]]:
    """``generate_ids`` itself, with BLAS set."""
    if constraint is not None and len(prompts) != 1:
        raise GenerationError(f"a constraint drives one row; got {len(prompts)} prompts")
    context = model.cfg.context_length
    for i, prompt in enumerate(prompts):
        if not prompt:
            raise GenerationError(f"prompt {i} is empty; give at least one token")
        if len(prompt) >= context:
            raise GenerationError(
                f"prompt {i} has {len(prompt)} tokens but the model's context is {context}; "
                "shorten the prompt so there is room to generate")
    seeds = params.seed if isinstance(params.seed, list) else [params.seed] * len(prompts)
    if len(seeds) != len(prompts):
        raise GenerationError(f"{len(seeds)} seeds for {len(prompts)} prompts; give one per prompt")
    rngs = [np.random.default_rng(seed) for seed in seeds]
    new_ids: list[list[int]] = [[] for _ in prompts]
    reasons = ["length"] * len(prompts)
    if params.max_new_tokens == 0 or not prompts:
        return new_ids, reasons
    running = [True] * len(prompts)
    if use_cache:
        step_logits = _cached_steps(model, prompts, new_ids, running, params.max_new_tokens)
    else:
        step_logits = _uncached_steps(model, prompts, new_ids)

    for logits in step_logits:
        for row in range(len(prompts)):
            if not running[row]:
                continue
            row_logits = logits[row]
            if constraint is not None:
                row_logits = _constrained(row_logits, constraint, eos_id)
                if row_logits is None:  # complete, and nothing may follow
                    running[row], reasons[row] = False, "stop"
                    continue
            token = pick_token(row_logits, prompts[row] + new_ids[row], params, rngs[row])
            if token == eos_id:
                running[row], reasons[row] = False, "stop"
                continue
            if constraint is not None:
                constraint.advance(token)
            new_ids[row].append(token)
            if is_done is not None and is_done(row, new_ids[row]):
                running[row], reasons[row] = False, "stop"
            elif len(new_ids[row]) == params.max_new_tokens or \
                    len(prompts[row]) + len(new_ids[row]) >= context:
                running[row] = False
        if not any(running):
            break
    return new_ids, reasons


def _constrained(logits: np.ndarray, constraint, eos_id: int | None):
    """The logits with every token the constraint refuses at -inf; the end of
    sequence is allowed once the output is complete. None when no token is
    allowed (the output is complete), a GenerationError when it is not."""
    allowed = np.asarray(constraint.allowed(np.arange(len(logits))), dtype=bool)
    if eos_id is not None:
        allowed[eos_id] = constraint.done()
    if not allowed.any():
        if constraint.done():
            return None
        raise GenerationError("the constraint allows no token but the output is not complete")
    return np.where(allowed, logits.astype(np.float64), -np.inf)


def _cached_steps(model, prompts, new_ids, running, max_new_tokens):
    """Yield each step's (B, V) last logits: one prefill pass, then one token per row per step.

    ``new_ids`` and ``running`` are the caller's lists, read as they change.
    """
    cfg, longest = model.cfg, max(len(p) for p in prompts)
    # Pads take cache slots but not positions, so a short row may run on after
    # the longest row has filled the context: size the cache for the row that
    # runs longest. (``model.new_cache`` caps a cache at the context length,
    # which is right for one row, so the batch's cache is built here.)
    most_new = min(max_new_tokens, cfg.context_length - min(len(p) for p in prompts))
    cache = KVCache(cfg.n_layers, len(prompts), longest + most_new, cfg.n_kv_heads,
                    cfg.head_dim, model.dtype)
    ids = np.zeros((len(prompts), longest), dtype=np.int64)
    real = np.zeros((len(prompts), longest), dtype=bool)
    for row, prompt in enumerate(prompts):
        ids[row, longest - len(prompt):] = prompt  # left padding
        real[row, longest - len(prompt):] = True
    yield model.forward_cached(ids, cache, pad_mask=real)[:, -1]
    while cache.length < cache.max_len:
        # Finished rows feed a pad, masked like the left padding, so the batch
        # stays rectangular without moving their positions on.
        last = [(new or prompt)[-1] for new, prompt in zip(new_ids, prompts)]
        real = np.asarray(running, dtype=bool)[:, None]
        yield model.forward_cached(np.asarray(last, dtype=np.int64)[:, None], cache,
                                   pad_mask=real)[:, -1]


def _uncached_steps(model, prompts, new_ids):
    """The reference: every step reruns the full forward pass on each row alone."""
    while True:
        yield np.stack([model.forward(np.asarray([prompt + new], dtype=np.int64))[0, -1]
                        for prompt, new in zip(prompts, new_ids)])


def generate(model, tokenizer, prompts: list[str], params: SamplingParams,
             use_cache: bool = True, constraint=None) -> list[Completion]:
    """Complete each prompt string; stop strings are cut from the returned text."""
    encoded = [tokenizer.encode(p) for p in prompts]
    bos = tokenizer.special_tokens.get("<|bos|>")
    encoded = [ids if ids or bos is None else [bos] for ids in encoded]

    def hits_stop(row: int, ids: list[int]) -> bool:
        text = tokenizer.decode(ids)
        return any(s in text for s in params.stop)

    new_ids, reasons = generate_ids(model, encoded, params, use_cache=use_cache,
                                    eos_id=tokenizer.special_tokens.get("<|eos|>"),
                                    is_done=hits_stop if params.stop else None,
                                    constraint=constraint)
    completions = []
    for ids, reason in zip(new_ids, reasons):
        text = tokenizer.decode(ids)
        cut = min((text.find(s) for s in params.stop if s in text), default=-1)
        completions.append(Completion(text=text[:cut] if cut >= 0 else text,
                                      token_ids=ids, finish_reason=reason))
    return completions
