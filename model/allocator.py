"""Keep glibc malloc from handing big buffers back to the kernel every step.

A training step allocates and frees the same few-megabyte activations over
and over. By default glibc serves such blocks with mmap and returns them with
munmap (or trims the heap top), so every step pays thousands of page faults to
get zeroed pages back. Raising the mmap and trim thresholds keeps freed blocks
in the heap for reuse; in exchange the process keeps its peak footprint.
This is process-wide and done once; elsewhere than glibc it does nothing.
"""

from __future__ import annotations

import ctypes
import ctypes.util

M_TRIM_THRESHOLD = -1
M_MMAP_THRESHOLD = -3
MMAP_THRESHOLD_BYTES = 512 * 2**20   # blocks up to 512 MiB come from the heap
TRIM_THRESHOLD_BYTES = 1024 * 2**20  # keep up to 1 GiB of free heap before trimming

_done = False


def keep_freed_memory() -> bool:
    """Set the thresholds once; returns whether the allocator accepted them."""
    global _done
    if _done:
        return True
    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6")
        mallopt = libc.mallopt
    except (OSError, AttributeError):  # not glibc: nothing to tune
        return False
    _done = bool(mallopt(M_MMAP_THRESHOLD, MMAP_THRESHOLD_BYTES)) and bool(
        mallopt(M_TRIM_THRESHOLD, TRIM_THRESHOLD_BYTES))
    return _done
