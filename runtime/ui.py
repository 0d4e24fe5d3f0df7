"""``tiss ui``: the workspace's runs in a browser, a running plan followed
live, and pending reviews answered with approve / reject / comment.

- Binds 127.0.0.1 only, and every request must carry the random token of
  the URL printed at start (``?token=…``); anything else is 403. The token
  also keeps other sites from posting answers (they cannot know it).
- Live: ``/runs/ID/events`` is a server-sent event stream that follows the
  journal (``events.jsonl``) and the run's waiting markers; the page then
  fetches the re-rendered run (``/runs/ID/state``), so the HTML comes from
  the one renderer that ``tiss report`` uses (runtime/report.py).
- Answers: a run started with ``--review ui`` waits for the answer file that
  ``/runs/ID/answer`` writes (runtime/ui_review.py); it journals the answer
  itself, as it journals one typed at a terminal. A paused run is answered
  by resuming it, as ``tiss resume ID --approve`` (or ``--reject``) would.
"""

from __future__ import annotations

import asyncio
import json
import os
import secrets
import socket
import subprocess
import sys
from pathlib import Path
from urllib.parse import quote

from .errors import RunError
from .journal import RunFolder, list_runs
from .report import STATUS_CLASS, build_view, e, page, render_body, render_html, when
from .ui_review import ANSWERS, VERDICTS, waiting_path, write_answer

HOST = "127.0.0.1"
POLL_SECONDS = 0.25          # how often the live stream looks at the journal
RESUME_WAIT_SECONDS = 10.0   # how long an answer to a paused run waits for the resumed run to start


def csp(nonce: str = "") -> str:
    script = f"'nonce-{nonce}'" if nonce else "'none'"
    return (f"default-src 'none'; style-src 'unsafe-inline'; img-src data:; script-src {script}; "
            "connect-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'")


class TokenGate:
    """ASGI middleware: a request without the right ``token`` query
    parameter is refused (403) before any route sees it."""

    def __init__(self, app, token: str):
        self.app, self.token = app, token

    async def __call__(self, scope, receive, send):
        if scope["type"] == "http":
            from urllib.parse import parse_qs
            given = parse_qs(scope.get("query_string", b"").decode("latin-1")).get("token", [""])[0]
            if not secrets.compare_digest(given.encode(), self.token.encode()):
                from starlette.responses import PlainTextResponse
                response = PlainTextResponse("403 forbidden: open the URL that tiss ui printed "
                                             "(it carries the access token)\n", status_code=403)
                await response(scope, receive, send)
                return
        await self.app(scope, receive, send)


