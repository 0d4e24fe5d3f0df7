"""MCP servers as tool sources: the servers named under ``mcp_servers:`` in
the configuration contribute their tools, with their schemas, to the registry.

    mcp_servers:
      time:                               # a local command, spoken to over stdio
        command: mcp-server-time
        args: [--local-timezone, UTC]
        env: {TZ: UTC}                    # ${NAME} takes a value from your environment
      search:                             # a remote server over streamable HTTP
        url: http://127.0.0.1:8931/mcp
        headers: {Authorization: "Bearer ${SEARCH_TOKEN}"}
        timeout: 30                       # seconds per call (default 60)
        prefix: web_                      # tool `query` becomes `web_query`

Lifecycle (one run): ``mcp_tools`` starts each server to learn its tools and
keeps that one session open for every call of the run; ``close_tools`` (the
runtime calls it when the run ends) closes them. A server that fails to
start is reported as a registry problem, never fatal to the other tools; a
server that dies mid-run makes the call raise ``McpServerError``, which the
runtime turns into a stop that ``tiss resume`` continues from: the next call
starts the server again.

The SDK is async and the interpreter is not, so each run's servers share one
event loop on a background thread and calls wait on it (a sync facade). The
servers run on the host, outside the sandbox: a workspace's ``tiss.yaml``
that names them must be trusted first (runtime/trust.py).
"""

from __future__ import annotations

import os
import re
import tempfile
import threading
from dataclasses import dataclass, field
from typing import Any

from .errors import ToolError
from .registry import Tool

STDIO_KEYS = ("command", "args", "env", "cwd")
HTTP_KEYS = ("url", "headers")
COMMON_KEYS = ("timeout", "startup_timeout", "prefix")
DEFAULT_TIMEOUT = 60.0           # seconds for one call
DEFAULT_STARTUP_TIMEOUT = 30.0   # seconds to start and list the tools
CLOSE_TIMEOUT = 10.0             # the SDK's stdio shutdown waits at most ~6 s
_VARIABLE = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)\}")
_NOT_A_NAME = re.compile(r"[^A-Za-z0-9_]")


class McpConfigError(ToolError):
    """An ``mcp_servers`` entry is malformed: says where and how to fix it."""


class McpServerError(ToolError):
    """A server could not be started, died or stopped answering. The call did
    not complete: the run stops and can be resumed (the next call starts the
    server again)."""

    def __init__(self, message: str, hint: str | None = None):
        super().__init__(message)
        self.hint = hint


# --- configuration ---------------------------------------------------------------


@dataclass(frozen=True)
class ServerSpec:
    """One entry of ``mcp_servers``; ``origin`` is the file that names it."""

    name: str
    origin: str
    command: str | None = None
    args: tuple[str, ...] = ()
    env: tuple[tuple[str, str], ...] = ()
    cwd: str | None = None
    url: str | None = None
    headers: tuple[tuple[str, str], ...] = ()
    timeout: float = DEFAULT_TIMEOUT
    startup_timeout: float = DEFAULT_STARTUP_TIMEOUT
    prefix: str = ""

    @property
    def label(self) -> str:
        return f"mcp server {self.name!r}"

    def describe(self) -> str:
        """What starts it, for messages and ``tiss tools``."""
        target = self.url or " ".join([self.command or "", *self.args])
        return f"{self.label} ({target}, from {self.origin})"


def parse_servers(section: Any, origin: str) -> list[ServerSpec]:
    """The ``mcp_servers`` mapping of one configuration file, checked."""
    if section is None:
        return []
    if not isinstance(section, dict):
        raise McpConfigError(f"{origin}: `mcp_servers` must map names to servers, not "
                             f"{type(section).__name__}",
                             hint="e.g. mcp_servers: {time: {command: mcp-server-time}}")
    return [_parse_server(str(name), entry, origin) for name, entry in section.items()]


