"""Training TissLM: the loop, evaluation, logging and resumable checkpoints.

One optimizer step:

    for each of grad_accum micro-batches:  loss, backward, add the gradients up
    average them, clip their global norm, AdamW step at the cosine-schedule lr

Everything a continuation depends on is in the checkpoint: weights, AdamW
moments, the step, the dropout generator's state and the sampler's position in
the data. Resuming therefore replays exactly the steps an uninterrupted run
would have taken, down to the last bit of every weight.

A run directory (``--out``) holds::

    tokens.bin, tokens.json   the encoded corpus (memory-mapped while training)
    log.jsonl                 one JSON object per line: start, train, eval, checkpoint, done
    curves.png                the loss curves, redrawn at each evaluation when ``plot`` (model/plot.py)
    LATEST, checkpoints/      see model/checkpoint.py
"""

from __future__ import annotations

import json
import math
import sys
import time
from pathlib import Path

import numpy as np

from model.allocator import keep_freed_memory
from model.checkpoint import LATEST, WEIGHTS, load_checkpoint, load_weights, resolve, save_checkpoint
from model.config import ConfigError, ModelConfig, TrainConfig
from model.data import BatchSampler, DataError, TokenFile, eval_batches
from model.loss import log_softmax
from model.model import TissLM
from model.optim import AdamW, clip_grad_norm, cosine_lr
from model.threads import one_blas_thread, use_one_blas_thread


def tune_process_for_training() -> None:
    """The process-wide settings training runs fastest with; the trainer owns them
    (a TissLM that only generates changes none). Both are set once per process:
    malloc keeps freed activations for reuse (model/allocator.py), and BLAS
    runs on one thread because the cores go to data-parallel shards (model/threads.py)."""
    keep_freed_memory()
    use_one_blas_thread()


class TrainingDiverged(Exception):
    """The loss stopped being a finite number; the message says when and what to try."""


# --- evaluation ---------------------------------------------------------------


def evaluate(model, tokens: np.ndarray, batch_size: int, bytes_per_token: float,
             max_windows: int | None = None) -> dict:
    """Mean next-token loss (nats) over ``tokens``, its perplexity and bits per byte.

    Bits per byte = total nats / ln 2 / bytes covered, with the bytes estimated
    from the corpus's bytes-per-token ratio (exact for the byte vocabulary).
    It does not depend on the tokenizer, so models with different vocabularies
    compare.
    """
    total_nats, count = 0.0, 0
    with one_blas_thread():  # as generation does (model/threads.py); `tiss model eval` too
        for inputs, targets in eval_batches(tokens, model.cfg.context_length, batch_size,
                                            max_windows):
            logp = log_softmax(model.forward(inputs).astype(np.float64))
            total_nats -= np.take_along_axis(logp, targets[..., None], axis=-1).sum()
            count += targets.size
    loss = float(total_nats / count)
    return {"loss": loss, "perplexity": math.exp(min(loss, 700.0)),
            "bits_per_byte": loss / math.log(2) / bytes_per_token, "tokens": count}


# --- progress and logs --------------------------------------------------------


def _duration(seconds: float) -> str:
    seconds = int(seconds)
    return f"{seconds // 3600}h{seconds // 60 % 60:02d}m" if seconds >= 3600 else \
        f"{seconds // 60}m{seconds % 60:02d}s"


