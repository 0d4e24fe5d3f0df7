"""Pictures of TissLM: training curves and attention maps, as PNG files.

- ``plot_curves(run_dir)``: the training loss (and the validation loss of
  each evaluation) from ``log.jsonl``, drawn into ``curves.png`` beside it.
  ``train(..., plot=True)`` redraws it at each evaluation; ``tiss model plot
  RUN_DIR`` redraws it at any time.
- ``attention_weights(model, ids)`` and ``plot_attention``: each layer's and
  head's attention over a text, tokens on both axes (``tiss model attention``).

matplotlib is optional (the ``plot`` extra) and imported only when drawing,
with the Agg backend (no display needed); without it, ``PlotUnavailable``
says how to install it. Files are replaced atomically, so a viewer never
shows half a PNG.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from model.fileio import atomic_file

CURVES = "curves.png"
MAX_TOKENS_SHOWN = 64      # an attention map wider than this is unreadable


class PlotUnavailable(Exception):
    """matplotlib is not installed."""


def pyplot():
    """matplotlib's pyplot on the Agg backend, or PlotUnavailable."""
    try:
        import matplotlib
    except ImportError:
        raise PlotUnavailable("drawing needs matplotlib, which is not installed\n"
                              "hint: pip install 'quanta-tissu[plot]' (or pip install matplotlib)") from None
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    return plt


# --- training curves -----------------------------------------------------------------


def read_curves(log_path: Path) -> dict[str, list[tuple[int, float]]]:
    """{"train": [(step, loss)], "val": [(step, val_loss)]} from a training log.
    A resumed run logs some steps twice: the last value of a step wins. A
    line cut short by a kill is skipped."""
    series: dict[str, dict[int, float]] = {"train": {}, "val": {}}
    with open(log_path, encoding="utf-8") as lines:
        for line in lines:
            try:
                record = json.loads(line)
            except ValueError:
                continue
            if record.get("event") == "train" and "loss" in record:
                series["train"][int(record["step"])] = float(record["loss"])
            elif record.get("event") == "eval" and "val_loss" in record:
                series["val"][int(record["step"])] = float(record["val_loss"])
    return {name: sorted(points.items()) for name, points in series.items()}


def plot_curves(run_dir: Path, out: Path | None = None) -> Path:
    """Draw ``run_dir/log.jsonl``'s curves into ``out`` (default
    ``run_dir/curves.png``); returns the file written."""
    run_dir = Path(run_dir)
    log_path = run_dir / "log.jsonl"
    if not log_path.is_file():
        raise FileNotFoundError(f"{log_path} does not exist: {run_dir} is not a training run "
                                "(tiss model train --out DIR writes one)")
    series = read_curves(log_path)
    if not series["train"] and not series["val"]:
        raise ValueError(f"{log_path} has no training or evaluation figures yet; "
                         "wait for the first --log-every steps")
    plt = pyplot()
    fig, ax = plt.subplots(figsize=(7, 4), dpi=100)
    try:
        for name, label, style in (("train", "training loss", "-"), ("val", "validation loss", "o-")):
            if series[name]:
                steps, values = zip(*series[name])
                ax.plot(steps, values, style, label=label, markersize=4)
        ax.set_xlabel("step")
        ax.set_ylabel("loss (nats/token)")
        ax.set_title(f"TissLM training: {run_dir.name}")
        ax.grid(alpha=0.3)
        ax.legend()
        fig.tight_layout()
        return _save(fig, out or run_dir / CURVES)
    finally:
        plt.close(fig)


# --- attention maps --------------------------------------------------------------------


def attention_weights(model, ids) -> np.ndarray:
    """(layers, heads, T, T): how much each token (row) attends to each earlier
    token (column), in every layer and head, for one sequence of ids."""
    ids = np.asarray(ids, dtype=np.int64)[None, :]
    model._check_ids(ids)
    net = model.net
    net.logits(ids, keep=True)   # keep: each attention layer saves its probabilities
    maps = []
    for block in net.blocks:
        attn = block.attn
        probs = attn.saved[4]                                   # (1, K, G*T, T)
        T = ids.shape[1]
        maps.append(probs.reshape(1, attn.K, attn.G, T, T).reshape(attn.H, T, T))
    return np.stack(maps).astype(np.float32)


def token_labels(tokenizer, ids) -> list[str]:
    """Each token as text, made visible (spaces, newlines) for an axis."""
    labels = []
    for token in ids:
        text = tokenizer.decode([int(token)])
        labels.append(text.replace("\n", "\\n").replace("\t", "\\t").replace(" ", "␣") or "∅")
    return labels


def plot_attention(weights: np.ndarray, labels: list[str], out: Path, title: str = "") -> Path:
    """A grid of heatmaps: one row per layer, one column per head."""
    layers, heads, T, _ = weights.shape
    plt = pyplot()
    size = max(2.5, min(0.22 * T, 7.0))
    fig, axes = plt.subplots(layers, heads, figsize=(size * heads + 0.6, size * layers + 0.8),
                             dpi=100, squeeze=False)
    try:
        for layer in range(layers):
            for head in range(heads):
                ax = axes[layer][head]
                ax.imshow(weights[layer, head], cmap="viridis", vmin=0.0, vmax=1.0)
                ax.set_title(f"layer {layer} · head {head}", fontsize=9)
                ax.set_xticks(range(T), labels, rotation=90, fontsize=7)
                ax.set_yticks(range(T), labels, fontsize=7)
        if title:
            fig.suptitle(title)
        fig.tight_layout()
        return _save(fig, Path(out))
    finally:
        plt.close(fig)


def _save(fig, out: Path) -> Path:
    with atomic_file(out, fsync=False) as stream:
        fig.savefig(stream, format="png")
    return out