def _parse_server(name: str, entry: Any, origin: str) -> ServerSpec:
    where = f"{origin}: mcp_servers.{name}"
    if not isinstance(entry, dict):
        raise McpConfigError(f"{where} must be a mapping with `command` or `url`",
                             hint="e.g. {command: mcp-server-time, args: [--local-timezone, UTC]}")
    unknown = set(entry) - set(STDIO_KEYS + HTTP_KEYS + COMMON_KEYS)
    if unknown:
        raise McpConfigError(f"{where}: unknown setting {sorted(unknown)[0]!r}",
                             hint="known: " + ", ".join(STDIO_KEYS + HTTP_KEYS + COMMON_KEYS))
    if ("command" in entry) == ("url" in entry):
        raise McpConfigError(f"{where} needs exactly one of `command` (a local server) or `url` "
                             "(streamable HTTP)")
    if "url" in entry and set(entry) & set(STDIO_KEYS):
        raise McpConfigError(f"{where}: {sorted(set(entry) & set(STDIO_KEYS))[0]!r} goes with "
                             "`command`, not `url`")
    if "command" in entry and "headers" in entry:
        raise McpConfigError(f"{where}: `headers` goes with `url`, not `command`")
    return ServerSpec(
        name=name, origin=origin,
        command=_text(entry, "command", where), cwd=_text(entry, "cwd", where),
        args=tuple(_strings(entry.get("args", []), f"{where}.args")),
        env=_mapping(entry.get("env", {}), f"{where}.env"),
        url=_url(entry, where), headers=_mapping(entry.get("headers", {}), f"{where}.headers"),
        timeout=_seconds(entry, "timeout", DEFAULT_TIMEOUT, where),
        startup_timeout=_seconds(entry, "startup_timeout", DEFAULT_STARTUP_TIMEOUT, where),
        prefix=_text(entry, "prefix", where) or "")


def _text(entry: dict, key: str, where: str) -> str | None:
    value = entry.get(key)
    if value is not None and not (isinstance(value, str) and value.strip()):
        raise McpConfigError(f"{where}.{key} must be a non-empty string, not {value!r}")
    return value


def _strings(values: Any, where: str) -> list[str]:
    if not isinstance(values, list) or not all(isinstance(v, (str, int, float)) for v in values):
        raise McpConfigError(f"{where} must be a list of strings, not {values!r}",
                             hint="e.g. args: [--repository, .]")
    return [str(v) for v in values]


def _mapping(values: Any, where: str) -> tuple[tuple[str, str], ...]:
    if not isinstance(values, dict) or not all(isinstance(v, (str, int, float)) for v in values.values()):
        raise McpConfigError(f"{where} must map names to strings, not {values!r}")
    return tuple((str(k), str(v)) for k, v in values.items())


def _url(entry: dict, where: str) -> str | None:
    url = _text(entry, "url", where)
    if url is not None and not re.match(r"^https?://[^\s/]+", url):
        raise McpConfigError(f"{where}.url must be an http:// or https:// address, not {url!r}",
                             hint="e.g. http://127.0.0.1:8000/mcp")
    return url


def _seconds(entry: dict, key: str, default: float, where: str) -> float:
    value = entry.get(key, default)
    if isinstance(value, bool) or not isinstance(value, (int, float)) or value <= 0:
        raise McpConfigError(f"{where}.{key} must be a positive number of seconds, not {value!r}")
    return float(value)


def expand(value: str, where: str) -> str:
    """``${NAME}`` from the user's environment (a secret stays out of the file)."""
    def lookup(match):
        if match.group(1) not in os.environ:
            raise McpServerError(f"{where} uses ${{{match.group(1)}}}, which is not set",
                                 hint=f"export {match.group(1)}=… before the run")
        return os.environ[match.group(1)]
    return _VARIABLE.sub(lookup, value)


# --- the sync facade: one event loop thread per run ------------------------------


