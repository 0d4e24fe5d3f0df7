"""The user's configuration: ``~/.config/quanta-tissu/config.yaml`` (or
``$XDG_CONFIG_HOME/quanta-tissu/config.yaml``), overridden by the file named
in ``$TISS_CONFIG``. Command-line flags win over it.

Example::

    sandbox:
      backend: auto          # auto | docker | bwrap | host
      image: null            # Docker image; null = the local image
      memory_mb: 1024
      pids: 256
      cpus: 1.0
      max_output: 1MB        # per stream; bytes or 64KB / 1MB
      allow_network: false   # lets a plan's @network "on" take effect
    journal:
      fsync: step            # always | step | never: what survives a power cut
                             # (docs/runtime.md, runtime/journal.py)
    model:
      backend: tisslm        # a name in the entry-point group tisslang.backends
      path: ~/tisslm         # tisslm: a model directory (`tiss model train --out`)
                             # other keys go to the backend (runtime/models.py);
                             # backend: openai takes base_url, model, api_key_env, …
                             # (runtime/openai_backend.py)

The ``TISS_MODEL_*`` variables of ``MODEL_ENV`` override ``model:`` keys.
Other sections are kept in ``UserConfig.raw`` for the areas that read them.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass, field
from pathlib import Path

from .errors import Stop
from .journal import DEFAULT_FSYNC, FSYNC_MODES
from .sandbox import BACKENDS
from .sandbox.base import DEFAULT_MAX_OUTPUT, SandboxConfig

CONFIG_ENV = "TISS_CONFIG"
# Environment variables that choose the model without editing a file; each
# wins over its key in `model:` (`tiss config show` says which one did).
MODEL_ENV = {"TISS_MODEL_BACKEND": "backend", "TISS_MODEL_PATH": "path",
             "TISS_MODEL_BASE_URL": "base_url", "TISS_MODEL_NAME": "model",
             "TISS_MODEL_API_KEY_ENV": "api_key_env"}
_SIZE = re.compile(r"^\s*(\d+)\s*([KMG]?)B?\s*$", re.IGNORECASE)


class ConfigError(Exception):
    """The configuration file is unreadable or holds a bad value."""

    def __init__(self, message: str, hint: str | None = None):
        super().__init__(message)
        self.hint = hint


@dataclass
class SandboxSettings:
    backend: str = "auto"
    image: str | None = None
    memory_mb: int = 1024
    pids: int = 256
    cpus: float = 1.0
    max_output: int = DEFAULT_MAX_OUTPUT
    allow_network: bool = False

    def sandbox_config(self, workspace: Path, run_id: str, *, image: str | None = None,
                       network_requested: bool = False, max_output: int | None = None,
                       env: dict[str, str] | None = None) -> SandboxConfig:
        """The SandboxConfig of one run. The plan's ``@image`` wins over the
        config's; the network is on only when the plan asks (``@network``)
        AND the user allows it."""
        return SandboxConfig(
            workspace=Path(workspace), run_id=run_id, image=image or self.image,
            network=network_requested and self.allow_network, memory_mb=self.memory_mb,
            pids=self.pids, cpus=self.cpus, max_output=max_output or self.max_output,
            env=dict(env or {}),
        )


@dataclass
class JournalSettings:
    fsync: str = DEFAULT_FSYNC


@dataclass
class ModelSettings:
    backend: str = "tisslm"
    options: dict = field(default_factory=dict)  # the rest of `model:`, for the backend
    sources: dict = field(default_factory=dict)  # key -> the file or $VARIABLE it came from


@dataclass
class UserConfig:
    sandbox: SandboxSettings = field(default_factory=SandboxSettings)
    journal: JournalSettings = field(default_factory=JournalSettings)
    model: ModelSettings = field(default_factory=ModelSettings)
    path: Path | None = None        # the file it came from; None = defaults only
    raw: dict = field(default_factory=dict)


def config_path() -> Path:
    if os.environ.get(CONFIG_ENV):
        return Path(os.environ[CONFIG_ENV]).expanduser()
    base = os.environ.get("XDG_CONFIG_HOME") or Path.home() / ".config"
    return Path(base) / "quanta-tissu" / "config.yaml"


def load_config(path: Path | str | None = None) -> UserConfig:
    """Read the configuration; defaults when the default file does not exist.
    A file named explicitly ($TISS_CONFIG or ``path``) must exist."""
    explicit = path is not None or bool(os.environ.get(CONFIG_ENV))
    path = Path(path) if path is not None else config_path()
    if not path.exists():
        if explicit:
            raise ConfigError(f"{path}: configuration file not found",
                              hint=f"create it, or unset ${CONFIG_ENV}")
        return _with_environment(UserConfig())
    data = read_yaml(path)
    return _with_environment(UserConfig(sandbox=_sandbox_settings(data.get("sandbox") or {}, path),
                                        journal=_journal_settings(data.get("journal") or {}, path),
                                        model=_model_settings(data.get("model") or {}, path),
                                        path=path, raw=data))


def _with_environment(config: UserConfig) -> UserConfig:
    """The ``MODEL_ENV`` variables that are set win over the file's ``model:`` keys."""
    for variable, key in MODEL_ENV.items():
        value = os.environ.get(variable, "").strip()
        if not value:
            continue
        if key == "backend":
            config.model.backend = value
        else:
            config.model.options[key] = value
        config.model.sources[key] = f"${variable}"
    return config


