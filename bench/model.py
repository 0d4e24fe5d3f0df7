"""TissLM (NumPy) against the same model in PyTorch eager, side by side.

Both run in this one process, alternating, from the same initial weights on the
same data, so a busy machine slows both alike and the ratios stay meaningful.

    python bench/model.py            # full run (several minutes)
    python bench/model.py --quick    # under two minutes
    python bench/model.py --json     # one JSON object on stdout

Figures: training tokens/s (4 layers / d_model 128 and 6 layers / d_model 256),
validation loss after the same training on Shakespeare bytes, generation with
and without the KV cache, peak RSS, and the tokenizer's figures from
bench/tokenizer.py when it is there. torch comes from the ``bench`` extra and is
imported only here.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import resource
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from model.config import ModelConfig  # noqa: E402
from model.model import TissLM  # noqa: E402
from model.optim import AdamW, cosine_lr, default_no_decay  # noqa: E402
from model.positions import sinusoidal_table  # noqa: E402
from model.train import tune_process_for_training  # noqa: E402

torch = F = None  # imported by load_torch(): the NumPy learning worker runs without it


def load_torch() -> None:
    global torch, F
    try:
        import torch
        import torch.nn.functional as F
    except ModuleNotFoundError:
        sys.exit("bench/model.py needs torch: pip install -e '.[bench]'")
    torch.set_num_threads(2)

SMALL = dict(vocab_size=256, context_length=128, n_layers=4, d_model=128, n_heads=4)
LARGE = dict(vocab_size=256, context_length=128, n_layers=6, d_model=256, n_heads=8)
BATCH = 16


# --- the same model in PyTorch ----------------------------------------------------


class TorchLM:
    """TissLM's architecture in PyTorch, over a dict of tensors with TissLM's
    names and layouts (weights (in, out), used as x @ W)."""

    def __init__(self, cfg: ModelConfig, numpy_params: dict[str, np.ndarray]) -> None:
        if cfg.dropout:
            raise ValueError("the PyTorch reference has no dropout: compare with dropout=0")
        self.cfg = cfg
        self.params = {name: torch.tensor(p, requires_grad=True) for name, p in numpy_params.items()}
        if cfg.positions == "rope":
            hd = cfg.head_dim
            inv_freq = cfg.rope_base ** (-torch.arange(0, hd, 2, dtype=torch.float64) / hd)
            angles = torch.outer(torch.arange(cfg.context_length, dtype=torch.float64), inv_freq)
            complex_dtype = torch.complex64 if cfg.dtype == "float32" else torch.complex128
            self.rotations = torch.polar(torch.ones_like(angles), angles).to(complex_dtype)

    def _norm(self, x, name):
        P, eps = self.params, self.cfg.norm_eps
        if self.cfg.norm == "rmsnorm":
            return F.rms_norm(x, (x.shape[-1],), P[f"{name}.weight"], eps)
        return F.layer_norm(x, (x.shape[-1],), P[f"{name}.weight"], P[f"{name}.bias"], eps)

    def _rope(self, x, T):  # x: (B, T, heads, hd); adjacent pairs as complex numbers
        z = torch.view_as_complex(x.reshape(*x.shape[:-1], -1, 2))
        return torch.view_as_real(z * self.rotations[:T, None, :]).flatten(-2)

    def _ffn(self, x, name):
        P = self.params
        if self.cfg.ffn == "swiglu":
            return (F.silu(x @ P[f"{name}.w_gate"]) * (x @ P[f"{name}.w_up"])) @ P[f"{name}.w_down"]
        a = x @ P[f"{name}.w_in"]
        h = F.relu(a) if self.cfg.ffn == "relu" else F.gelu(a, approximate="tanh")
        return h @ P[f"{name}.w_out"]

    def logits(self, ids):
        cfg, P = self.cfg, self.params
        B, T = ids.shape
        H, K, hd = cfg.n_heads, cfg.n_kv_heads, cfg.head_dim
        x = P["tok_emb"][ids]
        if cfg.positions == "learned":
            x = x + P["pos_emb"][:T]
        elif cfg.positions == "sinusoidal":
            x = x + torch.from_numpy(sinusoidal_table(T, cfg.d_model, cfg.dtype))
        for i in range(cfg.n_layers):
            name = f"blocks.{i}"
            h = self._norm(x, f"{name}.norm1")
            q = (h @ P[f"{name}.attn.wq"]).view(B, T, H, hd)
            k = (h @ P[f"{name}.attn.wk"]).view(B, T, K, hd)
            v = (h @ P[f"{name}.attn.wv"]).view(B, T, K, hd)
            if cfg.positions == "rope":
                q, k = self._rope(q, T), self._rope(k, T)
            y = F.scaled_dot_product_attention(q.transpose(1, 2), k.transpose(1, 2),
                                               v.transpose(1, 2), is_causal=True,
                                               enable_gqa=K != H)
            x = x + y.transpose(1, 2).reshape(B, T, H * hd) @ P[f"{name}.attn.wo"]
            x = x + self._ffn(self._norm(x, f"{name}.norm2"), f"{name}.ffn")
        x = self._norm(x, "norm_f")
        out = P["tok_emb"].T if cfg.tied_embeddings else P["lm_head"]
        return x @ out

    def loss(self, ids, targets):
        logits = self.logits(ids)
        return F.cross_entropy(logits.reshape(-1, logits.shape[-1]), targets.reshape(-1),
                               label_smoothing=self.cfg.label_smoothing, ignore_index=-1)

    def optimizer(self, lr, weight_decay):
        decay = [p for n, p in self.params.items() if not default_no_decay(n)]
        rest = [p for n, p in self.params.items() if default_no_decay(n)]
        return torch.optim.AdamW([{"params": decay, "weight_decay": weight_decay},
                                  {"params": rest, "weight_decay": 0.0}], lr=lr)


def check_same_model(cfg_kwargs) -> dict:
    """Max |difference| of logits and of every gradient between the two
    implementations in float64: both must be ~1e-12 for the race to be fair."""
    cfg = ModelConfig(**{**cfg_kwargs, "dtype": "float64"})
    ours = TissLM(cfg, seed=0)
    theirs = TorchLM(cfg, ours.params)
    ids = np.random.default_rng(0).integers(0, cfg.vocab_size, (2, cfg.context_length + 1))
    x, y = ids[:, :-1], ids[:, 1:]
    with torch.no_grad():
        ref = theirs.logits(torch.from_numpy(x)).numpy()
    ours.loss(x, y)
    ours.backward()
    theirs.loss(torch.from_numpy(x), torch.from_numpy(y)).backward()
    grad_diff = max(float(np.abs(ours.grads[n] - p.grad.numpy()).max())
                    for n, p in theirs.params.items())
    return {"logits": float(np.abs(ours.forward(x) - ref).max()), "grads": grad_diff}


# --- training throughput ------------------------------------------------------------


def training_throughput(cfg_kwargs, steps: int, rounds: int) -> dict:
    cfg = ModelConfig(**cfg_kwargs)
    ours = TissLM(cfg, seed=0)
    theirs = TorchLM(cfg, ours.params)
    opt_ours = AdamW(ours.params, lr=1e-3, weight_decay=0.1)
    opt_theirs = theirs.optimizer(lr=1e-3, weight_decay=0.1)
    rng = np.random.default_rng(0)
    ids = rng.integers(0, cfg.vocab_size, (BATCH, cfg.context_length + 1))
    x, y = ids[:, :-1], ids[:, 1:]
    tx, ty = torch.from_numpy(x), torch.from_numpy(y)

    def step_ours():
        ours.loss(x, y)
        ours.backward()
        opt_ours.step(ours.grads)

    def step_theirs():
        opt_theirs.zero_grad(set_to_none=True)
        theirs.loss(tx, ty).backward()
        opt_theirs.step()

    def step_theirs_one_thread():
        torch.set_num_threads(1)
        try:
            step_theirs()
        finally:
            torch.set_num_threads(2)

    contenders = {"numpy": step_ours, "torch": step_theirs, "torch_1thread": step_theirs_one_thread}
    for fn in contenders.values():  # warm up: first-call allocations, thread pools
        fn()
    # TissLM times its first steps with each worker thread count (model/threads.py;
    # it re-checks every 100 steps): measure the steady state after that
    for _ in range(ours.threads.probes * len(ours.threads.candidates)):
        step_ours()
    times = {name: [] for name in contenders}
    for _ in range(rounds):
        for name, fn in contenders.items():
            # let the other side's spinning worker threads go to sleep first,
            # so they do not steal cores from this side's timed steps
            time.sleep(0.3)
            start = time.perf_counter()
            for _ in range(steps):
                fn()
            times[name].append((time.perf_counter() - start) / steps)
    tokens = BATCH * cfg.context_length
    # the median round of each: robust to a neighbour's burst of work
    per_step = {k: float(np.median(v)) for k, v in times.items()}
    return {
        "numpy_tokens_per_s": tokens / per_step["numpy"],
        "torch_tokens_per_s": tokens / per_step["torch"],
        "torch_1thread_tokens_per_s": tokens / per_step["torch_1thread"],
        "ratio": per_step["torch"] / per_step["numpy"],
        "ratio_vs_torch_1thread": per_step["torch_1thread"] / per_step["numpy"],
        "numpy_threads": ours.threads.chosen,
    }


# --- learning: the same training run on Shakespeare bytes ---------------------------------

LEARN = dict(lr=2e-3, min_lr=2e-4, weight_decay=0.1, clip=1.0, val_fraction=0.05)


def shakespeare_bytes() -> np.ndarray:
    from model.data import shakespeare_files

    return np.frombuffer(b"".join(p.read_bytes() for p in shakespeare_files()), dtype=np.uint8)


def learn(impl: str, steps: int, eval_windows: int) -> dict:
    """Train SMALL for ``steps`` steps from seed 0 and return the validation loss."""
    from model.data import BatchSampler, eval_batches
    from model.optim import clip_grad_norm

    data = shakespeare_bytes()
    n_val = int(len(data) * LEARN["val_fraction"])
    train_tokens, val_tokens = data[:-n_val], data[-n_val:]
    cfg = ModelConfig(**SMALL)
    ours = TissLM(cfg, seed=0)
    sampler = BatchSampler(train_tokens, cfg.context_length, BATCH, seed=0)
    warmup = max(1, steps // 15)
    started = time.perf_counter()
    if impl == "numpy":
        opt = AdamW(ours.params, lr=LEARN["lr"], weight_decay=LEARN["weight_decay"])
        for step in range(steps):
            x, y = sampler.next_batch()
            ours.loss(x, y)
            ours.backward()
            clip_grad_norm(ours.grads, LEARN["clip"])
            opt.step(ours.grads, cosine_lr(step, LEARN["lr"], warmup, steps, LEARN["min_lr"]))

        def batch_loss(x, y):
            return ours.loss(x, y, train=False)
    else:
        # Only the loss is compared here, and on a busy machine PyTorch on two
        # threads can be several times slower than on one (see the throughput
        # figures): train it on the faster single thread.
        torch.set_num_threads(1)
        theirs = TorchLM(cfg, ours.params)
        opt = theirs.optimizer(LEARN["lr"], LEARN["weight_decay"])
        params = list(theirs.params.values())
        for step in range(steps):
            x, y = sampler.next_batch()
            for group in opt.param_groups:
                group["lr"] = cosine_lr(step, LEARN["lr"], warmup, steps, LEARN["min_lr"])
            opt.zero_grad(set_to_none=True)
            theirs.loss(torch.from_numpy(x), torch.from_numpy(y)).backward()
            torch.nn.utils.clip_grad_norm_(params, LEARN["clip"])
            opt.step()

        def batch_loss(x, y):
            with torch.no_grad():
                return float(theirs.loss(torch.from_numpy(x), torch.from_numpy(y)))
    train_s = time.perf_counter() - started
    total = count = 0.0
    for x, y in eval_batches(val_tokens, cfg.context_length, BATCH, eval_windows):
        total += batch_loss(x, y) * y.size
        count += y.size
    return {"val_loss": total / count, "train_s": train_s, "peak_rss_mb": peak_rss_mb()}


def peak_rss_mb() -> float:
    """This process's peak resident set (VmHWM). Unlike getrusage's ru_maxrss,
    it is not inherited from the parent across fork + exec."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def learn_numpy_in_child(steps: int, eval_windows: int) -> dict:
    """The NumPy run in a fresh process without torch, so its peak RSS is its own."""
    out = subprocess.run([sys.executable, __file__, "--learn-worker", str(steps), str(eval_windows)],
                         capture_output=True, text=True, check=True)
    return json.loads(out.stdout)


