"""``tiss serve``: TissLM behind an OpenAI-compatible HTTP API.

    GET  /v1/models             the one model served
    POST /v1/completions        prompt -> text (stream: server-sent events)
    POST /v1/chat/completions   messages -> an assistant message (the chat template below)

A Starlette app on uvicorn. Every generation goes to one ``BatchEngine``
(model/batching.py): concurrent requests are decoded together, each getting
the tokens it would get alone; when every slot and the waiting line are busy
the answer is 429. Requests are checked before they are queued and a bad one
is a 400 saying which field is wrong and why. With an API key, every request
must carry ``Authorization: Bearer KEY`` (401 otherwise).

Chat template (the text TissLM continues; it is what model/backend.py's
TissLMBackend.generate builds, so a PROMPT_AGENT or planner prompt sent by the
``openai`` backend reaches the model as the embedded backend would send it)::

    <system or developer message>\\n\\n     (each, in order)
    <user or assistant message>\\n          (each, in order)

so ``[system S, user U]`` is ``"S\\n\\nU\\n"`` and ``[user U]`` is ``"U\\n"``.
"""

from __future__ import annotations

import asyncio
import hmac
import json
import secrets
import threading
import time
import uuid
import weakref
from dataclasses import dataclass

import numpy as np

from model.batching import BatchEngine, EngineClosed, QueueFull, Request, prompt_logprobs
from model.generate import GenerationError, SamplingParams

ROLES = {"system": "\n\n", "developer": "\n\n", "user": "\n", "assistant": "\n"}
# Fields that would change the answer in ways TissLM does not do: refused, not ignored.
UNSUPPORTED = {
    "best_of": "best_of > 1", "suffix": "a suffix", "tools": "tools", "functions": "functions",
    "tool_choice": "tool_choice", "logit_bias": "logit_bias", "response_format": "response_format",
    "frequency_penalty": "a frequency_penalty other than 0",
    "presence_penalty": "a presence_penalty other than 0", "audio": "audio",
}
NEUTRAL = {"best_of": 1, "frequency_penalty": 0, "presence_penalty": 0, "tool_choice": "none",
           "response_format": {"type": "text"}}
MAX_STOPS = 4


class BadRequest(Exception):
    """A request field is wrong: a 400 (or ``status``) naming the field."""

    def __init__(self, message: str, param: str | None = None, status: int = 400,
                 kind: str = "invalid_request_error"):
        super().__init__(message)
        self.param, self.status, self.kind = param, status, kind


def chat_prompt(messages) -> str:
    """The chat template (see the module's docstring)."""
    if not isinstance(messages, list) or not messages:
        raise BadRequest("messages must be a non-empty list of {role, content} objects", "messages")
    parts = []
    for i, message in enumerate(messages):
        where = f"messages[{i}]"
        if not isinstance(message, dict):
            raise BadRequest(f"{where} must be an object with role and content", where)
        role = message.get("role")
        if role not in ROLES:
            raise BadRequest(f"{where}.role is {role!r}; use one of: {', '.join(ROLES)}", f"{where}.role")
        parts.append(_content(message.get("content"), f"{where}.content") + ROLES[role])
    return "".join(parts)


def _content(content, where: str) -> str:
    """A message's text: a string, or a list of {type: text, text} parts."""
    if content is None:
        return ""
    if isinstance(content, str):
        return content
    if isinstance(content, list) and all(isinstance(p, dict) and p.get("type") == "text"
                                         and isinstance(p.get("text"), str) for p in content):
        return "".join(p["text"] for p in content)
    raise BadRequest(f"{where} must be a string or a list of text parts "
                     '({"type": "text", "text": "..."}); TissLM reads text only', where)


# --- reading a request ---------------------------------------------------------


