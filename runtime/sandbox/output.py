"""Capped capture of a command's output: keep the head and the tail."""

from __future__ import annotations


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