class _Loop:
    """An asyncio loop on a daemon thread; ``run`` waits for a coroutine on it.
    asyncio is imported here, with the first server: a run without MCP servers
    (every `tiss run`, every batch worker) would pay ~50 ms for it at start."""

    def __init__(self):
        import asyncio
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self.loop.run_forever, name="tiss-mcp", daemon=True)
        self.thread.start()

    def run(self, coroutine, timeout: float | None = None):
        from asyncio import run_coroutine_threadsafe
        return run_coroutine_threadsafe(coroutine, self.loop).result(timeout)

    def stop(self) -> None:
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(CLOSE_TIMEOUT)
        if not self.thread.is_alive():
            self.loop.close()


@dataclass
class _Live:
    """One session with a server: its client, and the task that holds it open
    until ``stop`` is set (anyio scopes must be left by the task that entered them)."""

    client: Any
    stop: asyncio.Event
    task: asyncio.Task
    stderr: Any


@dataclass
class McpServer:
    """One configured server and its session in this run. ``start`` is
    idempotent (PARALLEL branches may call at once); after the server dies or
    times out, its session is closed in the background and the next ``call``
    starts a new one."""

    spec: ServerSpec
    loop: _Loop
    cwd: str | None = None
    _live: _Live | None = None
    _listing: list = field(default_factory=list)
    _ended: list = field(default_factory=list)       # sessions being closed
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def start(self) -> list:
        """Start the server (unless running) and return its tools (SDK objects)."""
        return self._session()[1]

    def _session(self) -> tuple[_Live, list]:
        """The live session, started first if there is none (once, whoever asks)."""
        with self._lock:
            if self._live is not None:
                return self._live, self._listing
            stderr = tempfile.TemporaryFile("w+", encoding="utf-8", errors="replace")
            try:
                self._live, self._listing = self.loop.run(self._open(stderr), self.spec.startup_timeout + 5)
            except McpServerError:
                raise
            except TimeoutError:   # asyncio's and concurrent.futures' too, since Python 3.11
                raise self._failure(f"did not answer within {self.spec.startup_timeout:g} s of starting",
                                    stderr, "is it an MCP server? raise `startup_timeout` if it is slow") from None
            except Exception as exc:
                raise self._failure(f"failed to start: {_reason(exc)}", stderr) from None
            return self._live, self._listing

    def call(self, tool: str, arguments: dict) -> Any:
        from mcp import MCPError
        from mcp_types import CONNECTION_CLOSED
        live, _ = self._session()
        try:
            result = self.loop.run(live.client.call_tool(tool, arguments, read_timeout_seconds=self.spec.timeout))
        except MCPError as exc:
            if exc.code == CONNECTION_CLOSED:
                self._end(live)
                raise self._failure(f"died during the call to {tool!r}", live.stderr) from None
            if "timed out" in exc.message.lower():
                self._end(live)
                raise self._failure(f"did not answer the call to {tool!r} within {self.spec.timeout:g} s",
                                    live.stderr, "raise its `timeout`, or check the server") from None
            raise ToolError(f"{self.spec.label}: tool {tool!r}: {exc.message}") from None
        if result.is_error:
            raise ToolError(f"{self.spec.label} answered: {_text_of(result) or 'an error, without details'}")
        return _value(result)

    def close(self) -> None:
        """End the session and wait (a few seconds at most) for every process."""
        if self._live is not None:
            self._end(self._live)
        tasks = [live.task for live in self._ended]
        if tasks:
            from asyncio import wait
            try:
                self.loop.run(wait(tasks, timeout=CLOSE_TIMEOUT), CLOSE_TIMEOUT + 1)
            except Exception:   # best effort: each stdio process gets EOF when we exit anyway
                pass
        for live in self._ended:
            live.stderr.close()
        self._ended = []

    def _end(self, live: _Live) -> None:
        """Let the session's task leave its scopes (which stops the process)."""
        with self._lock:
            if self._live is live:
                self._live = None
                self._ended.append(live)
                self.loop.loop.call_soon_threadsafe(live.stop.set)

    # -- inside the event loop ------------------------------------------------

    async def _open(self, stderr) -> tuple[_Live, list]:
        """Start the session in a task of its own and wait until it has the tools."""
        import asyncio
        ready = self.loop.loop.create_future()
        stop = asyncio.Event()
        task = asyncio.ensure_future(self._hold(ready, stop, stderr))
        try:
            client, listing = await asyncio.wait_for(asyncio.shield(ready), self.spec.startup_timeout)
        except BaseException:
            ready.cancel()      # nobody waits for it any more
            task.cancel()
            raise
        return _Live(client, stop, task, stderr), listing

    async def _hold(self, ready: asyncio.Future, stop: asyncio.Event, stderr) -> None:
        from contextlib import AsyncExitStack

        from mcp import Client
        from mcp_types import Implementation
        try:
            async with AsyncExitStack() as stack:
                client = await stack.enter_async_context(Client(
                    await self._target(stack, stderr), read_timeout_seconds=self.spec.timeout,
                    client_info=Implementation(name="quanta-tissu", version="0")))
                listing, cursor = [], None
                while True:   # every page of the listing
                    page = await client.list_tools(cursor=cursor)
                    listing += page.tools
                    cursor = page.next_cursor
                    if not cursor:
                        break
                ready.set_result((client, listing))
                await stop.wait()
        except BaseException as exc:
            if not ready.done():
                ready.set_exception(exc if isinstance(exc, Exception) else RuntimeError("cancelled"))
            if not isinstance(exc, Exception):
                raise

    async def _target(self, stack, stderr):
        """What the SDK's Client connects to: a URL (headers need an HTTP
        client of our own, closed with the session) or a command."""
        spec = self.spec
        if spec.url:
            headers = {k: expand(v, f"{spec.label}: header {k}") for k, v in spec.headers}
            if not headers:
                return spec.url
            import httpx2
            from mcp.client.streamable_http import streamable_http_client
            http = await stack.enter_async_context(httpx2.AsyncClient(
                headers=headers, timeout=httpx2.Timeout(30, read=300)))
            return streamable_http_client(spec.url, http_client=http)
        from mcp import StdioServerParameters, stdio_client
        cwd = os.path.join(self.cwd or ".", os.path.expanduser(spec.cwd)) if spec.cwd else self.cwd
        return stdio_client(StdioServerParameters(
            command=spec.command, args=list(spec.args), cwd=cwd,
            env={k: expand(v, f"{spec.label}: env {k}") for k, v in spec.env} or None),
            errlog=stderr)

    # -- failures -------------------------------------------------------------

    def _failure(self, what: str, stderr, hint: str | None = None) -> McpServerError:
        """A failure naming the server, with the last lines it wrote to stderr."""
        stderr.flush()
        stderr.seek(0)
        tail = [line for line in stderr.read().splitlines() if line.strip()][-5:]
        said = "".join(f"\n  | {line}" for line in tail)
        fix = "`url` and `headers`" if self.spec.url else "`command`, `args` and `env`"
        return McpServerError(f"{self.spec.describe()} {what}{said}",
                              hint=hint or f"check {fix} of mcp_servers.{self.spec.name} in {self.spec.origin}")