@dataclass
class Job:
    """One checked request: the prompts to run and how."""

    prompts: list[list[int]]
    params: SamplingParams
    stream: bool
    include_usage: bool
    ignore_eos: bool
    logprobs: int | None          # top alternatives per token (0: the chosen token's only)
    echo: bool


def _number(body, name, default, low, high, *, kind=float, low_open=False):
    value = body.get(name)
    if value is None:
        return default
    if isinstance(value, bool) or not isinstance(value, (int, float)) or (kind is int and value != int(value)):
        raise BadRequest(f"{name} must be {'an integer' if kind is int else 'a number'}, not {value!r}", name)
    if value < low or (low_open and value == low) or (high is not None and value > high):
        bounds = f"{'(' if low_open else '['}{low}, {high if high is not None else '∞'}]"
        raise BadRequest(f"{name} must be in {bounds}, got {value!r}", name)
    return kind(value)


def _flag(body, name, default=False) -> bool:
    value = body.get(name, default)
    if value is None:
        return default
    if not isinstance(value, bool):
        raise BadRequest(f"{name} must be true or false, not {value!r}", name)
    return value


def _stops(body) -> list[str]:
    stop = body.get("stop")
    stops = [] if stop is None else [stop] if isinstance(stop, str) else stop
    if not isinstance(stops, list) or not all(isinstance(s, str) and s for s in stops) \
            or len(stops) > MAX_STOPS:
        raise BadRequest(f"stop must be a non-empty string or a list of up to {MAX_STOPS} of them", "stop")
    return stops


def read_job(body: dict, prompts: list[list[int]], *, chat: bool, context: int) -> Job:
    """Check the fields shared by both endpoints; a BadRequest names the first wrong one."""
    for name, what in UNSUPPORTED.items():
        if body.get(name) not in (None, NEUTRAL.get(name), [], {}):
            raise BadRequest(f"{what} is not supported by this server", name)
    if _number(body, "n", 1, 1, None, kind=int) != 1:
        raise BadRequest("n must be 1: one choice per prompt", "n")
    limit = "max_completion_tokens" if chat and body.get("max_completion_tokens") is not None else "max_tokens"
    max_tokens = _number(body, limit, context if chat else 16, 0, None, kind=int)
    seed = _number(body, "seed", None, -2**63, 2**64 - 1, kind=int)
    params = SamplingParams(
        max_new_tokens=max_tokens,
        temperature=_number(body, "temperature", 1.0, 0.0, 2.0),
        top_p=_number(body, "top_p", None, 0.0, 1.0, low_open=True),
        top_k=_number(body, "top_k", None, 1, None, kind=int),
        repetition_penalty=_number(body, "repetition_penalty", 1.0, 0.0, None, low_open=True),
        stop=_stops(body),
        seed=seed % 2**64 if seed is not None else secrets.randbits(64))
    stream = _flag(body, "stream")
    options = body.get("stream_options") or {}
    if not isinstance(options, dict):
        raise BadRequest("stream_options must be an object", "stream_options")
    if chat:
        logprobs = _number(body, "top_logprobs", 0, 0, 20, kind=int) if _flag(body, "logprobs") else None
        echo = False
    else:
        logprobs = _number(body, "logprobs", None, 0, 5, kind=int)
        echo = _flag(body, "echo")
    if stream and logprobs is not None:
        raise BadRequest("logprobs are not streamed by this server; ask without stream", "logprobs")
    return Job(prompts, params, stream, _flag(options, "include_usage"), _flag(body, "ignore_eos"),
               logprobs, echo)


# --- the app ---------------------------------------------------------------------