# --- generation: KV cache against recomputing everything -------------------------------------


def generation_speed(new_tokens: int) -> dict:
    from model.generate import SamplingParams, generate_ids

    cfg = ModelConfig(**{**SMALL, "context_length": 512})
    model = TissLM(cfg, seed=0)
    prompt = [list(range(32, 48))]
    params = SamplingParams(max_new_tokens=new_tokens, temperature=0.0)
    generate_ids(model, prompt, SamplingParams(max_new_tokens=8, temperature=0.0))  # warm-up
    seconds, tokens = {True: math.inf, False: math.inf}, {}
    for _ in range(3):  # best of 3, alternating, so a busy moment hits both alike
        for use_cache in (True, False):
            started = time.perf_counter()
            ids, _ = generate_ids(model, prompt, params, use_cache=use_cache)
            seconds[use_cache] = min(seconds[use_cache], time.perf_counter() - started)
            tokens[use_cache] = ids[0]
    return {
        "kv_tokens_per_s": new_tokens / seconds[True],
        "no_cache_tokens_per_s": new_tokens / seconds[False],
        "kv_speedup": seconds[False] / seconds[True],
        "kv_same_tokens": tokens[True] == tokens[False],
    }


def tokenizer_figures(quick: bool) -> dict:
    try:
        from bench.tokenizer import measure
    except ModuleNotFoundError:
        return {}
    return measure(quick)


