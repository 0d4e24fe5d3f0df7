"""Model backends: the protocol PROMPT_AGENT, ``--choose model`` and ``:plan``
talk to, and the registry they are found in.

A backend is any object with::

    generate(prompt, *, system=None, max_tokens=256, stop=(), constraint=None) -> str
    score(options: list[str], context: str) -> list[float]   # higher = better
    count_tokens(text) -> int            # optional: else one token per 4 characters
    supports_constraint: bool            # optional: False when absent

``constraint`` is an incremental acceptor over tokens (model/backend.py's
TokenConstraint). A backend without ``supports_constraint`` cannot take one;
callers then generate freely and parse, check and repair the answer instead.

Backends come from the entry-point group ``tisslang.backends``: each entry
point names a factory called with the configuration's ``model:`` section
(without its ``backend`` key) that returns a backend. The embedded TissLM is
``tisslm``, the default, registered by this package (and built in, so a source
checkout without installed metadata has it too).
"""

from __future__ import annotations

from importlib.metadata import EntryPoint, entry_points
from typing import Protocol, Sequence

from .errors import RunError

GROUP = "tisslang.backends"
DEFAULT_BACKEND = "tisslm"
BUILT_IN = {"tisslm": EntryPoint("tisslm", "model.backend:load_backend", GROUP),
            "openai": EntryPoint("openai", "runtime.openai_backend:load_backend", GROUP)}


class ModelBackend(Protocol):
    def generate(self, prompt: str, *, system: str | None = None, max_tokens: int = 256,
                 stop: Sequence[str] = (), constraint=None) -> str: ...

    def score(self, options: list[str], context: str) -> list[float]: ...


class NoModelConfigured(RunError):
    pass


def available_backends() -> dict[str, EntryPoint]:
    """Every registered backend by name: the built-in ones, then installed plugins."""
    found = dict(BUILT_IN)
    for point in entry_points(group=GROUP):
        found[point.name] = point
    return found


def load_backend(name: str, settings: dict | None = None) -> ModelBackend:
    """The backend registered as ``name``, made from ``settings``; one clear error otherwise."""
    registry = available_backends()
    point = registry.get(name)
    if point is None:
        raise NoModelConfigured(f"unknown model backend {name!r}",
                                hint="set model.backend to one of: " + ", ".join(sorted(registry)))
    try:
        factory = point.load()
    except Exception as exc:  # a broken plugin must not look like a missing one
        raise NoModelConfigured(f"model backend {name!r} ({point.value}) failed to import: "
                                f"{type(exc).__name__}: {exc}",
                                hint="reinstall or fix the plugin, or choose another model.backend")
    try:
        return factory(dict(settings or {}))
    except ValueError as exc:  # bad settings, worded by the backend: no model directory, …
        message, _, hint = str(exc).partition("\nhint: ")
        raise NoModelConfigured(message, hint=hint or None) from None
    except Exception as exc:
        raise NoModelConfigured(f"model backend {name!r} failed to start: "
                                f"{type(exc).__name__}: {exc}") from None


def load_default_backend(config=None) -> ModelBackend:
    """The backend the configuration names (``model.backend``, default tisslm)."""
    from .config import ConfigError, load_config

    try:
        settings = (config or load_config()).model
    except ConfigError as exc:
        raise NoModelConfigured(f"configuration: {exc}", hint=exc.hint) from None
    return load_backend(settings.backend, settings.options)


def load_named_backend(name: str, config=None) -> ModelBackend:
    """The backend ``name`` (``--backend NAME``), with the configuration's
    model options when the configuration names the same backend."""
    from .config import ConfigError, load_config

    try:
        settings = (config or load_config()).model
    except ConfigError as exc:
        raise NoModelConfigured(f"configuration: {exc}", hint=exc.hint) from None
    return load_backend(name, settings.options if settings.backend == name else {})


def supports_constraint(backend) -> bool:
    return bool(getattr(backend, "supports_constraint", False))


def count_tokens(backend, text: str) -> int:
    counter = getattr(backend, "count_tokens", None)
    if counter is not None:
        return int(counter(text))
    return max(1, (len(text) + 3) // 4) if text else 0
