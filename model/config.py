"""The shape of a TissLM network and the schedule that trains it, as two small
dataclasses (numpy-free, so that ``tiss`` builds its flags without loading it).

A config round-trips through plain dicts (``to_dict``/``from_dict``), which is
what checkpoints store as JSON, and can be read from YAML (``from_yaml``).
Every field is checked when the config is built, so a bad value fails once,
early, with a message that names the field and says how to fix it.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, fields
from pathlib import Path

NORMS = ("rmsnorm", "layernorm")
FFNS = ("swiglu", "gelu", "relu")
POSITIONS = ("rope", "sinusoidal", "learned")
DTYPES = ("float32", "float64")


class ConfigError(ValueError):
    """A config value that cannot describe a network; the message says why."""


@dataclass
class ModelConfig:
    vocab_size: int = 256
    context_length: int = 128
    n_layers: int = 4
    d_model: int = 128
    n_heads: int = 4
    # Heads that carry keys/values: n_heads (multi-head), a divisor of it
    # (grouped-query) or 1 (multi-query). None means "same as n_heads".
    n_kv_heads: int | None = None
    # Hidden width of the feed-forward layer; None picks 4 * d_model
    # (or 8/3 * d_model for SwiGLU, rounded to a multiple of 8, so the
    # parameter count matches a 4x GELU/ReLU layer).
    d_ff: int | None = None
    norm: str = "rmsnorm"
    ffn: str = "swiglu"
    positions: str = "rope"
    tied_embeddings: bool = False
    dropout: float = 0.0
    label_smoothing: float = 0.0
    dtype: str = "float32"
    rope_base: float = 10000.0
    norm_eps: float = 1e-5

    def __post_init__(self) -> None:
        if self.n_kv_heads is None:
            self.n_kv_heads = self.n_heads
        if self.d_ff is None:
            self.d_ff = _default_d_ff(self.d_model, self.ffn)
        self._validate()

    @property
    def head_dim(self) -> int:
        return self.d_model // self.n_heads

    def _validate(self) -> None:
        for name in ("vocab_size", "context_length", "n_layers", "d_model",
                     "n_heads", "n_kv_heads", "d_ff"):
            value = getattr(self, name)
            if not isinstance(value, int) or isinstance(value, bool) or value < 1:
                raise ConfigError(f"{name} must be a positive integer, got {value!r}")
        _check_choice("norm", self.norm, NORMS)
        _check_choice("ffn", self.ffn, FFNS)
        _check_choice("positions", self.positions, POSITIONS)
        _check_choice("dtype", self.dtype, DTYPES)
        if self.d_model % self.n_heads:
            raise ConfigError(
                f"d_model ({self.d_model}) must be divisible by n_heads ({self.n_heads}); "
                f"pick n_heads among the divisors of {self.d_model}")
        if self.n_heads % self.n_kv_heads:
            raise ConfigError(
                f"n_heads ({self.n_heads}) must be a multiple of n_kv_heads "
                f"({self.n_kv_heads}): use n_kv_heads = n_heads (MHA), a divisor (GQA) or 1 (MQA)")
        if self.positions == "rope" and self.head_dim % 2:
            raise ConfigError(
                f"RoPE rotates pairs of features, so head_dim = d_model / n_heads "
                f"({self.head_dim}) must be even")
        if self.positions == "sinusoidal" and self.d_model % 2:
            raise ConfigError(f"sinusoidal positions need an even d_model, got {self.d_model}")
        if not 0.0 <= self.dropout < 1.0:
            raise ConfigError(f"dropout must be in [0, 1), got {self.dropout!r}")
        if not 0.0 <= self.label_smoothing < 1.0:
            raise ConfigError(f"label_smoothing must be in [0, 1), got {self.label_smoothing!r}")

    def to_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict) -> "ModelConfig":
        if not isinstance(data, dict):
            raise ConfigError(f"a model config must be a mapping, got {type(data).__name__}")
        known = {f.name for f in fields(cls)}
        unknown = sorted(set(data) - known)
        if unknown:
            raise ConfigError(
                f"unknown model config key(s): {', '.join(unknown)}; "
                f"known keys are: {', '.join(sorted(known))}")
        try:
            return cls(**data)
        except TypeError as exc:  # e.g. a string where a number belongs
            raise ConfigError(f"bad model config: {exc}") from None

    @classmethod
    def from_yaml(cls, path: str | Path) -> "ModelConfig":
        import yaml

        path = Path(path)
        try:
            data = yaml.safe_load(path.read_text(encoding="utf-8"))
        except OSError as exc:
            raise ConfigError(f"cannot read model config {path}: {exc.strerror}") from None
        except yaml.YAMLError as exc:
            raise ConfigError(f"{path}: not valid YAML: {exc}") from None
        try:
            return cls.from_dict(data if data is not None else {})
        except ConfigError as exc:
            raise ConfigError(f"{path}: {exc}") from None


def _check_choice(name: str, value: str, choices: tuple[str, ...]) -> None:
    if value not in choices:
        raise ConfigError(f"{name} must be one of {', '.join(choices)}; got {value!r}")


def _default_d_ff(d_model: int, ffn: str) -> int:
    if ffn == "swiglu":
        return max(8, (int(8 * d_model / 3) + 7) // 8 * 8)
    return 4 * d_model


@dataclass
class TrainConfig:
    steps: int = 1000
    batch_size: int = 16
    grad_accum: int = 1           # micro-batches per optimizer step
    lr: float = 3e-3              # peak learning rate, reached after warmup
    min_lr: float = 3e-4          # the cosine schedule decays to this
    warmup_steps: int = 100
    weight_decay: float = 0.1     # decoupled (AdamW); not applied to norms, biases, embeddings
    grad_clip: float = 1.0        # max global gradient norm (0 disables clipping)
    val_fraction: float = 0.05    # the tail of the corpus held out for validation
    eval_every: int = 200
    eval_windows: int = 64        # validation windows per evaluation (spread over the split)
    checkpoint_every: int = 500
    keep_checkpoints: int = 2
    log_every: int = 10
    seed: int = 0

    def __post_init__(self) -> None:
        for f in fields(self):
            setattr(self, f.name, _as_number(f.name, getattr(self, f.name), type(f.default)))
        for name in ("steps", "batch_size", "grad_accum", "eval_every", "eval_windows",
                     "checkpoint_every", "keep_checkpoints", "log_every"):
            if getattr(self, name) < 1:
                raise ConfigError(f"train.{name} must be a positive integer, got {getattr(self, name)!r}")
        if not 0 <= self.min_lr <= self.lr:
            raise ConfigError(f"need 0 <= min_lr <= lr, got min_lr={self.min_lr}, lr={self.lr}")
        if not 0 < self.val_fraction < 1:
            raise ConfigError(f"train.val_fraction must be in (0, 1), got {self.val_fraction}")
        if self.warmup_steps < 0 or self.grad_clip < 0 or self.weight_decay < 0:
            raise ConfigError("train.warmup_steps, grad_clip and weight_decay must be >= 0")

    @classmethod
    def from_dict(cls, data: dict) -> "TrainConfig":
        if not isinstance(data, dict):
            raise ConfigError(f"a train config must be a mapping, got {type(data).__name__}")
        unknown = sorted(set(data) - {f.name for f in fields(cls)})
        if unknown:
            raise ConfigError(f"unknown train config key(s): {', '.join(unknown)}; known keys "
                              f"are: {', '.join(f.name for f in fields(cls))}")
        return cls(**data)

    def to_dict(self) -> dict:
        return asdict(self)


def _as_number(name: str, value, kind: type):
    """``value`` as an int or a float. YAML reads ``3e-3`` (no dot) as a string, so numeric
    strings are accepted; anything else is a clear error."""
    try:
        if isinstance(value, bool):
            raise ValueError
        if kind is int:
            if isinstance(value, float) and not value.is_integer():
                raise ValueError
            return int(value)
        return float(value)
    except (TypeError, ValueError):
        raise ConfigError(f"train.{name} must be {'an integer' if kind is int else 'a number'}, "
                          f"got {value!r}") from None
