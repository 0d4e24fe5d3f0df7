"""The shape of a TissLM network, as one small dataclass.

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