class Progress:
    """A one-line bar redrawn in place on a terminal; plain lines otherwise (CI logs, pipes)."""

    def __init__(self, total: int, stream=sys.stderr, every: int = 10, enabled: bool = True):
        self.total, self.stream, self.every, self.enabled = total, stream, every, enabled
        self.tty = enabled and hasattr(stream, "isatty") and stream.isatty()
        self.last_draw = -1.0

    def _due(self, step: int) -> bool:
        """On a terminal, redraw at most 10 times a second; elsewhere every ``every`` steps."""
        if step == self.total:
            return True
        if self.tty:
            return time.monotonic() - self.last_draw >= 0.1
        return step % self.every == 0

    def update(self, step: int, loss: float, tokens_per_s: float, eta_s: float) -> None:
        if not self.enabled or not self._due(step):
            return
        self.last_draw = time.monotonic()
        text = (f"step {step}/{self.total}  loss {loss:.4f}  "
                f"{tokens_per_s:,.0f} tok/s  ETA {_duration(eta_s)}")
        if self.tty:
            filled = int(30 * step / self.total)
            self.stream.write(f"\r[{'#' * filled}{'.' * (30 - filled)}] {text}\033[K")
            if step == self.total:
                self.stream.write("\n")
        else:
            self.stream.write(text + "\n")
        self.stream.flush()

    def note(self, text: str) -> None:
        if self.enabled:
            self.stream.write(("\r\033[K" if self.tty else "") + text + "\n")
            self.stream.flush()


class JsonLog:
    """Append-only JSON lines, flushed per line so a crash loses nothing written."""

    def __init__(self, path: Path):
        self.file = open(path, "a", encoding="utf-8")

    def write(self, event: str, **fields) -> None:
        self.file.write(json.dumps({"event": event, "time": round(time.time(), 3), **fields}) + "\n")
        self.file.flush()

    def close(self) -> None:
        self.file.close()


# --- the loop -----------------------------------------------------------------


def draw_curves(out_dir: Path) -> str | None:
    """Redraw curves.png; returns why it could not be drawn (None when it
    was). Training goes on whatever happens to the picture."""
    try:
        from model.plot import plot_curves
        plot_curves(out_dir)
    except Exception as exc:   # no matplotlib, a full disk, a font problem: never stop training
        return f"{type(exc).__name__}: {str(exc).splitlines()[0] if str(exc) else ''}"
    return None


def train_step(model, optimizer, sampler: BatchSampler, config: TrainConfig,
               lr: float, rng: np.random.Generator) -> tuple[float, float]:
    """One optimizer step over ``grad_accum`` micro-batches; returns (mean loss, grad norm)."""
    losses = []
    total = None
    for _ in range(config.grad_accum):
        inputs, targets = sampler.next_batch()
        losses.append(model.loss(inputs, targets, train=True, rng=rng))
        model.backward()  # overwrites model.grads
        if config.grad_accum > 1:
            if total is None:
                total = {name: g.copy() for name, g in model.grads.items()}
            else:
                for name, g in model.grads.items():
                    total[name] += g
    grads = model.grads
    if total is not None:  # the mean over micro-batches, like one big batch
        for name, g in total.items():
            np.multiply(g, 1.0 / config.grad_accum, out=grads[name])
    norm = clip_grad_norm(grads, config.grad_clip) if config.grad_clip else _global_norm(grads)
    optimizer.step(grads, lr)
    return float(np.mean(losses)), float(norm)


def _global_norm(grads: dict) -> float:
    return math.sqrt(sum(float(np.vdot(g, g)) for g in grads.values()))