def read_yaml(path: Path, text: str | None = None) -> dict:
    """A configuration file (this one, a workspace's tiss.yaml) as a mapping
    of sections; ConfigError says where it is wrong. ``text``: its content,
    already read (what a trust check hashed is what gets parsed)."""
    import yaml   # here, not at the top: most runs read no configuration file

    try:
        data = yaml.safe_load(path.read_text() if text is None else text) or {}
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f":{mark.line + 1}:{mark.column + 1}" if mark else ""
        raise ConfigError(f"{path}{where}: not valid YAML ({getattr(exc, 'problem', exc)})",
                          hint="fix the YAML syntax") from None
    except OSError as exc:
        raise ConfigError(f"{path}: cannot read it ({exc.strerror})") from None
    if not isinstance(data, dict):
        raise ConfigError(f"{path}: the top level must be a mapping of sections",
                          hint="start with a section name, e.g. `sandbox:`")
    return data


def load_for_run() -> UserConfig:
    """``load_config`` for a run: a broken file stops it with its own message."""
    try:
        return load_config()
    except ConfigError as exc:
        raise Stop(f"configuration: {exc}", hint=exc.hint) from None


def _journal_settings(section, path: Path) -> JournalSettings:
    if not isinstance(section, dict):
        raise ConfigError(f"{path}: `journal` must be a mapping", hint="e.g. `journal: {fsync: always}`")
    settings = JournalSettings()
    for key, value in section.items():
        if key != "fsync":
            raise ConfigError(f"{path}: unknown setting journal.{key}", hint="known: fsync")
        if value not in FSYNC_MODES:
            raise ConfigError(f"{path}: journal.fsync is {value!r}",
                              hint="use one of: " + ", ".join(FSYNC_MODES))
        settings.fsync = value
    return settings


def _model_settings(section, path: Path) -> ModelSettings:
    """``backend`` picks the registry entry; the other keys are the backend's to check."""
    if not isinstance(section, dict):
        raise ConfigError(f"{path}: `model` must be a mapping", hint="e.g. `model: {path: ~/tisslm}`")
    options = dict(section)
    backend = options.pop("backend", "tisslm")
    if not (isinstance(backend, str) and backend.strip()):
        raise ConfigError(f"{path}: model.backend must be a backend name, not {backend!r}",
                          hint="e.g. tisslm (the embedded model)")
    if isinstance(options.get("path"), str):  # relative to the file that names it
        options["path"] = str(path.parent / Path(options["path"]).expanduser())
    return ModelSettings(backend=backend, options=options, sources={key: str(path) for key in section})


def _sandbox_settings(section, path: Path) -> SandboxSettings:
    if not isinstance(section, dict):
        raise ConfigError(f"{path}: `sandbox` must be a mapping", hint="e.g. `sandbox: {pids: 128}`")
    settings = SandboxSettings()
    for key, value in section.items():
        where = f"{path}: sandbox.{key}"
        if key == "backend":
            if value not in BACKENDS:
                raise ConfigError(f"{where} is {value!r}", hint="use one of: " + ", ".join(BACKENDS))
            settings.backend = value
        elif key == "image":
            if value is not None and not (isinstance(value, str) and value.strip()):
                raise ConfigError(f"{where} must be an image name", hint="e.g. python:3.12-slim, or null")
            settings.image = value
        elif key in ("memory_mb", "pids"):
            setattr(settings, key, _positive(value, int, where))
        elif key == "cpus":
            settings.cpus = _positive(value, float, where)
        elif key == "max_output":
            settings.max_output = _size(value, where)
        elif key == "allow_network":
            if not isinstance(value, bool):
                raise ConfigError(f"{where} must be true or false, not {value!r}")
            settings.allow_network = value
        else:
            known = "backend, image, memory_mb, pids, cpus, max_output, allow_network"
            raise ConfigError(f"{path}: unknown setting sandbox.{key}", hint=f"known: {known}")
    return settings


def _positive(value, kind, where):
    if isinstance(value, bool) or not isinstance(value, (int, float)) or value <= 0 or (
            kind is int and value != int(value)):
        raise ConfigError(f"{where} must be a positive {'integer' if kind is int else 'number'}, "
                          f"not {value!r}")
    return kind(value)


def _size(value, where) -> int:
    if isinstance(value, int) and not isinstance(value, bool) and value > 0:
        return value
    match = _SIZE.match(str(value))
    if not match or int(match.group(1)) == 0:
        raise ConfigError(f"{where} must be a size like 65536, 64KB or 1MB, not {value!r}")
    return int(match.group(1)) << {"": 0, "K": 10, "M": 20, "G": 30}[match.group(2).upper()]
