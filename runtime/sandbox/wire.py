"""Length-prefixed JSON messages: the protocol between the Docker backend and
the executor inside the container.

A message is a 4-byte big-endian length followed by that many bytes of UTF-8
JSON. Plain stdlib only: the executor imports this file inside the container,
with whatever Python the image has.
"""

import json
import struct

_HEADER = struct.Struct(">I")
MAX_MESSAGE = 64 * 1024 * 1024  # far above two capped streams; guards against garbage
READY = b"+"  # the executor's one byte on the lease once it serves: the client waits for it


def send_message(sock, message):
    data = json.dumps(message).encode("utf-8")
    sock.sendall(_HEADER.pack(len(data)) + data)


def recv_message(sock):
    """Return the next message, or None when the peer closed the connection."""
    header = _recv_exactly(sock, _HEADER.size)
    if header is None:
        return None
    (length,) = _HEADER.unpack(header)
    if length > MAX_MESSAGE:
        raise ValueError(f"message of {length} bytes is larger than {MAX_MESSAGE}")
    body = _recv_exactly(sock, length)
    if body is None:
        return None
    return json.loads(body.decode("utf-8"))


def recv_or_closed(sock, size):
    """Up to ``size`` bytes, or b"" once the peer closed, whether cleanly or
    with a reset (a peer that closed with our bytes unread, or that died
    with our connection still in its backlog)."""
    try:
        return sock.recv(size)
    except ConnectionResetError:
        return b""


def _recv_exactly(sock, size):
    chunks = []
    while size:
        chunk = sock.recv(min(size, 1 << 20))
        if not chunk:
            return None
        chunks.append(chunk)
        size -= len(chunk)
    return b"".join(chunks)