def _reason(exc: BaseException) -> str:
    """The innermost useful message of an exception (task groups wrap them)."""
    from mcp import MCPError
    from mcp_types import CONNECTION_CLOSED
    while isinstance(exc, BaseExceptionGroup) and exc.exceptions:
        exc = exc.exceptions[0]
    if isinstance(exc, FileNotFoundError):
        return f"command not found: {exc.filename or exc}"
    if isinstance(exc, MCPError) and exc.code == CONNECTION_CLOSED:
        return "it exited (or closed its output) before answering"
    return f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__


def _text_of(result) -> str:
    return "\n".join(getattr(block, "text", "") for block in result.content if getattr(block, "text", ""))


def _value(result) -> Any:
    """A call's result as TissLang data: the structured content when the server
    gives one, else the text (several blocks: a list; non-text: a description)."""
    if result.structured_content is not None:
        return result.structured_content
    blocks = [getattr(b, "text", None) if getattr(b, "type", "") == "text"
              else {"type": b.type, "mime_type": getattr(b, "mime_type", None)} for b in result.content]
    return blocks[0] if len(blocks) == 1 else blocks


# --- the registry's view ----------------------------------------------------------


class McpServers:
    """The MCP servers of one run: one event loop, one session per server."""

    def __init__(self, specs: list[ServerSpec], cwd: str | None = None):
        self.loop = _Loop()
        self.servers = [McpServer(spec, self.loop, cwd) for spec in specs]

    def tools(self) -> tuple[list[Tool], list[str]]:
        """Start every server (at once: each takes a second or so) and wrap its tools."""
        from concurrent.futures import ThreadPoolExecutor
        with ThreadPoolExecutor(max(1, len(self.servers))) as pool:
            started = [(server, pool.submit(server.start)) for server in self.servers]
        tools, problems = [], []
        for server, future in started:
            try:
                tools += [_tool(server, self, t) for t in future.result()]
            except McpServerError as exc:
                problems.append(_problem(exc))
        return tools, problems

    def close(self) -> None:
        """Close every session at once (each may wait a few seconds for its
        process to exit), then the loop."""
        from concurrent.futures import ThreadPoolExecutor
        with ThreadPoolExecutor(max(1, len(self.servers))) as pool:
            list(pool.map(McpServer.close, self.servers))
        self.loop.stop()