class Service:
    """What the routes share: the model, its tokenizer and engine, the key."""

    def __init__(self, model, tokenizer, name: str, *, api_key: str | None = None,
                 max_batch: int = 16, max_queue: int = 64) -> None:
        self.model, self.tokenizer, self.name, self.api_key = model, tokenizer, name, api_key
        self.engine = BatchEngine(model, tokenizer, max_batch=max_batch, max_queue=max_queue)
        self.created = int(time.time())

    # -- prompts -------------------------------------------------------------
    def encode(self, text: str, where: str) -> list[int]:
        ids = self.tokenizer.encode(text)
        bos = getattr(self.tokenizer, "special_tokens", {}).get("<|bos|>")
        if not ids:
            if bos is None:
                raise BadRequest(f"{where} is empty; give at least one character", where)
            ids = [bos]
        self._fits(ids, where)
        return ids

    def _fits(self, ids: list[int], where: str) -> None:
        context = self.model.cfg.context_length
        if len(ids) >= context:
            raise BadRequest(f"{where} has {len(ids)} tokens but the model's context is {context}; "
                             "shorten it so there is room to generate", where,
                             kind="context_length_exceeded")
        vocab = self.model.cfg.vocab_size
        if min(ids) < 0 or max(ids) >= vocab:
            raise BadRequest(f"{where} holds a token id outside the vocabulary [0, {vocab})", where)

    def completion_prompts(self, prompt) -> list[list[int]]:
        """``prompt``: a string, a list of strings, a list of token ids, or a list of those."""
        if isinstance(prompt, str):
            return [self.encode(prompt, "prompt")]
        if _token_ids(prompt):
            self._fits(prompt, "prompt")
            return [list(prompt)]
        if isinstance(prompt, list) and prompt and all(isinstance(p, str) or _token_ids(p) for p in prompt):
            out = []
            for i, p in enumerate(prompt):
                if isinstance(p, str):
                    out.append(self.encode(p, f"prompt[{i}]"))
                else:
                    self._fits(p, f"prompt[{i}]")
                    out.append(list(p))
            return out
        raise BadRequest("prompt must be a string, a list of strings, or a list of token ids", "prompt")

    # -- running ----------------------------------------------------------------
    def start(self, job: Job, index: int, emit) -> Request:
        """Queue prompt ``index`` of ``job``; its events go to ``emit(index, kind, payload)``."""
        request = Request(job.prompts[index], job.params, lambda kind, payload: emit(index, kind, payload),
                          ignore_eos=job.ignore_eos, logprobs=job.logprobs is not None,
                          stream=job.stream)
        self.engine.submit(request)
        return request

    def prompt_logprobs(self, ids: list[int], emit) -> None:
        """Queue the scoring of a prompt (``echo`` with ``logprobs``), run between decode steps."""
        def job():
            try:
                emit(-1, "scored", prompt_logprobs(self.model, ids))
            except Exception as exc:
                emit(-1, "error", f"{type(exc).__name__}: {exc}")
        self.engine.submit(job)

    def token_text(self, token: int) -> str:
        return self.tokenizer.decode([token])


def _token_ids(value) -> bool:
    return isinstance(value, list) and bool(value) and all(
        isinstance(t, int) and not isinstance(t, bool) for t in value)


def error_response(message: str, status: int, kind: str = "invalid_request_error",
                   param: str | None = None, headers=None):
    from starlette.responses import JSONResponse
    return JSONResponse({"error": {"message": message, "type": kind, "param": param,
                                   "code": kind if status != 400 else None}},
                        status_code=status, headers=headers)


def create_app(service: Service):
    """The Starlette app serving ``service``."""
    from starlette.applications import Starlette
    from starlette.middleware import Middleware
    from starlette.routing import Route

    async def models(request):
        return _json({"object": "list", "data": [_model_card(service)]})

    async def completions(request):
        return await _generate(service, request, chat=False)

    async def chat_completions(request):
        return await _generate(service, request, chat=True)

    routes = [Route("/v1/models", models, methods=["GET"]),
              Route("/v1/completions", completions, methods=["POST"]),
              Route("/v1/chat/completions", chat_completions, methods=["POST"])]
    return Starlette(routes=routes, middleware=[Middleware(_Guard, service=service)],
                     exception_handlers={404: _not_found, 405: _not_allowed})


