"""Capped capture of a command's output: keep the head and the tail.

Plain stdlib: the executor loads this file inside the sandbox too.
"""

from __future__ import annotations

import os
import selectors
import time

POLLED = -1  # capture() returned because ``poll`` seconds passed


class CappedBuffer:
    """Collects bytes up to ``cap``: the first half is kept as the head, the
    last half as a rolling tail; ``text()`` reports what was dropped."""

    def __init__(self, cap: int):
        self.cap = cap
        self.head = bytearray()
        self.tail = bytearray()
        self.total = 0

    def write(self, data: bytes) -> None:
        self.total += len(data)
        room = self.cap // 2 - len(self.head)
        if room > 0:
            self.head += data[:room]
            data = data[room:]
        if data:
            self.tail += data
            keep = self.cap - self.cap // 2
            if len(self.tail) > 2 * keep:  # trim in batches, not per write
                del self.tail[:-keep]

    @property
    def truncated(self) -> bool:
        return self.total > self.cap

    def text(self) -> str:
        keep = self.cap - self.cap // 2
        tail = bytes(self.tail[-keep:]) if keep else b""
        if not self.truncated:
            return (bytes(self.head) + bytes(self.tail)).decode("utf-8", "replace")
        dropped = self.total - len(self.head) - len(tail)
        marker = f"\n[... {dropped} bytes cut: output cap of {self.cap} bytes ...]\n"
        return bytes(self.head).decode("utf-8", "replace") + marker + tail.decode("utf-8", "replace")


def capture(streams: dict, stop=(), deadline: float | None = None, poll: float | None = None):
    """Copy each pipe of ``streams`` (fd -> CappedBuffer) into its buffer
    until a descriptor of ``stop`` becomes readable (return it), the
    ``deadline`` (a time.monotonic() value) passes (return None), or, with
    ``poll``, that many seconds pass quietly (return POLLED). Pipes that reach
    EOF are removed from ``streams``; with no pipe and no ``stop`` left, return
    None."""
    with selectors.DefaultSelector() as selector:
        for fd in (*streams, *stop):
            selector.register(fd, selectors.EVENT_READ)
        while streams or stop:
            timeout = None if deadline is None else deadline - time.monotonic()
            if timeout is not None and timeout <= 0:
                return None
            if poll is not None:
                timeout = poll if timeout is None else min(timeout, poll)
            events = selector.select(timeout)
            if not events and poll is not None:
                return POLLED
            for key, _ in events:
                if key.fd not in streams:
                    return key.fd
                data = os.read(key.fd, 65536)
                if data:
                    streams[key.fd].write(data)
                else:
                    selector.unregister(key.fd)
                    del streams[key.fd]
    return None