def make_app(workspace: Path, token: str):
    from starlette.applications import Starlette
    from starlette.responses import HTMLResponse, JSONResponse, RedirectResponse, Response, StreamingResponse
    from starlette.routing import Route

    workspace = Path(workspace).resolve()
    q = f"?token={quote(token)}"
    resumes: list[subprocess.Popen] = []

    def html(text: str, nonce: str = "", status: int = 200) -> HTMLResponse:
        return HTMLResponse(text, status_code=status, headers={
            "Content-Security-Policy": csp(nonce), "Cache-Control": "no-store", "Referrer-Policy": "no-referrer"})

    def open_run(request) -> RunFolder:
        return RunFolder.open(workspace, request.path_params["run_id"], fsync="never")

    def problem(exc: RunError, status: int = 404) -> HTMLResponse:
        body = f"<h1>{e(exc.message)}</h1>" + (f"<p>{e(exc.hint)}</p>" if exc.hint else "") + \
               f'<p><a href="/{q}">all runs</a></p>'
        return html(page("tiss ui", body, csp()), status=status)

    async def index(request):
        try:
            runs = [folder.summary() for folder in reversed(list_runs(workspace))]
        except RunError as exc:
            return problem(exc, 500)
        rows = "".join(
            f'<tr><td><a href="/runs/{e(quote(r["run_id"]))}{q}">{e(r["run_id"])}</a></td>'
            f'<td><span class="badge {STATUS_CLASS.get(r["status"], "")}">{e(r["status"])}</span></td>'
            f'<td>{e(r["plan"])}</td><td>{e(when(r["started"]))}</td></tr>' for r in runs)
        table = (f'<table id="runs"><tr><th>run</th><th>status</th><th>plan</th><th>started</th></tr>{rows}</table>'
                 if runs else '<p class="meta">no runs yet: start one with tiss run PLAN --review ui</p>')
        body = f"<h1>Runs in {e(workspace)}</h1>{table}"
        return html(page("tiss ui: runs", body, csp(), head='<meta http-equiv="refresh" content="5">'))

    async def run_page(request):
        try:
            folder = open_run(request)
            view = build_view(folder)
        except RunError as exc:
            return problem(exc)
        nonce = secrets.token_urlsafe(12)
        base = f"/runs/{quote(folder.run_id)}"
        panel = review_panel(view, folder.path, base, q)
        body = (f'<nav><a href="/{q}">all runs</a> · <a href="{base}/report{q}">report</a></nav>'
                f'<div id="review" data-sig="{e(signature(view, folder.path))}">{panel}</div>'
                f'<div id="report">{render_body(view)}</div>'
                f'<script nonce="{nonce}">{LIVE_JS % {"base": json.dumps(base), "q": json.dumps(q)}}</script>')
        return html(page(f"tiss ui: {view.task}", body, csp(nonce)), nonce)

    async def state(request):
        try:
            folder = open_run(request)
            view = build_view(folder)
        except RunError as exc:
            return JSONResponse({"error": exc.message}, status_code=404)
        base = f"/runs/{quote(folder.run_id)}"
        return JSONResponse({"status": view.status, "body": render_body(view), "sig": signature(view, folder.path),
                             "review": review_panel(view, folder.path, base, q)},
                            headers={"Cache-Control": "no-store"})

    async def report(request):
        try:
            return html(render_html(build_view(open_run(request))))
        except RunError as exc:
            return problem(exc)

    async def events(request):
        try:
            folder = open_run(request)
        except RunError as exc:
            return Response(exc.message, status_code=404)
        return StreamingResponse(follow(folder, request), media_type="text/event-stream",
                                 headers={"Cache-Control": "no-store", "X-Accel-Buffering": "no"})

    async def answer(request):
        form = await posted(request)
        try:
            folder = open_run(request)
            view = build_view(folder)
            key, verdict = str(form.get("key", "")), str(form.get("verdict", ""))
            if verdict not in VERDICTS:
                raise RunError(f"verdict {verdict!r} is not one of {', '.join(VERDICTS)}")
            if key not in {entry.key for entry in view.pending()} or not waiting_path(folder.path, key).exists():
                raise RunError("this review is not waiting for an answer from the browser any more",
                               hint="it was answered, or the run stopped; reload the run's page")
            write_answer(folder.path, key, verdict, str(form.get("comment", "")).strip())
        except RunError as exc:
            return problem(exc, 409)
        return RedirectResponse(f"/runs/{quote(folder.run_id)}{q}", status_code=303)

    async def resume(request):
        form = await posted(request)
        try:
            folder = open_run(request)
            verdict = str(form.get("verdict", ""))
            if verdict not in VERDICTS:
                raise RunError(f"verdict {verdict!r} is not one of {', '.join(VERDICTS)}")
            if folder.summary()["status"] != "paused":
                raise RunError(f"run {folder.run_id} is not paused", hint="reload the run's page")
            resumes.append(start_resume(workspace, folder, verdict))
            await resumed(folder, resumes[-1])
        except RunError as exc:
            return problem(exc, 409)
        return RedirectResponse(f"/runs/{quote(folder.run_id)}{q}", status_code=303)

    routes = [Route("/", index), Route("/runs/{run_id}", run_page), Route("/runs/{run_id}/state", state),
              Route("/runs/{run_id}/report", report), Route("/runs/{run_id}/events", events),
              Route("/runs/{run_id}/answer", answer, methods=["POST"]),
              Route("/runs/{run_id}/resume", resume, methods=["POST"])]
    return TokenGate(Starlette(routes=routes), token)


async def posted(request) -> dict[str, str]:
    """The fields of a posted form (application/x-www-form-urlencoded, what
    the pages send); parsed here, so no multipart library is needed."""
    from urllib.parse import parse_qs
    fields = parse_qs((await request.body()).decode("utf-8", "replace"), keep_blank_values=True)
    return {name: values[0] for name, values in fields.items()}


def signature(view, run_path: Path) -> str:
    """Changes when the review panel must be redrawn (not on every event, so
    that a comment being typed is not wiped)."""
    pending = [f"{x.key}:{waiting_path(run_path, x.key).exists()}" for x in view.pending()]
    return view.status + "|" + ",".join(pending)


def review_panel(view, run_path: Path, base: str, q: str) -> str:
    parts = []
    for entry in view.pending():
        label = "Review requested" if entry.data.get("kind") == "review" else "Paused"
        head = (f'<h2>{label}</h2><p class="meta">line {e(entry.data.get("line"))}</p>'
                f'<p class="message">{e(entry.data.get("message") or "")}</p>')
        buttons = ('<button name="verdict" value="approve" type="submit">Approve</button>'
                   '<button name="verdict" value="reject" type="submit">Reject</button>')
        if view.status == "paused":
            form = (f'<form method="post" action="{base}/resume{q}">{buttons}</form>'
                    '<p class="meta">the run is paused: your answer resumes it here '
                    f"(as tiss resume {e(view.run_id)} --approve or --reject would)</p>")
        elif waiting_path(run_path, entry.key).exists():
            form = (f'<form method="post" action="{base}/answer{q}"><input type="hidden" name="key" '
                    f'value="{e(entry.key)}"><label>Comment (optional)<br><textarea name="comment"></textarea>'
                    f"</label><br>{buttons}</form>")
        else:
            form = ('<p class="meta">asked at the terminal of the run: answer it there (start runs with '
                    "--review ui to answer here)</p>")
        parts.append(f'<section class="review" data-key="{e(entry.key)}">{head}{form}</section>')
    return "".join(parts)