class _Guard:
    """ASGI middleware: the API key, and any unexpected error as a JSON 500."""

    def __init__(self, app, service: Service):
        self.app, self.service = app, service

    async def __call__(self, scope, receive, send):
        if scope["type"] == "http" and self.service.api_key is not None:
            headers = dict(scope.get("headers") or [])
            given = headers.get(b"authorization", b"").decode("latin-1")
            if not hmac.compare_digest(given.encode(), f"Bearer {self.service.api_key}".encode()):
                response = error_response("missing or wrong API key: send Authorization: Bearer KEY "
                                          "(the key is in the variable named by tiss serve --api-key-env)",
                                          401, "authentication_error", headers={"WWW-Authenticate": "Bearer"})
                return await response(scope, receive, send)
        await self.app(scope, receive, send)


async def _not_found(request, exc):
    return error_response(f"no such endpoint: {request.url.path}; this server has /v1/models, "
                          "/v1/completions and /v1/chat/completions", 404, "not_found_error")


async def _not_allowed(request, exc):
    return error_response(f"{request.method} is not allowed on {request.url.path}", 405,
                          "invalid_request_error")


def _json(data, status: int = 200):
    from starlette.responses import JSONResponse
    return JSONResponse(data, status_code=status)


def _model_card(service: Service) -> dict:
    return {"id": service.name, "object": "model", "created": service.created,
            "owned_by": "quanta-tissu", "context_length": service.model.cfg.context_length}


async def _generate(service: Service, request, *, chat: bool):
    try:
        try:
            body = await request.json()
        except (ValueError, UnicodeDecodeError):
            raise BadRequest("the body is not valid JSON") from None
        if not isinstance(body, dict):
            raise BadRequest("the body must be a JSON object")
        model = body.get("model")
        if not isinstance(model, str) or not model:
            raise BadRequest(f"model is required; this server has {service.name!r}", "model")
        if model != service.name:
            raise BadRequest(f"the model {model!r} does not exist; this server has {service.name!r}",
                             "model", status=404, kind="model_not_found")
        if chat:
            prompts = [service.encode(chat_prompt(body.get("messages")), "messages")]
        else:
            if "prompt" not in body:
                raise BadRequest("prompt is required", "prompt")
            prompts = service.completion_prompts(body["prompt"])
        job = read_job(body, prompts, chat=chat, context=service.model.cfg.context_length)
        run = _Run(service, job, chat)
        run.begin()
    except BadRequest as exc:
        return error_response(str(exc), exc.status, exc.kind, exc.param)
    except QueueFull as exc:
        return error_response(f"the server is busy: {exc}; retry later", 429, "rate_limit_error",
                              headers={"Retry-After": "1"})
    except (EngineClosed, GenerationError) as exc:
        return error_response(str(exc), 503, "server_error")
    if job.stream:
        from starlette.responses import StreamingResponse
        return StreamingResponse(run.events(), media_type="text/event-stream",
                                 headers={"Cache-Control": "no-cache"})
    return await run.whole(request.receive)


class _Mailbox:
    """Events from the engine's thread to the event loop's queues, handed over
    in batches: the loop is woken once for everything posted since its last
    wake-up, not once per token of every streamed request (16 streams would
    otherwise be 16 wake-ups, and 16 trips for the GIL, per decode step)."""

    _boxes: "weakref.WeakKeyDictionary" = weakref.WeakKeyDictionary()

    @classmethod
    def of(cls, loop) -> "_Mailbox":
        """The one mailbox of ``loop`` (called on the loop's own thread)."""
        if loop not in cls._boxes:
            cls._boxes[loop] = cls(loop)
        return cls._boxes[loop]

    def __init__(self, loop) -> None:
        self.loop = loop
        self.posted: list = []
        self.lock = threading.Lock()

    def post(self, queue: asyncio.Queue, item) -> None:
        """Called from any thread."""
        with self.lock:
            self.posted.append((queue, item))
            if len(self.posted) > 1:
                return  # a delivery is already scheduled and will take this one too
        try:
            self.loop.call_soon_threadsafe(self._deliver)
        except RuntimeError:  # the loop is closed: nobody is listening any more
            pass

    def _deliver(self) -> None:
        with self.lock:
            posted, self.posted = self.posted, []
        for queue, item in posted:
            queue.put_nowait(item)


