"""Run the per-head attention matmuls on one BLAS thread.

Attention multiplies B * heads small matrices (T x hd by hd x T). Splitting
each of those tiny GEMMs over several BLAS threads costs more in wake-ups and
barriers than it saves, and on a busy machine, where a waiting thread may not
get a core for milliseconds, it is many times slower. The large projection
GEMMs keep the BLAS default, where threads do pay.
"""

from __future__ import annotations

from contextlib import contextmanager

_blas = None  # (controller, thread count found at first use) per BLAS library


def _controllers():
    global _blas
    if _blas is None:
        try:
            from threadpoolctl import ThreadpoolController
            found = ThreadpoolController().select(user_api="blas").lib_controllers
        except Exception:  # threadpoolctl missing or unable to inspect: leave BLAS alone
            found = []
        _blas = [(c, c.get_num_threads()) for c in found]
    return [c for c, _ in _blas]


@contextmanager
def one_blas_thread():
    """Inside: one BLAS thread. After: the count found at first use, which
    stays right even if two threads of a server interleave here."""
    controllers = _controllers()
    for c in controllers:
        c.set_num_threads(1)
    try:
        yield
    finally:
        for c, n in _blas:
            c.set_num_threads(n)