async def follow(folder: RunFolder, request):
    """Server-sent events: one ``journal`` event per journal line (its seq,
    kind and key), a ``journal`` event when a run starts or stops waiting
    for the browser, and ``end`` once the run is no longer running."""
    path, offset, pending = folder.path / "events.jsonl", 0, b""
    markers: set[str] = set()
    yield "retry: 1000\n\n"
    while not await request.is_disconnected():
        chunk = read_from(path, offset)
        offset += len(chunk)
        *lines, pending = (pending + chunk).split(b"\n")
        for line in lines:
            try:
                record = json.loads(line)
            except ValueError:
                continue
            brief = {k: record.get(k) for k in ("seq", "event", "key")}
            yield f"id: {record.get('seq')}\nevent: journal\ndata: {json.dumps(brief)}\n\n"
        now = waiting_markers(folder.path)
        if now != markers:
            markers = now
            yield f"event: journal\ndata: {json.dumps({'waiting': sorted(now)})}\n\n"
        if not lines:
            status = folder.summary()["status"]
            if status != "running":
                yield f"event: end\ndata: {json.dumps({'status': status})}\n\n"
                return
        await asyncio.sleep(POLL_SECONDS)


def read_from(path: Path, offset: int) -> bytes:
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW)
    except OSError:
        return b""
    with open(fd, "rb") as stream:
        stream.seek(offset)
        return stream.read()


def waiting_markers(run_path: Path) -> set[str]:
    try:
        return {name for name in os.listdir(run_path / ANSWERS) if name.endswith(".waiting")}
    except OSError:
        return set()


def start_resume(workspace: Path, folder: RunFolder, verdict: str) -> subprocess.Popen:
    """``tiss resume ID --approve|--reject --review ui`` in the background:
    the run goes on as if the reviewer had typed the command, and any later
    review comes back to this UI. Its output goes to ui-resume.log."""
    log = open(os.open(folder.path / "ui-resume.log", os.O_WRONLY | os.O_APPEND | os.O_CREAT | os.O_NOFOLLOW,
                       0o644), "ab")
    try:
        return subprocess.Popen(
            [sys.executable, "-m", "runtime.cli", "resume", folder.run_id, f"--{verdict}",
             "--workspace", str(workspace), "--review", "ui"],
            stdin=subprocess.DEVNULL, stdout=log, stderr=log, start_new_session=True)
    finally:
        log.close()


async def resumed(folder: RunFolder, process: subprocess.Popen) -> None:
    """Wait (a little) until the resumed run is no longer 'paused', so the
    page the browser goes back to follows the resumed run."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + RESUME_WAIT_SECONDS
    while loop.time() < deadline and process.poll() is None:
        if folder.summary()["status"] != "paused":
            return
        await asyncio.sleep(POLL_SECONDS)


LIVE_JS = """
const base = %(base)s, q = %(q)s;
let timer = null;
async function load() {
  const response = await fetch(base + "/state" + q, {cache: "no-store"});
  if (!response.ok) return;
  const state = await response.json();
  document.getElementById("report").innerHTML = state.body;
  const review = document.getElementById("review");
  if (review.dataset.sig !== state.sig) { review.innerHTML = state.review; review.dataset.sig = state.sig; }
}
function refresh() { clearTimeout(timer); timer = setTimeout(load, 100); }
const stream = new EventSource(base + "/events" + q);
stream.addEventListener("journal", refresh);
stream.addEventListener("end", () => { stream.close(); refresh(); });
"""


def serve(workspace: Path, port: int) -> int:
    """Serve until Ctrl-C. Prints the URL (with its token) first."""
    import uvicorn
    workspace = Path(workspace).resolve()
    try:
        list_runs(workspace)
    except RunError as exc:
        print(f"error: {exc.message}" + (f"\nhint: {exc.hint}" if exc.hint else ""), file=sys.stderr)
        return 2
    token = secrets.token_urlsafe(24)
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind((HOST, port))
        sock.listen(128)   # before the URL is printed: a client may connect at once
    except OSError as exc:
        sock.close()
        print(f"error: cannot listen on {HOST}:{port}: {exc.strerror}\n"
              "hint: pick another --port, or --port 0 for any free one", file=sys.stderr)
        return 2
    url = f"http://{HOST}:{sock.getsockname()[1]}/?token={token}"
    print(f"review UI for {workspace}: {url}\n(Ctrl-C stops it)", flush=True)
    server = uvicorn.Server(uvicorn.Config(make_app(workspace, token), log_level="warning", lifespan="off"))
    server.run(sockets=[sock])
    return 0
