"""TissLM as a model backend, and the token-constraint protocol generation follows.

A *backend* (the runtime's registry, runtime/models.py, lists them under the
entry-point group ``tisslang.backends``) is made by a factory called with the
``model:`` section of the user's configuration, and offers::

    generate(prompt, *, system=None, max_tokens=256, stop=(), constraint=None) -> str
    score(options, context) -> list[float]     # higher = more likely
    count_tokens(text) -> int
    supports_constraint: bool                  # False: ``constraint`` must be None

A *constraint* is an incremental acceptor over token ids (the grammar that
keeps plans parseable implements it; this package never imports it)::

    allowed(token_ids) -> bool array   # which of these ids may come next
    advance(token_id)                  # this id was emitted
    done() -> bool                     # the output so far is complete

The generation loop (model/generate.py) masks each step's logits with
``allowed``, calls ``advance`` with the token it picked, and lets the end of
sequence through only when ``done()``.
"""

from __future__ import annotations

from pathlib import Path
from typing import Protocol, Sequence

import numpy as np

from model.loss import log_softmax
from model.threads import one_blas_thread

# The planner shipped in the package (model/configs/planner.yaml trains it):
# the model when the configuration names none.
SHIPPED = Path(__file__).with_name("weights") / "planner"
# The agent shipped beside it (model/configs/agent.yaml trains it): the model
# that runs the agent loop when the planner above is the configured one.
SHIPPED_AGENT = SHIPPED.with_name("agent")
HOW_TO_GET_ONE = ("train a small model with `tiss model train --config model/configs/planner.yaml "
                  "--out ~/tisslm` (or reinstall quanta-tissu, whose package ships one in "
                  "model/weights/planner), then set `model: {path: ~/tisslm}` in "
                  "~/.config/quanta-tissu/config.yaml (or the file $TISS_CONFIG names)")


class TokenConstraint(Protocol):
    def allowed(self, token_ids: np.ndarray) -> np.ndarray: ...

    def advance(self, token_id: int) -> None: ...

    def done(self) -> bool: ...


class BackendSetupError(ValueError):
    """A backend cannot start from its settings; the message says how to fix them."""


class TissLMBackend:
    """The embedded TissLM, loaded for inference from a model directory."""

    supports_constraint = True
    # The embedded planner is trained on goals whose literals are slot markers
    # (runtime/slots.py) and on the planner's own prompt format, so it gets
    # those and no system instructions.
    plans_with_slots = True

    def __init__(self, path, *, temperature: float = 0.0, seed: int = 0) -> None:
        from model.checkpoint import load_model, load_model_tokenizer

        self.model, self.directory = load_model(path)
        self.tokenizer = load_model_tokenizer(self.directory)
        self.temperature, self.seed = float(temperature), int(seed)

    def for_agent(self) -> "TissLMBackend":
        """The model for the agent loop: the shipped agent when this is the
        shipped planner (nothing configured), else this model as it is."""
        if getattr(self, "_agent", None) is None:
            shipped = Path(self.directory).resolve() == SHIPPED.resolve() and (SHIPPED_AGENT / "config.json").is_file()
            self._agent = TissLMBackend(SHIPPED_AGENT, temperature=self.temperature, seed=self.seed) \
                if shipped else self
        return self._agent

    def count_tokens(self, text: str) -> int:
        return len(self.tokenizer.encode(text)) if text else 0

    def generate(self, prompt: str, *, system: str | None = None, max_tokens: int = 256,
                 stop: Sequence[str] = (), constraint: TokenConstraint | None = None) -> str:
        from model.generate import SamplingParams, generate_ids

        text = f"{system}\n\n{prompt}\n" if system else f"{prompt}\n"
        room = self.room(max_tokens, None if system else prompt)
        ids = self._encode(text, keep=self.model.cfg.context_length - room)
        params = SamplingParams(max_new_tokens=room, temperature=self.temperature,
                                stop=list(stop), seed=self.seed)

        def hits_stop(row: int, new: list[int]) -> bool:
            return any(s in self.tokenizer.decode(new) for s in stop)

        new_ids, _ = generate_ids(self.model, [ids], params, eos_id=self._special("<|eos|>"),
                                  is_done=hits_stop if stop else None, constraint=constraint)
        out = self.tokenizer.decode(new_ids[0])
        cut = min((out.find(s) for s in stop if s in out), default=-1)
        return out[:cut] if cut >= 0 else out

    def room(self, max_tokens: int, prompt: str | None = None) -> int:
        """How many tokens ``generate`` really emits at most (a constraint that
        steers to a whole answer needs it): what the context leaves after
        ``prompt``, and at least half the context (a longer prompt loses its
        beginning)."""
        context = self.model.cfg.context_length
        left = context - len(self.tokenizer.encode(f"{prompt}\n")) if prompt is not None else 0
        return max(1, min(max_tokens, max(context // 2, left)))

    def score(self, options: list[str], context: str) -> list[float]:
        """Each option's mean log-probability per token after ``context``."""
        with one_blas_thread():  # as generation does: model/threads.py
            return [self._score(option, context) for option in options]

    def _score(self, option: str, context: str) -> float:
        tail = self.tokenizer.encode(" " + option) or self._encode(" ", keep=1)
        head = self._encode(context, keep=max(1, self.model.cfg.context_length - len(tail)))
        ids = (head + tail)[-self.model.cfg.context_length - 1:]
        logp = log_softmax(self.model.forward(np.asarray([ids[:-1]]))[0].astype(np.float64))
        n = min(len(tail), len(ids) - 1)
        return float(logp[np.arange(len(ids) - 1 - n, len(ids) - 1), ids[-n:]].mean())

    def _encode(self, text: str, keep: int) -> list[int]:
        """``text``'s last ``keep`` tokens (never none: a beginning-of-sequence if empty)."""
        ids = self.tokenizer.encode(text)[-keep:] if keep > 0 else []
        bos = self._special("<|bos|>")
        return ids or [bos if bos is not None else 10]

    def _special(self, name: str) -> int | None:
        return getattr(self.tokenizer, "special_tokens", {}).get(name)


def load_backend(settings: dict) -> TissLMBackend:
    """The ``tisslm`` entry point: ``settings`` is the configuration's ``model:``
    section (``path``, and optionally ``temperature``, ``seed``)."""
    from model.checkpoint import CheckpointError

    unknown = sorted(set(settings) - {"path", "temperature", "seed"})
    if unknown:
        raise BackendSetupError(f"unknown setting(s) for the tisslm backend: model.{', model.'.join(unknown)}"
                                "\nhint: known: model.path, model.temperature, model.seed")
    path = settings.get("path") or (SHIPPED if (SHIPPED / "config.json").is_file() else None)
    if not path:
        raise BackendSetupError("no language model is configured: the embedded TissLM needs a "
                                f"model directory and none is set\nhint: {HOW_TO_GET_ONE}")
    try:
        return TissLMBackend(Path(str(path)).expanduser(),
                             temperature=settings.get("temperature", 0.0),
                             seed=settings.get("seed", 0))
    except CheckpointError as exc:
        raise BackendSetupError(f"model.path {path}: {exc}") from None
