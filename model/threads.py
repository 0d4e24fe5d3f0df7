"""How many BLAS threads TissLM uses, and why it times its own steps.

Two findings on a small, shared machine (2 cores):

* Attention multiplies B * heads tiny matrices (T x hd by hd x T). Splitting
  each of those GEMMs over BLAS threads costs more in wake-ups and barriers
  than it saves. Instead ``split_batch`` gives each thread its own rows of the
  batch, and every GEMM inside runs on one BLAS thread (NumPy releases the
  GIL in BLAS calls and ufuncs, so Python threads really run in parallel).
* The big projection GEMMs gain from two threads on an idle machine, but when
  other processes keep the cores busy, a thread waiting at a barrier may not
  get a core for milliseconds and a step gets several times slower.
  ``ThreadChooser`` settles it empirically: every ``recheck_every`` training
  steps it times a few steps with each candidate (one thread, the BLAS
  default) and keeps the faster until the next check.
"""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager

import numpy as np

_blas = None      # threadpoolctl controllers of the BLAS libraries, found on first use
_default = 1      # their thread count at first use
_current = None   # the count TissLM set last (None: the default)
_pool = None      # worker threads for split_batch, started on first use


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


def set_blas_threads(n: int | None) -> None:
    """Use n BLAS threads from now on (None: the count found at first use)."""
    global _current
    _current = n
    for c in _controllers():
        c.set_num_threads(n or _default)


@contextmanager
def one_blas_thread():
    """Inside: one BLAS thread; after: the count TissLM chose (or the default)."""
    controllers = _controllers()
    for c in controllers:
        c.set_num_threads(1)
    try:
        yield
    finally:
        for c in controllers:
            c.set_num_threads(_current or _default)


def split_batch(work, batch_size: int) -> None:
    """Call work(rows) for contiguous slices of range(batch_size), one per
    thread in use (the count set by ``set_blas_threads``), each with a
    single-threaded BLAS. ``work`` must write only its own rows."""
    global _pool
    _controllers()
    n = max(1, min(_current or _default, batch_size))
    slices = [slice(i * batch_size // n, (i + 1) * batch_size // n) for i in range(n)]
    with one_blas_thread():
        if n == 1:
            work(slices[0])
            return
        if _pool is None:
            _pool = ThreadPoolExecutor(max_workers=_default, thread_name_prefix="tisslm")
        others = [_pool.submit(work, rows) for rows in slices[1:]]
        work(slices[0])
        for future in others:
            future.result()


class ThreadChooser:
    """Picks the BLAS thread count for training steps by timing them."""

    def __init__(self, probes: int = 3, recheck_every: int = 100) -> None:
        self.candidates = sorted({1, default_threads()})
        self.probes, self.recheck_every = probes, recheck_every
        self.step = 0
        self.chosen = self.candidates[-1]
        self._samples: dict[int, list[float]] = {n: [] for n in self.candidates}
        self._running: int | None = None

    def begin_step(self) -> None:
        n_probe = self.probes * len(self.candidates)
        phase = self.step % self.recheck_every
        if len(self.candidates) > 1 and phase < n_probe:
            if phase == 0:
                self._samples = {n: [] for n in self.candidates}
            self._running = self.candidates[phase % len(self.candidates)]
        else:
            if len(self.candidates) > 1 and phase == n_probe:
                self.chosen = min(self.candidates, key=lambda n: np.median(self._samples[n]))
            self._running = self.chosen
        set_blas_threads(self._running)

    def end_step(self, seconds: float) -> None:
        if self._running is not None:
            self._samples[self._running].append(seconds)
            self.step += 1
            self._running = None
