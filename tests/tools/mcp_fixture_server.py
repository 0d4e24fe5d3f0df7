"""A small MCP server for the tests, written with the SDK's own server API:
what the real servers from the registry cannot do on demand (die in the middle
of a call, count its calls, answer over HTTP on loopback).

    python mcp_fixture_server.py stdio
    python mcp_fixture_server.py http PORT_FILE     # binds 127.0.0.1:0, writes the port

Environment: ``CALLS_LOG`` (a file each ``count`` call appends its label to),
``DIE_IF_EXISTS`` (``flaky`` kills the server while this file exists).
"""

from __future__ import annotations

import os
import socket
import sys
import time
from pathlib import Path

from mcp.server import MCPServer
from mcp.server.mcpserver import Context

server = MCPServer("fixture")


@server.tool()
def count(label: str) -> str:
    """Append LABEL to $CALLS_LOG and say how many calls it holds."""
    log = Path(os.environ["CALLS_LOG"])
    with log.open("a") as handle:
        handle.write(label + "\n")
    return f"{label} #{len(log.read_text().splitlines())}"


@server.tool()
def flaky(text: str) -> str:
    """Echo TEXT, unless $DIE_IF_EXISTS exists: then the server dies mid-call."""
    if Path(os.environ.get("DIE_IF_EXISTS", "/nonexistent")).exists():
        print("fixture: dying on purpose", file=sys.stderr, flush=True)
        os._exit(3)
    return text


@server.tool()
def nap(seconds: float) -> str:
    """Sleep, then answer (a server too slow for its timeout)."""
    time.sleep(seconds)
    return "rested"


@server.tool()
def where() -> str:
    """The server's working folder."""
    return os.getcwd()


@server.tool()
def pid() -> int:
    """This server's process id (the tests check that it ends)."""
    return os.getpid()


@server.tool()
def header(name: str, ctx: Context) -> str:
    """The value of an HTTP request header (empty over stdio)."""
    request = ctx.request_context.request
    return request.headers.get(name, "") if request is not None else ""


def serve_http(port_file: str) -> None:
    """Streamable HTTP on a loopback port chosen by the kernel (no races)."""
    import anyio
    import uvicorn

    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    app = server.streamable_http_app(host="127.0.0.1")
    uv = uvicorn.Server(uvicorn.Config(app, log_level="warning"))
    Path(port_file + ".tmp").write_text(str(sock.getsockname()[1]))
    os.replace(port_file + ".tmp", port_file)
    anyio.run(lambda: uv.serve(sockets=[sock]))


if __name__ == "__main__":
    if sys.argv[1] == "http":
        serve_http(sys.argv[2])
    else:
        server.run("stdio")
