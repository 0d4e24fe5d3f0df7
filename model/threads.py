"""Run the per-head attention matmuls on one BLAS thread.

Attention multiplies B * heads small matrices (T x hd by hd x T). Splitting
each of those tiny GEMMs over several BLAS threads costs more in wake-ups and
barriers than it saves, and on a busy machine, where a waiting thread may not
get a core for milliseconds, it is many times slower. The large projection
GEMMs keep the BLAS default, where threads do pay.
"""

from __future__ import annotations

from contextlib import contextmanager

_blas = None  # the BLAS libraries' thread controls, found on first use


def _controllers():
    global _blas
    if _blas is None:
        try:
            from threadpoolctl import ThreadpoolController
            _blas = ThreadpoolController().select(user_api="blas").lib_controllers
        except Exception:  # threadpoolctl missing or unable to inspect: leave BLAS alone
            _blas = []
    return _blas


@contextmanager
def one_blas_thread():
    controllers = _controllers()
    before = [c.get_num_threads() for c in controllers]
    for c in controllers:
        c.set_num_threads(1)
    try:
        yield
    finally:
        for c, n in zip(controllers, before):
            c.set_num_threads(n)
