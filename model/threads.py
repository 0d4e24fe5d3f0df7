"""How TissLM uses the cores: data-parallel shards, each on one BLAS thread.

Findings on a small, shared machine (2 cores):

* Attention multiplies B * heads tiny matrices (T x hd by hd x T). Splitting
  each of those GEMMs over BLAS threads costs more in wake-ups and barriers
  than it saves, so they always run on one BLAS thread (``one_blas_thread``).
* Elementwise NumPy work runs on one core whatever BLAS does. Training splits
  each batch into shards of rows run by separate Python threads instead
  (NumPy releases the GIL in BLAS calls and ufuncs), every GEMM on one BLAS
  thread: all the work, not only the GEMMs, is spread over the cores.
* When other processes keep the cores busy, a thread waiting for its partner
  may not get a core for milliseconds, and parallel work gets several times
  slower. ``ThreadChooser`` settles it empirically: every ``recheck_every``
  training steps it times a few steps with each worker count (one, all
  cores) and keeps the faster until the next check.
"""

from __future__ import annotations

import threading
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager

import numpy as np

_blas = None      # threadpoolctl controllers of the BLAS libraries, found on first use
_default = 1      # their thread count at first use: the cores we may use
_lock = threading.Lock()
_depth = 0        # how many one_blas_thread blocks are open (in any thread)
_pool = None      # worker threads for in_parallel, started on first use


def _controllers():
    global _blas, _default
    if _blas is None:
        try:
            from threadpoolctl import ThreadpoolController
            _blas = ThreadpoolController().select(user_api="blas").lib_controllers
        except Exception:  # threadpoolctl missing or unable to inspect: leave BLAS alone
            _blas = []
        _default = max([c.get_num_threads() for c in _blas] or [1])
    return _blas


def default_threads() -> int:
    _controllers()
    return _default


@contextmanager
def one_blas_thread():
    """BLAS on one thread inside; nested or concurrent blocks are fine: the
    default comes back when the last open block closes."""
    global _depth
    controllers = _controllers()
    with _lock:
        _depth += 1
        if _depth == 1:
            for c in controllers:
                c.set_num_threads(1)
    try:
        yield
    finally:
        with _lock:
            _depth -= 1
            if _depth == 0:
                for c in controllers:
                    c.set_num_threads(_default)


def in_parallel(work, n: int, workers: int) -> None:
    """Call work(i) for i in range(n) on up to ``workers`` threads (this one
    included). ``work`` must write only its own outputs."""
    global _pool
    if workers <= 1 or n <= 1:
        for i in range(n):
            work(i)
        return
    if _pool is None:
        _pool = ThreadPoolExecutor(max_workers=max(1, default_threads() - 1),
                                   thread_name_prefix="tisslm")
    others = [_pool.submit(work, i) for i in range(1, n)]
    work(0)
    for future in others:
        future.result()


class ThreadChooser:
    """Picks the number of worker threads for training steps by timing them."""

    def __init__(self, probes: int = 3, recheck_every: int = 100) -> None:
        self.candidates = sorted({1, default_threads()})
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