def train(model_config: ModelConfig, config: TrainConfig, out_dir, *,
          tokens_path=None, tokenizer_path=None, init=None, resume: bool = False,
          stop_at: int | None = None, progress: bool = True, stream=sys.stderr,
          plot: bool = False) -> dict:
    """Train on the token file (default ``OUT/tokens.bin``); return the final figures.

    ``init`` (a model directory) gives the starting weights instead of a
    random draw: fine-tuning, with a fresh optimizer and schedule.
    ``resume`` continues from ``OUT/LATEST`` when there is one. ``stop_at``
    ends this session after that step (with a checkpoint) without changing the
    schedule, which is planned for ``config.steps``. ``plot`` redraws
    ``OUT/curves.png`` at each evaluation; a drawing that fails is noted, never fatal.
    """
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    data = TokenFile.open(tokens_path or out_dir / "tokens.bin")
    if data.vocab_size > model_config.vocab_size:
        raise DataError(f"the corpus was encoded with a vocabulary of {data.vocab_size} ids but "
                        f"the model's vocab_size is {model_config.vocab_size}\nhint: set "
                        "vocab_size to the tokenizer's vocabulary size")
    train_tokens, val_tokens = data.split(config.val_fraction)
    tune_process_for_training()
    model = TissLM(model_config, seed=config.seed)
    if init is not None:
        load_weights(model, resolve(init) / WEIGHTS)
    optimizer = AdamW(model.params, lr=config.lr, weight_decay=config.weight_decay)
    sampler = BatchSampler(train_tokens, model_config.context_length, config.batch_size, config.seed)
    rng = np.random.default_rng([config.seed, 1])  # dropout masks
    step = 0
    if resume and (out_dir / LATEST).is_file():
        state = load_checkpoint(out_dir, model, optimizer)
        step = state["step"]
        rng.bit_generator.state = state["rng"]
        sampler.load_state_dict(state["data"])

    def checkpoint() -> Path:
        state = {"step": step, "rng": rng.bit_generator.state, "data": sampler.state_dict(),
                 "train": config.to_dict()}
        path = save_checkpoint(out_dir, model, optimizer, state, tokenizer_path,
                               keep=config.keep_checkpoints)
        log.write("checkpoint", step=step, path=str(path))
        return path

    def validate() -> dict:
        figures = evaluate(model, val_tokens, config.batch_size, data.bytes_per_token,
                           config.eval_windows)
        result = {"val_loss": figures["loss"], "val_perplexity": figures["perplexity"],
                  "val_bits_per_byte": figures["bits_per_byte"]}
        log.write("eval", step=step, **result)
        bar.note(f"step {step}: val loss {figures['loss']:.4f}  "
                 f"ppl {figures['perplexity']:.2f}  bpb {figures['bits_per_byte']:.3f}")
        problem = draw_curves(out_dir) if plot else None
        if problem and not plot_problems:   # said once, not at every evaluation
            bar.note(f"note: {out_dir / 'curves.png'} not drawn ({problem}); training goes on")
        if problem:
            plot_problems.append(problem)
        return result

    plot_problems: list[str] = []
    log = JsonLog(out_dir / "log.jsonl")
    bar = Progress(config.steps, stream, config.log_every, progress)
    log.write("start", step=step, model=model_config.to_dict(), train=config.to_dict(),
              parameters=int(sum(p.size for p in model.params.values())),
              train_tokens=len(train_tokens), val_tokens=len(val_tokens))
    tokens_per_step = config.batch_size * config.grad_accum * model_config.context_length
    last = {"step": step}
    started, start_step = time.perf_counter(), step
    try:
        while step < config.steps and (stop_at is None or step < stop_at):
            lr = cosine_lr(step, config.lr, config.warmup_steps, config.steps, config.min_lr)
            # Overflow shows up as a non-finite loss, reported below as one clear error.
            with np.errstate(over="ignore", invalid="ignore"):
                loss, norm = train_step(model, optimizer, sampler, config, lr, rng)
            step += 1
            if not math.isfinite(loss):
                log.write("diverged", step=step, loss=str(loss), lr=lr)
                raise TrainingDiverged(
                    f"the training loss became {loss} at step {step} (lr {lr:.3g})\nhint: lower "
                    "--lr, keep --grad-clip on, or resume from the last checkpoint with --resume")
            elapsed = time.perf_counter() - started
            speed = tokens_per_step * (step - start_step) / elapsed
            eta = elapsed / (step - start_step) * (config.steps - step)
            bar.update(step, loss, speed, eta)
            last = {"step": step, "loss": loss}
            if step % config.log_every == 0 or step == config.steps:
                log.write("train", step=step, loss=loss, lr=lr, grad_norm=norm,
                          tokens_per_s=round(speed, 1))
            if step % config.eval_every == 0 or step == config.steps:
                last.update(validate())
            if step % config.checkpoint_every == 0 or step == config.steps or step == stop_at:
                checkpoint()
        elapsed = time.perf_counter() - started
        last["tokens_per_s"] = tokens_per_step * (step - start_step) / elapsed if elapsed else 0.0
        log.write("done", **last)
    finally:
        log.close()
    last["checkpoint"] = str(out_dir / "checkpoints" / f"step-{step:07d}")
    return last
