"""The ``openai`` model backend: any OpenAI-compatible server (llama.cpp,
vLLM, Ollama, `tiss serve`, or OpenAI itself), through the official
``openai`` package.

Configuration (``model:`` in the user's config, or the environment, see
runtime/config.py)::

    model:
      backend: openai
      base_url: http://127.0.0.1:8000/v1
      model: tisslm               # the server's model id
      api_key_env: OPENAI_API_KEY # the VARIABLE holding the key; never the key itself
      timeout: 60                 # seconds per request
      max_retries: 2              # retried with exponential backoff (429, 5xx, connection errors)
      stream: false               # true: receive the answer as server-sent events
      temperature: 0
      seed: 0

The server cannot be handed a token constraint, so ``supports_constraint`` is
False and the planner generates freely, then parses, checks and repairs.
``score`` asks the legacy completions endpoint for the log-probabilities of
``context + option`` (``echo`` with ``max_tokens: 0``); a server that does not
offer them is asked instead to name the best option by its number.
"""

from __future__ import annotations

import os
import re

DEFAULTS = {"api_key_env": "OPENAI_API_KEY", "timeout": 60.0, "max_retries": 2, "stream": False,
            "temperature": 0.0, "seed": 0}
KNOWN = ("base_url", "model", *DEFAULTS)
NO_KEY = "no-key"  # what the client sends when the server needs none (its variable is unset)


class ModelServerError(RuntimeError):
    """The model server could not be reached or refused the request; says which and why."""


