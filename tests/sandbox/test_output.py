"""Capped output buffers and the pipe pump shared by the executor and the
host backend."""

from __future__ import annotations

import os
import time

from runtime.sandbox.output import POLLED, CappedBuffer, capture


def test_output_under_the_cap_is_kept_whole():
    buffer = CappedBuffer(10)
    for piece in (b"ab", b"cdefg", b"hij"):
        buffer.write(piece)
    assert buffer.text() == "abcdefghij" and not buffer.truncated


def test_output_over_the_cap_keeps_head_and_tail_and_says_what_was_cut():
    buffer = CappedBuffer(10)
    for i in range(1000):
        buffer.write(str(i % 10).encode() * 7)
    text = buffer.text()
    assert buffer.truncated and buffer.total == 7000
    assert text.startswith("00000") and text.endswith("99999")
    assert "[... 6990 bytes cut: output cap of 10 bytes ...]" in text


def test_a_cut_through_a_multibyte_character_does_not_fail():
    buffer = CappedBuffer(5)
    buffer.write("ééééé".encode())
    assert "\ufffd" in buffer.text() and buffer.truncated


def test_capture_reads_pipes_until_a_stop_descriptor_fires():
    data_r, data_w = os.pipe()
    stop_r, stop_w = os.pipe()
    os.write(data_w, b"hello")
    os.close(data_w)
    os.write(stop_w, b"x")
    buffer = CappedBuffer(100)
    streams = {data_r: buffer}
    fired = capture(streams, [stop_r], deadline=time.monotonic() + 10)
    capture(streams, deadline=time.monotonic() + 10)  # the rest, up to EOF
    assert fired == stop_r
    assert buffer.text() == "hello" and streams == {}  # EOF removes the pipe
    for fd in (data_r, stop_r, stop_w):
        os.close(fd)


def test_capture_returns_none_at_the_deadline_and_polled_when_asked():
    read_end, write_end = os.pipe()
    streams = {read_end: CappedBuffer(10)}
    assert capture(streams, deadline=time.monotonic() + 0.05) is None
    assert capture(streams, poll=0.01) == POLLED
    assert read_end in streams  # still open: nothing was lost
    os.close(read_end)
    os.close(write_end)