# --- report ---------------------------------------------------------------------------


def run(quick: bool, log) -> dict:
    load_torch()
    # this bench trains TissLM, so it sets what the trainer sets; after torch is
    # loaded, as when TissLM set it itself, so the BLAS limit reaches the same libraries
    tune_process_for_training()
    # the machine is shared: say how busy it was, so the figures can be read right
    out: dict = {"quick": quick, "load_avg_at_start": os.getloadavg()[0], "cpus": os.cpu_count()}
    log(f"{os.cpu_count()} CPUs, load average {os.getloadavg()[0]:.1f} at the start")
    same = check_same_model(SMALL)
    out["f64_max_logit_diff_vs_torch"], out["f64_max_grad_diff_vs_torch"] = same["logits"], same["grads"]
    log(f"same model check (float64): logits differ by {same['logits']:.1e}, "
        f"gradients by {same['grads']:.1e}")

    for label, cfg, steps, rounds in (("4L/d128", SMALL, 3 if quick else 5, 3 if quick else 6),
                                      ("6L/d256", LARGE, 1 if quick else 3, 2 if quick else 4)):
        figures = training_throughput(cfg, steps, rounds)
        log(f"training {label}, batch {BATCH} x {cfg['context_length']}: TissLM "
            f"{figures['numpy_tokens_per_s']:,.0f} tok/s, PyTorch (2 threads) "
            f"{figures['torch_tokens_per_s']:,.0f} tok/s, ratio {figures['ratio']:.2f}x; "
            f"PyTorch on 1 thread {figures['torch_1thread_tokens_per_s']:,.0f} tok/s, "
            f"ratio {figures['ratio_vs_torch_1thread']:.2f}x (TissLM chose "
            f"{figures['numpy_threads']} worker thread(s))")
        prefix = "train" if label == "4L/d128" else "train_large"
        out[f"{prefix}_tokens_per_s"] = figures["numpy_tokens_per_s"]
        out[f"{prefix}_torch_tokens_per_s"] = figures["torch_tokens_per_s"]
        out[f"{prefix}_ratio_vs_torch"] = figures["ratio"]
        out[f"{prefix}_torch_1thread_tokens_per_s"] = figures["torch_1thread_tokens_per_s"]
        out[f"{prefix}_ratio_vs_torch_1thread"] = figures["ratio_vs_torch_1thread"]
        out[f"{prefix}_threads"] = figures["numpy_threads"]

    steps, windows = (40, 16) if quick else (1500, 256)
    mine = learn_numpy_in_child(steps, windows)
    theirs = learn("torch", steps, windows)
    out.update(learn_steps=steps, val_loss=mine["val_loss"], torch_val_loss=theirs["val_loss"],
               val_loss_gap_vs_torch=mine["val_loss"] - theirs["val_loss"],
               learn_s=mine["train_s"], torch_learn_s=theirs["train_s"],
               peak_rss_mb=mine["peak_rss_mb"])
    log(f"learning, {steps} steps on Shakespeare bytes: val loss TissLM {mine['val_loss']:.4f}, "
        f"PyTorch {theirs['val_loss']:.4f}, gap {out['val_loss_gap_vs_torch']:+.4f} nats "
        f"({mine['train_s']:.0f} s vs {theirs['train_s']:.0f} s); TissLM peak RSS "
        f"{mine['peak_rss_mb']:.0f} MB")

    gen = generation_speed(256)
    out.update(gen)
    log(f"generation, 256 new tokens: KV cache {gen['kv_tokens_per_s']:.0f} tok/s, without "
        f"{gen['no_cache_tokens_per_s']:.0f} tok/s, speed-up {gen['kv_speedup']:.1f}x, "
        f"same tokens: {gen['kv_same_tokens']}")

    tok = tokenizer_figures(quick)
    out.update(tok)
    if tok:
        log(f"tokenizer: train vocab {tok['bpe_vocab_size']} in {tok['bpe_train_s']:.1f} s, "
            f"encode {tok['bpe_encode_mb_per_s']:.1f} MB/s")
    else:
        log("tokenizer: bench/tokenizer.py not found, no figures")
    return out


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="a shorter run (under two minutes)")
    parser.add_argument("--json", action="store_true", help="print one JSON object only")
    parser.add_argument("--learn-worker", nargs=2, type=int, metavar=("STEPS", "WINDOWS"),
                        help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.learn_worker:
        tune_process_for_training()
        print(json.dumps(learn("numpy", *args.learn_worker)))
        return 0

    def log(line: str) -> None:
        print(line, file=sys.stderr if args.json else sys.stdout, flush=True)

    started = time.perf_counter()
    out = run(args.quick, log)
    out["bench_s"] = time.perf_counter() - started
    out["load_avg_at_end"] = os.getloadavg()[0]
    if args.json:
        print(json.dumps(out))
    else:
        log(f"done in {out['bench_s']:.0f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
