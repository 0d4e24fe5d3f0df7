"""How TissLM uses the cores: one BLAS thread, data-parallel shards.

Findings on this small machine (2 cores), measured in bench/model.py:

* OpenBLAS on two threads is slower than on one for every GEMM TissLM does:
  a (272 x 128) @ (128 x 344) product took 2.3 ms on two threads and 0.25 ms
  on one, and attention's B * heads tiny per-head GEMMs are worse still
  (wake-ups and barriers cost more than the work; on a busy machine a thread
  waiting for its partner may not get a core for milliseconds). So TissLM
  sets NumPy's BLAS to one thread (``use_one_blas_thread``, process-wide).
* The cores are used instead by splitting each training batch into shards of
  rows run by separate Python threads (NumPy releases the GIL in BLAS calls
  and ufuncs): all the work, not only the GEMMs, is spread over the cores.
* When other processes keep the cores busy, two threads that wait for each
  other can be slower than one. ``ThreadChooser`` settles it empirically:
  every ``recheck_every`` training steps it times a few steps with each
  worker count (one, all cores) and keeps the faster until the next check.
"""

from __future__ import annotations

import os
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager

import numpy as np

_pool = None      # worker threads for in_parallel, started on first use
_blas_set = False


def cores() -> int:
    """The cores this process may run on."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not Linux
        return os.cpu_count() or 1


def use_one_blas_thread() -> None:
    """Set every BLAS library behind NumPy to one thread (once per process)."""
    global _blas_set
    if _blas_set:
        return
    _blas_set = True
    try:
        from threadpoolctl import ThreadpoolController
        ThreadpoolController().select(user_api="blas").limit(limits=1)
    except Exception:  # threadpoolctl missing or unable to inspect: leave BLAS alone
        pass


@contextmanager
def one_blas_thread():
    """BLAS on one thread for the duration, then as it was before. Inference
    uses it instead of ``use_one_blas_thread``, so a process that only loads a
    model keeps its own setting: generating 128 tokens with 4L/d128 on 2 busy
    cores ran at 105 tok/s with OpenBLAS's default threads, 1,126 tok/s on one."""
    try:
        from threadpoolctl import threadpool_limits
    except ImportError:  # threadpoolctl missing: leave BLAS alone
        yield
        return
    with threadpool_limits(limits=1, user_api="blas"):
        yield


def in_parallel(work, n: int, workers: int) -> None:
    """Call work(i) for i in range(n) on up to ``workers`` threads (this one
    included). ``work`` must write only its own outputs."""
    global _pool
    if workers <= 1 or n <= 1:
        for i in range(n):
            work(i)
        return
    if _pool is None:
        _pool = ThreadPoolExecutor(max_workers=max(1, cores() - 1),
                                   thread_name_prefix="tisslm")
    others = [_pool.submit(work, i) for i in range(1, n)]
    work(0)
    for future in others:
        future.result()


class ThreadChooser:
    """Picks the number of worker threads for training steps by timing them."""

    def __init__(self, probes: int = 3, recheck_every: int = 100) -> None:
        self.candidates = sorted({1, min(cores(), 2)})
        self.probes, self.recheck_every = probes, recheck_every
        self.step = 0
        self.chosen = self.candidates[-1]
        self.workers = self.chosen  # the count of the step under way
        self._samples: dict[int, list[float]] = {n: [] for n in self.candidates}

    def begin_step(self) -> int:
        """The worker count for the next step (a probe, or the faster one)."""
        n_probe = self.probes * len(self.candidates)
        phase = self.step % self.recheck_every
        if len(self.candidates) > 1 and phase < n_probe:
            if phase == 0:
                self._samples = {n: [] for n in self.candidates}
            self.workers = self.candidates[phase % len(self.candidates)]
        else:
            if len(self.candidates) > 1 and phase == n_probe:
                self.chosen = min(self.candidates, key=lambda n: np.median(self._samples[n]))
            self.workers = self.chosen
        return self.workers

    def end_step(self, seconds: float) -> None:
        self._samples[self.workers].append(seconds)
        self.step += 1
