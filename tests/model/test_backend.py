"""The model boundary: a TissLM loaded for inference holds no gradient buffers
and changes no process-wide setting; training does both. And the constraint
hook of the generation loop (model/backend.py's TokenConstraint)."""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np

from model.checkpoint import save_model
from model.config import ModelConfig
from model.generate import SamplingParams, generate_ids
from model.model import TissLM

ROOT = Path(__file__).resolve().parents[2]
CFG = dict(vocab_size=256, context_length=32, n_layers=1, d_model=16, n_heads=2)

# Run in a fresh process: another test may already have trained in this one.
PROBE = textwrap.dedent("""\
    import json, sys
    from threadpoolctl import threadpool_info
    import model.allocator, model.threads
    def blas():
        return [(i["internal_api"], i["num_threads"]) for i in threadpool_info()
                if i["user_api"] == "blas"]
    before = blas()
    from model.backend import TissLMBackend
    backend = TissLMBackend(sys.argv[1])
    backend.generate("hello", max_tokens=4)
    backend.score(["a", "b"], "pick")
    inference = {"blas": blas(), "malloc_tuned": model.allocator._done,
                 "grads": backend.model.store.has_grads, "shards": backend.model._shards is not None}
    from model.train import tune_process_for_training
    tune_process_for_training()
    print(json.dumps({"before": before, "inference": inference, "trained": blas(),
                      "malloc_tuned_by_trainer": model.allocator._done}))
    """)


def test_inference_changes_no_process_setting_and_holds_no_grads(tmp_path):
    save_model(tmp_path / "m", TissLM(ModelConfig(**CFG), seed=0))
    out = subprocess.run([sys.executable, "-c", PROBE, str(tmp_path / "m")], cwd=ROOT,
                         capture_output=True, text=True, check=True, timeout=120)
    seen = json.loads(out.stdout)
    assert seen["inference"] == {"blas": seen["before"], "malloc_tuned": False,
                                 "grads": False, "shards": False}
    assert all(threads == 1 for _, threads in seen["trained"])  # the trainer owns that
    assert seen["malloc_tuned_by_trainer"] is True


def test_gradient_buffers_come_with_the_first_backward():
    model = TissLM(ModelConfig(**CFG), seed=0)
    model.forward(np.zeros((1, 4), dtype=np.int64))
    assert not model.store.has_grads
    ids = np.arange(8)[None] % 256
    model.loss(ids, ids)
    model.backward()
    assert model.store.has_grads and set(model.grads) == set(model.params)


class OnlyEvens:
    """A constraint: even byte ids only, complete after three of them."""

    def __init__(self):
        self.seen = []

    def allowed(self, token_ids):
        return np.asarray(token_ids) % 2 == 0

    def advance(self, token_id):
        self.seen.append(token_id)

    def done(self):
        return len(self.seen) >= 3


def test_the_generation_loop_follows_a_constraint():
    model = TissLM(ModelConfig(**CFG), seed=0)
    constraint = OnlyEvens()
    new, _ = generate_ids(model, [[1, 2, 3]], SamplingParams(max_new_tokens=6, temperature=1.0),
                          constraint=constraint)
    assert len(new[0]) == 6 and all(t % 2 == 0 for t in new[0])
    assert constraint.seen == new[0]
    # with an end-of-sequence id, the row may end only once the constraint is done
    ended, reasons = generate_ids(model, [[1, 2, 3]], SamplingParams(max_new_tokens=20, seed=3),
                                  eos_id=0, constraint=OnlyEvens())
    assert 3 <= len(ended[0]) and all(t % 2 == 0 and t != 0 for t in ended[0])


def test_the_backend_cuts_its_answer_at_a_stop_sequence(tmp_path):
    from model.backend import TissLMBackend

    save_model(tmp_path / "m", TissLM(ModelConfig(**CFG), seed=0))
    backend = TissLMBackend(tmp_path / "m", temperature=1.0)
    free = backend.generate("hello", max_tokens=12)
    stop = free[4]
    assert backend.generate("hello", max_tokens=12, stop=[stop]) == free[:free.index(stop)]
    assert backend.count_tokens("hello") == 5 and backend.supports_constraint


def test_generation_runs_blas_on_one_thread_and_gives_the_setting_back():
    from threadpoolctl import threadpool_info

    def blas_threads():
        return [i["num_threads"] for i in threadpool_info() if i["user_api"] == "blas"]

    class Watching(OnlyEvens):
        def allowed(self, token_ids):
            during.append(blas_threads())
            return super().allowed(token_ids)

    before, during = blas_threads(), []
    generate_ids(TissLM(ModelConfig(**CFG), seed=0), [[1, 2]], SamplingParams(max_new_tokens=2),
                 constraint=Watching())
    assert during and all(threads == [1] * len(before) for threads in during)
    assert blas_threads() == before
