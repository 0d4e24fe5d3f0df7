"""``tiss serve``: TissLM behind an OpenAI-compatible HTTP API (model/server.py).

    tiss serve --model ~/tisslm                         # http://127.0.0.1:8000/v1
    TISS_SERVE_KEY=s3cret tiss serve --model ~/tisslm --port 8080 --api-key-env TISS_SERVE_KEY

The key is read from the environment variable named, never from the command
line (where other users of the machine could read it in the process list).
"""

from __future__ import annotations

import os
import sys

DEFAULT_PORT = 8000


def register(subparsers) -> None:
    parser = subparsers.add_parser(
        "serve", help="TissLM behind an OpenAI-compatible HTTP API",
        description="Serve a TissLM model directory on /v1/models, /v1/completions and "
                    "/v1/chat/completions (streaming as server-sent events). Concurrent "
                    "requests are batched into one decode. Binds 127.0.0.1 unless told otherwise.")
    parser.add_argument("--model", required=True, metavar="DIR",
                        help="a model directory (`tiss model train --out DIR`)")
    parser.add_argument("--host", default="127.0.0.1",
                        help="address to bind (default 127.0.0.1: this machine only)")
    parser.add_argument("--port", type=int, default=DEFAULT_PORT,
                        help=f"port (default {DEFAULT_PORT}; 0 picks a free one and prints it)")
    parser.add_argument("--api-key-env", metavar="VAR",
                        help="require `Authorization: Bearer KEY`, KEY being this variable's value")
    parser.add_argument("--name", help="the model id clients use (default: the directory's name)")
    parser.add_argument("--max-batch", type=int, default=16, metavar="N",
                        help="requests decoded together (default 16; 1 = one at a time)")
    parser.add_argument("--max-queue", type=int, default=64, metavar="N",
                        help="requests waiting for a slot before the answer is 429 (default 64)")
    parser.set_defaults(func=run)


def run(args) -> int:
    from model.checkpoint import CheckpointError
    from model.server import listen, load_service, serve

    if not 0 <= args.port <= 65535:
        return _fail(f"--port {args.port} is not a port number", "use 1-65535, or 0 for any free port")
    if args.max_batch < 1 or args.max_queue < 0:
        return _fail("--max-batch must be at least 1 and --max-queue at least 0")
    key = None
    if args.api_key_env:
        key = os.environ.get(args.api_key_env)
        if not key:
            return _fail(f"--api-key-env {args.api_key_env}: that environment variable is not set or empty",
                         f"export {args.api_key_env}=<a secret> first")
    try:
        service = load_service(args.model, name=args.name, api_key=key,
                               max_batch=args.max_batch, max_queue=args.max_queue)
    except (CheckpointError, ValueError, OSError) as exc:
        return _fail(f"--model {args.model}: {exc}", "train one with `tiss model train --out DIR`")
    try:
        sock = listen(args.host, args.port)
    except OSError as exc:
        service.engine.close()
        return _fail(f"cannot listen on {args.host}:{args.port}: {exc.strerror or exc}",
                     "choose another --port, or stop what uses it")
    serve(service, sock, announce=lambda line: print(line, flush=True))
    return 0


def _fail(message: str, hint: str | None = None) -> int:
    print(f"error: {message}" + (f"\nhint: {hint}" if hint else ""), file=sys.stderr)
    return 2