class _Run:
    """One HTTP request's generations: queued together, read as events."""

    def __init__(self, service: Service, job: Job, chat: bool) -> None:
        self.service, self.job, self.chat = service, job, chat
        self.mailbox = _Mailbox.of(asyncio.get_running_loop())
        self.queue: asyncio.Queue = asyncio.Queue()
        self.requests: list[Request] = []
        self.id = ("chatcmpl-" if chat else "cmpl-") + uuid.uuid4().hex
        self.created = int(time.time())

    def emit(self, index: int, kind: str, payload) -> None:
        """Called from the engine's thread."""
        self.mailbox.post(self.queue, (index, kind, payload))

    def begin(self) -> None:
        try:
            if self.job.echo and self.job.logprobs is not None:
                for ids in self.job.prompts:
                    self.service.prompt_logprobs(ids, self.emit)
            for index in range(len(self.job.prompts)):
                self.requests.append(self.service.start(self.job, index, self.emit))
        except QueueFull:
            self.cancel()
            raise

    def cancel(self) -> None:
        for request in self.requests:
            request.cancelled = True

    async def whole(self, receive):
        """The non-streaming answer: wait for every prompt's result. A client
        that hangs up meanwhile (``receive``, the ASGI channel, says so) has
        its generations cancelled, so their rows free their slots."""
        watcher = asyncio.ensure_future(self._watch_for_hang_up(receive))
        try:
            return await self._results()
        finally:
            watcher.cancel()

    async def _watch_for_hang_up(self, receive) -> None:
        while (await receive())["type"] != "http.disconnect":
            pass
        self.cancel()
        self.queue.put_nowait((-1, "gone", None))

    async def _results(self):
        results, scored = {}, []
        while len(results) < len(self.job.prompts):
            index, kind, payload = await self.queue.get()
            if kind == "gone":  # nobody is left to answer
                return error_response("the client went away", 499, "client_closed_request")
            if kind == "error":
                self.cancel()
                return error_response(f"generation failed: {payload}", 500, "server_error")
            if kind == "done":
                results[index] = payload
            elif kind == "scored":
                scored.append(payload)
        choices = [self._choice(i, results[i], scored[i] if scored else None)
                   for i in range(len(self.job.prompts))]
        return _json({"id": self.id, "object": "chat.completion" if self.chat else "text_completion",
                      "created": self.created, "model": self.service.name, "choices": choices,
                      "usage": self._usage(results.values())})

    def _choice(self, index: int, result, scored) -> dict:
        if self.chat:
            return {"index": index, "message": {"role": "assistant", "content": result.text},
                    "logprobs": self._chat_logprobs(result), "finish_reason": result.finish_reason}
        text = result.text
        if self.job.echo:
            text = self.service.tokenizer.decode(self.job.prompts[index]) + text
        return {"index": index, "text": text, "logprobs": self._completion_logprobs(index, result, scored),
                "finish_reason": result.finish_reason}

    def _completion_logprobs(self, index: int, result, scored):
        if self.job.logprobs is None:
            return None
        ids = self.job.prompts[index] + result.token_ids if self.job.echo else result.token_ids
        values = (scored if self.job.echo else []) + result.logprobs[:len(result.token_ids)]
        tokens = [self.service.token_text(t) for t in ids]
        offsets = list(np.cumsum([0] + [len(t) for t in tokens[:-1]])) if tokens else []
        return {"tokens": tokens, "token_logprobs": values, "text_offset": [int(o) for o in offsets],
                "top_logprobs": None}

    def _chat_logprobs(self, result):
        if self.job.logprobs is None:
            return None
        return {"content": [{"token": self.service.token_text(t), "logprob": lp, "top_logprobs": [],
                             "bytes": list(self.service.token_text(t).encode())}
                            for t, lp in zip(result.token_ids, result.logprobs)]}

    def _usage(self, results) -> dict:
        prompt = sum(len(p) for p in self.job.prompts)
        completion = sum(len(r.token_ids) for r in results)
        return {"prompt_tokens": prompt, "completion_tokens": completion,
                "total_tokens": prompt + completion}

    async def events(self):
        """Server-sent events: a chunk per piece of text, one with each
        finish reason, usage if asked, then ``[DONE]``."""
        done = {}
        try:
            if self.chat:
                yield self._chunk(0, {"role": "assistant", "content": ""}, None)
            while len(done) < len(self.job.prompts):
                index, kind, payload = await self.queue.get()
                if kind == "error":
                    yield _sse({"error": {"message": f"generation failed: {payload}", "type": "server_error"}})
                    return
                if kind == "delta":
                    yield self._chunk(index, {"content": payload} if self.chat else payload, None)
                elif kind == "done":
                    done[index] = payload
                    yield self._chunk(index, {} if self.chat else "", payload.finish_reason)
            if self.job.include_usage:
                yield _sse({"id": self.id, "object": self._chunk_object(), "created": self.created,
                            "model": self.service.name, "choices": [], "usage": self._usage(done.values())})
            yield "data: [DONE]\n\n"
        finally:  # the client went away, or everything was sent
            self.cancel()

    def _chunk_object(self) -> str:
        return "chat.completion.chunk" if self.chat else "text_completion"

    def _chunk(self, index: int, delta, finish_reason) -> str:
        choice = ({"index": index, "delta": delta, "logprobs": None, "finish_reason": finish_reason}
                  if self.chat else
                  {"index": index, "text": delta, "logprobs": None, "finish_reason": finish_reason})
        return _sse({"id": self.id, "object": self._chunk_object(), "created": self.created,
                     "model": self.service.name, "choices": [choice]})