@dataclass(frozen=True)
class _Call:
    """A registry tool's function: one named tool of one server. Keeps its
    servers so that ``close_tools`` finds them."""

    server: McpServer
    servers: McpServers
    tool: str

    def __call__(self, **arguments):
        return self.server.call(self.tool, arguments)


def _tool(server: McpServer, servers: McpServers, listed) -> Tool:
    name = server.spec.prefix + _NOT_A_NAME.sub("_", listed.name)
    schema = dict(listed.input_schema or {"type": "object", "properties": {}})
    return Tool(name=name, description=(listed.description or "").strip(), parameters=schema,
                function=_Call(server, servers, listed.name), source=server.spec.label)


def mcp_tools(config: dict, *, workspace=None) -> tuple[list[Tool], list[str]]:
    """The tools of every server in ``config['mcp_servers']`` (already merged
    and trusted by the caller; ``config['mcp_origins']`` may name the file of
    each server, for messages) and the problems of the servers that failed.
    Servers start in the workspace folder unless they name a ``cwd``."""
    section = config.get("mcp_servers") or {}
    origins = config.get("mcp_origins") or {}
    if not isinstance(section, dict):
        section = {"": section}     # parse_servers says what is wrong with it
    specs, problems = [], []
    for name, entry in section.items():   # a bad entry spoils only itself
        try:
            specs += parse_servers({name: entry} if name else entry, str(origins.get(name, "configuration")))
        except McpConfigError as exc:
            problems.append(_problem(exc))
    if not specs:
        return [], problems
    servers = McpServers(specs, cwd=str(workspace) if workspace else None)
    tools, failures = servers.tools()
    if not tools:          # nothing will ever call close_tools for them
        servers.close()
    return tools, problems + failures


def _problem(exc: ToolError) -> str:
    return f"{exc}\nhint: {exc.hint}" if exc.hint else str(exc)


def close_tools(tools) -> None:
    """Close the servers behind these tools (the end of a run)."""
    seen = set()
    for tool in tools:
        servers = getattr(getattr(tool, "function", None), "servers", None)
        if isinstance(servers, McpServers) and id(servers) not in seen:
            seen.add(id(servers))
            servers.close()
