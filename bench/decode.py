"""Constrained decoding cost: the token mask per step and the whole loop.

    python bench/decode.py [--quick] [--json]

A BPE tokenizer of 4,096 ids is trained on the example plans and docs, a
random TissLM of that vocabulary samples tokens with and without the
TissLang constraint (tisslang/constrain.py), and the figures print side by
side: mask_us_per_token (median, p95), constrained_slowdown (constrained
time / unconstrained time per token for the same model), steered_slowdown
(the same with a budget of that many tokens, steering to a whole plan),
vocab_size.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from model.config import ModelConfig  # noqa: E402
from model.model import TissLM  # noqa: E402
from model.tokenizer import Tokenizer  # noqa: E402
from tisslang.constrain import PlanConstraint, PlanVocabulary  # noqa: E402


def run(tokens: int, vocab: int) -> dict:
    texts = [p.read_text() for p in sorted((ROOT / "examples").glob("*.tiss"))]
    texts += [p.read_text() for p in sorted((ROOT / "docs").glob("*.md"))]
    tokenizer = Tokenizer.train(texts, vocab)
    vocabulary = PlanVocabulary(tokenizer.token_bytes, tokenizer.encode_bytes, tokenizer.eos_id,
                                tokenizer.special_ids.values())
    model = TissLM(ModelConfig(vocab_size=tokenizer.vocab_size, context_length=tokens + 2,
                               n_layers=2, d_model=64, n_heads=4), seed=0)
    mask_times: list[float] = []

    def sample(constrained: bool, budget: int | None = None) -> float:
        """Seconds per token; ``budget``: steer to a whole plan within it."""
        rng = np.random.default_rng(0)
        constraint = PlanConstraint(vocabulary, max_tokens=budget) if constrained else None
        cache = model.new_cache(1)
        logits = model.forward_cached(np.asarray([[tokenizer.bos_id]]), cache)[0, -1]
        start, count = time.perf_counter(), 0
        for count in range(1, tokens + 1):
            if constraint is not None:
                t0 = time.perf_counter()
                allowed = constraint.allowed_mask()
                if budget is None:
                    mask_times.append(time.perf_counter() - t0)
                # unsteered: keep going, a fixed token count; steered: end when it may
                allowed[tokenizer.eos_id] = budget is not None and constraint.is_accepting()
                logits = np.where(allowed, logits, -np.inf)
            else:
                logits = logits.copy()
                logits[tokenizer.eos_id] = -np.inf
            probs = np.exp(logits - logits.max())
            token = int(rng.choice(len(probs), p=probs / probs.sum()))
            if token == tokenizer.eos_id and budget is not None:
                break
            if constraint is not None:
                constraint.advance(token)
            logits = model.forward_cached(np.asarray([[token]]), cache)[0, -1]
        return (time.perf_counter() - start) / count

    plain = min(sample(False) for _ in range(3))
    constrained = min(sample(True) for _ in range(3))
    steered = min(sample(True, budget=tokens) for _ in range(3))
    us = np.asarray(mask_times) * 1e6
    return {"vocab_size": tokenizer.vocab_size, "tokens": tokens,
            "mask_us_per_token": {"median": round(float(np.median(us)), 1),
                                  "p95": round(float(np.percentile(us, 95)), 1)},
            "unconstrained_s": round(plain * tokens, 4), "constrained_s": round(constrained * tokens, 4),
            "constrained_slowdown": round(constrained / plain, 3),
            "steered_slowdown": round(steered / plain, 3)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="fewer tokens")
    parser.add_argument("--json", action="store_true", help="one JSON object")
    args = parser.parse_args()
    figures = run(tokens=60 if args.quick else 200, vocab=4096)
    if args.json:
        print(json.dumps(figures))
        return
    print(f"vocab_size            {figures['vocab_size']}")
    print(f"mask_us_per_token     median {figures['mask_us_per_token']['median']}  "
          f"p95 {figures['mask_us_per_token']['p95']}   (target: median <= 100)")
    print(f"unconstrained         {figures['unconstrained_s']} s for {figures['tokens']} tokens")
    print(f"constrained           {figures['constrained_s']} s")
    print(f"constrained_slowdown  {figures['constrained_slowdown']}x   (target <= 1.5x)")
    print(f"steered_slowdown      {figures['steered_slowdown']}x   (a budget of {figures['tokens']} "
          "tokens: the run ends as a whole plan)")


if __name__ == "__main__":
    main()
