"""runtime/sandbox/output.py at its boundaries: output of exactly the cap,
tiny caps, the dropped-byte count, and capture() with both a deadline and a
poll interval. Written for the mutants bench/mutation.py found surviving."""

from __future__ import annotations

import os
import time

from runtime.sandbox.output import POLLED, CappedBuffer, capture


def test_output_of_exactly_the_cap_is_not_truncated():
    buffer = CappedBuffer(6)
    buffer.write(b"abc")
    buffer.write(b"def")
    assert not buffer.truncated and buffer.text() == "abcdef"
    buffer.write(b"g")
    assert buffer.truncated
    assert buffer.text() == "abc\n[... 1 bytes cut: output cap of 6 bytes ...]\nefg"


def test_an_odd_cap_gives_the_extra_byte_to_the_tail():
    buffer = CappedBuffer(5)
    buffer.write(b"0123456789")
    assert (bytes(buffer.head), buffer.total) == (b"01", 10)
    assert buffer.text() == "01\n[... 5 bytes cut: output cap of 5 bytes ...]\n789"


def test_the_tail_is_trimmed_in_batches_and_always_ends_with_the_last_bytes():
    buffer = CappedBuffer(4)   # head 2, tail keeps 2
    buffer.write(b"ab")
    for byte in b"cdefghij":
        buffer.write(bytes([byte]))
        assert len(buffer.tail) <= 4   # never more than twice what is kept
    assert buffer.text() == "ab\n[... 6 bytes cut: output cap of 4 bytes ...]\nij"


def test_a_write_spanning_head_and_tail_is_split_between_them():
    buffer = CappedBuffer(8)
    buffer.write(b"ab")
    buffer.write(b"cdefgh")
    assert (bytes(buffer.head), bytes(buffer.tail)) == (b"abcd", b"efgh")
    assert buffer.text() == "abcdefgh"


def test_a_cap_of_zero_keeps_nothing_but_says_so():
    buffer = CappedBuffer(0)
    buffer.write(b"abc")
    assert buffer.text() == "\n[... 3 bytes cut: output cap of 0 bytes ...]\n"


def test_a_cap_of_one_keeps_the_last_byte():
    buffer = CappedBuffer(1)
    buffer.write(b"abc")
    assert buffer.text() == "\n[... 2 bytes cut: output cap of 1 bytes ...]\nc"


def test_invalid_utf8_is_replaced_not_fatal():
    buffer = CappedBuffer(100)
    buffer.write(b"ok \xff")
    assert buffer.text() == "ok \ufffd"


def test_a_deadline_already_past_returns_without_reading():
    read_end, write_end = os.pipe()
    try:
        streams = {read_end: CappedBuffer(10)}
        os.write(write_end, b"data")
        assert capture(streams, deadline=time.monotonic() - 1) is None
        assert streams[read_end].total == 0
    finally:
        os.close(read_end)
        os.close(write_end)


def test_capture_of_several_pipes_reads_each_to_its_end():
    pipes = [os.pipe() for _ in range(3)]
    streams = {r: CappedBuffer(1000) for r, _ in pipes}
    buffers = dict(streams)
    for n, (_, w) in enumerate(pipes):
        os.write(w, f"pipe {n}".encode() * 100)
        os.close(w)
    assert capture(streams) is None   # every pipe at EOF and nothing to stop on
    assert streams == {}
    for n, (r, _) in enumerate(pipes):
        assert buffers[r].total == len(f"pipe {n}") * 100
        os.close(r)


def test_a_polled_return_keeps_the_data_read_so_far():
    read_end, write_end = os.pipe()
    try:
        os.write(write_end, b"partial")
        streams = {read_end: CappedBuffer(100)}
        assert capture(streams, poll=0.05) == POLLED
        assert streams[read_end].text() == "partial"
    finally:
        os.close(read_end)
        os.close(write_end)


def test_the_last_byte_of_head_room_goes_to_the_head():
    buffer = CappedBuffer(4)   # head 2, tail keeps 2
    buffer.write(b"a")
    buffer.write(b"bcdefg")
    assert bytes(buffer.head) == b"ab"
    assert buffer.text() == "ab\n[... 3 bytes cut: output cap of 4 bytes ...]\nfg"


def test_one_large_write_is_trimmed_at_once():
    buffer = CappedBuffer(4)
    buffer.write(b"0123456789" * 10)
    assert bytes(buffer.tail) == b"89"


def test_invalid_utf8_in_a_cut_output_is_replaced_too():
    buffer = CappedBuffer(4)
    buffer.write(b"\xff\xfe" + b"x" * 10 + b"\xfd\xfc")
    assert buffer.text() == "\ufffd\ufffd\n[... 10 bytes cut: output cap of 4 bytes ...]\n\ufffd\ufffd"


def test_capture_reads_what_is_there_when_the_deadline_is_near():
    read_end, write_end = os.pipe()
    try:
        os.write(write_end, b"ready")
        os.close(write_end)
        streams = {read_end: CappedBuffer(10)}
        buffer = streams[read_end]
        # less than a second left is still time to read: returns at EOF, data kept
        assert capture(streams, deadline=time.monotonic() + 0.9) is None
        assert buffer.text() == "ready" and streams == {}
    finally:
        os.close(read_end)


def test_poll_and_deadline_together():
    read_end, write_end = os.pipe()
    try:
        streams = {read_end: CappedBuffer(10)}
        assert capture(streams, deadline=time.monotonic() + 60, poll=0.01) == POLLED
        os.write(write_end, b"late")
        os.close(write_end)
        assert capture(streams, deadline=time.monotonic() + 60, poll=0.01) is None   # EOF
        assert not streams
    finally:
        os.close(read_end)