def _sse(data: dict) -> str:
    return f"data: {json.dumps(data, ensure_ascii=False)}\n\n"


# --- running the server ----------------------------------------------------------------


def load_service(model_dir, *, name: str | None = None, **options) -> Service:
    """A Service for the model directory ``model_dir`` (``tiss model train --out``)."""
    from pathlib import Path

    from model.checkpoint import load_model, load_model_tokenizer

    model, directory = load_model(model_dir)
    name = name or Path(model_dir).expanduser().resolve().name  # as given, not its checkpoint
    return Service(model, load_model_tokenizer(directory), name, **options)


def listen(host: str, port: int):
    """A listening socket (port 0: any free port), so the address is known before serving."""
    import socket

    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind((host, port))
    except OSError:
        sock.close()
        raise
    sock.listen(256)
    return sock


def uvicorn_server(service: Service):
    import uvicorn

    config = uvicorn.Config(create_app(service), log_level="warning", access_log=False,
                            timeout_graceful_shutdown=5)
    return uvicorn.Server(config)


def serve(service: Service, sock, *, announce=print) -> None:
    """Serve until interrupted (Ctrl-C or SIGTERM), on the listening ``sock``."""
    host, port = sock.getsockname()[:2]
    shown = f"[{host}]" if ":" in host else host
    announce(f"serving {service.name} on http://{shown}:{port}/v1 "
             f"(batch {service.engine.max_batch}, queue {service.engine.max_queue}"
             f"{', API key required' if service.api_key else ''})")
    try:
        uvicorn_server(service).run(sockets=[sock])
    finally:
        service.engine.close()