class OpenAIBackend:
    supports_constraint = False

    def __init__(self, base_url: str, model: str, *, api_key: str | None, timeout: float = 60.0,
                 max_retries: int = 2, stream: bool = False, temperature: float = 0.0,
                 seed: int | None = 0) -> None:
        import openai

        self.base_url, self.model, self.stream = base_url, model, stream
        self.temperature, self.seed = temperature, seed
        self.client = openai.OpenAI(base_url=base_url, api_key=api_key or NO_KEY,
                                    timeout=timeout, max_retries=max_retries)
        self.last = ("", 0)          # (answer, its completion tokens as the server counted them)
        self.can_score = True        # False once the server refused echo + logprobs

    # -- generate ----------------------------------------------------------------
    def generate(self, prompt: str, *, system: str | None = None, max_tokens: int = 256,
                 stop=(), constraint=None) -> str:
        if constraint is not None:
            raise ValueError("the openai backend cannot follow a token constraint (supports_constraint is False)")
        messages = ([{"role": "system", "content": system}] if system else []) + \
            [{"role": "user", "content": prompt}]
        options = dict(model=self.model, messages=messages, max_tokens=max_tokens,
                       temperature=self.temperature)
        if self.seed is not None:
            options["seed"] = self.seed
        if stop:
            options["stop"] = list(stop)[:4]
        with self._errors():
            if self.stream:
                text, used = self._streamed(options)
            else:
                answer = self.client.chat.completions.create(**options)
                text = answer.choices[0].message.content or ""
                used = answer.usage.completion_tokens if answer.usage else None
        self.last = (text, used)
        return text

    def _streamed(self, options) -> tuple[str, int | None]:
        parts, used = [], None
        for chunk in self.client.chat.completions.create(
                **options, stream=True, stream_options={"include_usage": True}):
            if chunk.choices and chunk.choices[0].delta.content:
                parts.append(chunk.choices[0].delta.content)
            if chunk.usage:
                used = chunk.usage.completion_tokens
        return "".join(parts), used

    def count_tokens(self, text: str) -> int:
        """The server's count for the last answer; else about 4 characters a token."""
        answer, used = self.last
        if text == answer and used is not None:
            return used
        return max(1, (len(text) + 3) // 4) if text else 0

    # -- score ---------------------------------------------------------------------
    def score(self, options: list[str], context: str) -> list[float]:
        """Mean log-probability per token of each option after ``context``
        (higher is better); or 1 for the option the model names, 0 for the others."""
        import openai

        if self.can_score:
            try:
                with self._errors(refusals=False):
                    return [self._logprob(option, context) for option in options]
            except (openai.BadRequestError, openai.NotFoundError, openai.UnprocessableEntityError,
                    _NoLogprobs):
                self.can_score = False
        return self._pick(options, context)

    def _logprob(self, option: str, context: str) -> float:
        answer = self.client.completions.create(model=self.model, prompt=f"{context} {option}",
                                                max_tokens=0, echo=True, logprobs=0, temperature=0)
        logprobs = answer.choices[0].logprobs
        if not logprobs or not logprobs.token_logprobs or not logprobs.text_offset:
            raise _NoLogprobs()
        values = [lp for lp, at in zip(logprobs.token_logprobs, logprobs.text_offset)
                  if at >= len(context) and lp is not None]
        if not values:
            raise _NoLogprobs()
        return sum(values) / len(values)

    def _pick(self, options: list[str], context: str) -> list[float]:
        listing = "\n".join(f"{i}. {option}" for i, option in enumerate(options, 1))
        answer = self.generate(f"{context}\n{listing}\nThe best option's number:",
                               max_tokens=8)
        found = re.search(r"\d+", answer)
        if not found or not 1 <= int(found.group()) <= len(options):
            raise ModelServerError(f"the model at {self.base_url} offers no log-probabilities and did not "
                                   f"name an option (1-{len(options)}): it answered {answer[:60]!r}")
        return [1.0 if i == int(found.group()) else 0.0 for i in range(1, len(options) + 1)]

    # -- errors ----------------------------------------------------------------------
    def _errors(self, refusals: bool = True):
        return _Translated(self, refusals)


class _NoLogprobs(Exception):
    pass


class _Translated:
    """Turns the client's exceptions into one ModelServerError that says what
    to do. With ``refusals=False``, a 4xx refusal passes through (``score``
    falls back on it)."""

    def __init__(self, backend: OpenAIBackend, refusals: bool):
        self.backend, self.refusals = backend, refusals

    def __enter__(self):
        return self

    def __exit__(self, kind, exc, tb):
        import openai

        if exc is None or not isinstance(exc, openai.OpenAIError):
            return False
        where = f"the model server at {self.backend.base_url}"
        if isinstance(exc, openai.APITimeoutError):
            raise ModelServerError(f"{where} did not answer in time (model.timeout)") from None
        if isinstance(exc, openai.APIConnectionError):
            raise ModelServerError(f"cannot reach {where}: is it running? ({exc})") from None
        if isinstance(exc, openai.AuthenticationError):
            raise ModelServerError(f"{where} refused the API key (401): set the variable model.api_key_env "
                                   "names to the server's key") from None
        if isinstance(exc, openai.APIStatusError):
            if not self.refusals and 400 <= exc.status_code < 500 and exc.status_code != 429:
                return False
            message = _server_message(exc)
            raise ModelServerError(f"{where} answered {exc.status_code}: {message}") from None
        raise ModelServerError(f"{where}: {exc}") from None


def _server_message(exc) -> str:
    body = getattr(exc, "body", None)
    if isinstance(body, dict):
        inner = body.get("error", body)
        if isinstance(inner, dict) and inner.get("message"):
            return str(inner["message"])
    return str(exc)


def load_backend(settings: dict) -> OpenAIBackend:
    """The ``openai`` entry point: ``settings`` is the ``model:`` section."""
    if "api_key" in settings:  # said plainly, as it matters
        raise ValueError("model.api_key: keys never go in files\nhint: set model.api_key_env to the name "
                         "of the environment variable that holds the key")
    unknown = sorted(set(settings) - set(KNOWN))
    if unknown:
        raise ValueError(f"unknown setting(s) for the openai backend: model.{', model.'.join(unknown)}"
                         f"\nhint: known: model.{', model.'.join(KNOWN)}")
    options = {**DEFAULTS, **settings}
    for name in ("base_url", "model"):
        if not isinstance(options.get(name), str) or not options[name].strip():
            raise ValueError(f"the openai backend needs model.{name}"
                             "\nhint: e.g. `model: {backend: openai, base_url: http://127.0.0.1:8000/v1, "
                             "model: tisslm}` (or TISS_MODEL_BASE_URL / TISS_MODEL_NAME)")
    variable = options["api_key_env"]
    if not isinstance(variable, str) or not re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*", variable):
        raise ValueError(f"model.api_key_env must be an environment variable's name, not {variable!r}")
    key = os.environ.get(variable)
    if not key and "api_key_env" in settings:
        raise ValueError(f"model.api_key_env names ${variable}, which is not set"
                         f"\nhint: export {variable}=<the server's key>")
    return OpenAIBackend(options["base_url"], options["model"], api_key=key,
                         timeout=_number(options, "timeout", float), max_retries=_number(options, "max_retries", int),
                         stream=_boolean(options, "stream"), temperature=_number(options, "temperature", float),
                         seed=options["seed"] if options["seed"] is None else _number(options, "seed", int))


def _number(options: dict, name: str, kind):
    value = options[name]
    if isinstance(value, bool) or not isinstance(value, (int, float)) or value < 0 or (
            kind is int and value != int(value)):
        raise ValueError(f"model.{name} must be a non-negative {'integer' if kind is int else 'number'}, "
                         f"not {value!r}")
    return kind(value)


def _boolean(options: dict, name: str) -> bool:
    if not isinstance(options[name], bool):
        raise ValueError(f"model.{name} must be true or false, not {options[name]!r}")
    return options[name]
