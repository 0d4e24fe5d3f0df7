"""What happened in a run, for people: ``tiss report`` (one self-contained
HTML file), ``tiss log`` (the same timeline in the terminal, with rich) and
the pages of ``tiss ui``.

``build_view`` reads a run folder's journal once into a ``RunView``: the
task, its steps with start and duration, and per step what a reader wants to
see (RUN commands with exit code and output, ASSERTs with the values they
saw, reviews and their answers, CHOOSE decisions with their reasons, LOG
lines, and any other event, such as an agent's thought/action/observation,
shown generically). The renderers only format a view.

Everything from the journal is attacker-controlled (a plan's output can be
anything), so the HTML escapes every value, and the page carries a Content
Security Policy that forbids scripts: a ``<script>`` in a RUN's output is
text, and would not run even if an escape were missed.
"""

from __future__ import annotations

import html
import json
import time
from dataclasses import dataclass, field
from datetime import datetime

from .journal import RunFolder
from .state import State

# Statement kinds whose "done" event becomes an entry, and the label it gets.
ENTRY_OF_DONE = {"Run": "run", "Assert": "assert", "Log": "log",
                 "RequestReview": "review", "Pause": "review"}
# Events that only structure the run (they become the steps and the header)
# or that say nothing a reader needs; anything else is shown generically.
# Compound statements: what they did is already shown by their inner entries.
SILENT_DONE = frozenset({"Choose", "Step", "Task", "Setup", "If", "Try", "Retry", "Parallel", "EstimateCost"})
STRUCTURAL = frozenset({"run_started", "run_resumed", "run_done", "step_started", "step_done",
                        "done", "review_asked", "review_answered", "choice", "branch_done",
                        "session_started", "session_resumed", "session_ended"})
HIDDEN_FIELDS = ("seq", "t", "event", "delta", "key")
STATUS_CLASS = {"succeeded": "ok", "failed": "bad", "rejected": "bad", "crashed": "bad",
                "paused": "wait", "interrupted": "wait", "running": "run", "ended": "ok"}


@dataclass
class Entry:
    kind: str                  # run | assert | review | choice | log | caught | retry | any other event
    key: str
    t: float
    data: dict


@dataclass
class StepView:
    key: str
    name: str
    start: float
    status: str = "running"
    duration: float | None = None
    error: str | None = None
    entries: list[Entry] = field(default_factory=list)

    @property
    def depth(self) -> int:
        """How deeply nested the step is (a CHOOSE option inside a step …)."""
        return self.key.count(".")


@dataclass
class RunView:
    run_id: str
    plan: str
    task: str
    status: str
    started: float | None
    ended: float | None
    error: str | None
    steps: list[StepView]
    loose: list[Entry]          # entries outside any STEP
    budget: dict                # KEY -> {"limit":…, "spent":…}
    elapsed: float | None
    source: str

    @property
    def span(self) -> float:
        """Seconds from the start to the end (or to now, while running)."""
        return max((self.ended or time.time()) - self.started, 1e-6)

    def pending(self) -> list[Entry]:
        """Reviews asked and not answered yet: those a person can answer now
        (while running) or by resuming (a paused run's last review)."""
        open_reviews = [e for e in self.entries() if e.kind == "review" and "verdict" not in e.data]
        paused = [e for e in self.entries() if e.kind == "review" and e.data.get("verdict") == "pause"]
        if self.status == "running":
            return open_reviews
        if self.status == "paused":
            return paused[-1:]
        return []

    def entries(self):
        yield from self.loose
        for step in self.steps:
            yield from step.entries


# --- reading a run --------------------------------------------------------------


def build_view(folder: RunFolder) -> RunView:
    info = folder.summary()
    source = _plan_source(folder)
    lines = source.splitlines()
    view = RunView(folder.run_id, info["plan"], _task_name(source) or info["plan"], info["status"],
                   info["started"], info["ended"], None, [], [], {}, None, source)
    steps: dict[str, StepView] = {}
    reviews: dict[str, Entry] = {}
    state = State()
    entries: list[Entry] = []
    for event in folder.events():
        state.apply_delta(event.get("delta", []))
        kind, key = event["event"], event.get("key", "")
        if view.started is None:   # the journal grew after summary() read it
            view.started = event["t"]
        if kind == "step_started" and key not in steps:
            steps[key] = StepView(key, event.get("name", "?"), event["t"])
        elif kind == "step_done" and key in steps:
            record = state.sections["steps"].get(key, {})
            steps[key].status = event.get("status", "?")
            steps[key].duration = event.get("duration")
            steps[key].error = record.get("error")
        elif kind == "run_done":
            view.error = event.get("error") or None
        elif kind == "review_asked":
            reviews[key] = Entry("review", key, event["t"], {"kind": event.get("kind"), "message": event.get("message"),
                                                             "line": event.get("line")})
            entries.append(reviews[key])
        elif kind == "review_answered" and key in reviews:
            reviews[key].data.update(verdict=event.get("verdict"), comment=event.get("comment", ""))
        elif kind == "choice":
            entries.append(Entry("choice", key, event["t"], {"name": event.get("name"), "reason": event.get("reason")}))
        elif kind == "done":
            entry = _done_entry(event, lines, reviews)
            if entry:
                entries.append(entry)
        elif kind in ("caught", "retry") or kind not in STRUCTURAL:
            entries.append(Entry(kind, key, event["t"], _visible(event)))
    view.steps = sorted(steps.values(), key=lambda s: s.start)
    for entry in entries:
        owner = _owner(entry.key, steps)
        (owner.entries if owner else view.loose).append(entry)
    for step in view.steps:   # a running step's bar grows until now
        if step.duration is None and view.status == "running":
            step.duration = time.time() - step.start
    view.budget = _budget(state.sections["budget"])
    view.elapsed = state.sections["budget"].get("elapsed")
    return view


def _done_entry(event: dict, lines: list[str], reviews: dict) -> Entry | None:
    kind = ENTRY_OF_DONE.get(event.get("stmt"))
    key, line = event.get("key", ""), event.get("line")
    if kind == "review":
        entry = reviews.get(key)
        if entry is None:   # asked before a crash, answered by tiss resume
            entry = reviews[key] = Entry("review", key, event["t"], {"kind": "review", "line": line})
        entry.data.update(verdict=event.get("verdict"), comment=event.get("comment", ""))
        return None
    text = lines[line - 1].strip() if line and 0 < line <= len(lines) else ""
    if kind == "run":
        output = _run_record(event.get("delta", []))
        return Entry("run", key, event["t"], {
            "command": event.get("command") or text, "exit_code": event.get("exit_code"),
            "duration": event.get("duration"), "stdout": output.get("STDOUT", ""),
            "stderr": output.get("STDERR", ""), "timed_out": output.get("TIMED_OUT", False), "line": line})
    if kind == "assert":
        return Entry("assert", key, event["t"], {"condition": event.get("condition") or text.removeprefix("ASSERT "),
                                                  "actual": event.get("actual", []), "line": line})
    if kind == "log":
        return Entry("log", key, event["t"], {"message": event.get("message", "")})
    extra = {k: v for k, v in _visible(event).items() if k not in ("line", "stmt")}
    if extra and event.get("stmt") not in SILENT_DONE:   # e.g. a PROMPT_AGENT or CALL that reports something
        return Entry(event.get("stmt", "done"), key, event["t"], {"line": line, **extra})
    return None


def _run_record(delta: list) -> dict:
    """The RUN's result: the LAST_RUN (or LAST_RUN@branch) its event set."""
    for change in delta:
        if len(change) == 3 and change[0] == "vars" and str(change[1]).split("@")[0] == "LAST_RUN":
            return change[2] if isinstance(change[2], dict) else {}
    return {}


def _owner(key: str, steps: dict[str, StepView]) -> StepView | None:
    """The innermost step an entry happened in."""
    owners = [k for k in steps if key.startswith(k + ".")]
    return steps[max(owners, key=len)] if owners else None


def _visible(event: dict) -> dict:
    return {k: v for k, v in event.items() if k not in HIDDEN_FIELDS}


def _budget(section: dict) -> dict:
    budget: dict[str, dict] = {}
    for name, value in section.items():
        what, _, key = name.partition(".")
        if what in ("limit", "spent") and key:
            budget.setdefault(key, {})[what] = value
    return dict(sorted(budget.items()))


def _plan_source(folder: RunFolder) -> str:
    try:
        return folder.plan_source
    except (OSError, UnicodeDecodeError):
        return ""


def _task_name(source: str) -> str | None:
    """The TASK's description when it is plain text (no interpolation)."""
    import tisslang
    from tisslang import ast
    try:
        program = tisslang.parse(source, "plan.tiss")
    except Exception:   # a session's chunks, an altered plan: fall back to the file name
        return None
    for stmt in program.body:
        if type(stmt) is ast.Task and all(isinstance(p, ast.Text) for p in stmt.description.parts):
            return "".join(p.value for p in stmt.description.parts)
    return None


# --- formatting helpers ----------------------------------------------------------


def seconds(value: float | None) -> str:
    if value is None:
        return "–"
    if value < 60:
        return f"{value:.2f}s" if value < 10 else f"{value:.1f}s"
    minutes, rest = divmod(int(round(value)), 60)
    return f"{minutes}m {rest:02d}s" if minutes < 60 else f"{minutes // 60}h {minutes % 60:02d}m"


def when(timestamp: float | None) -> str:
    return datetime.fromtimestamp(timestamp).strftime("%Y-%m-%d %H:%M:%S") if timestamp else "–"


def bar(step: StepView, view: RunView) -> tuple[float, float]:
    """A step's bar as (left, width) in percent of the run's span."""
    left = 100 * (step.start - (view.started or step.start)) / view.span
    width = 100 * (step.duration or 0.0) / view.span
    left = min(max(left, 0.0), 99.5)
    return left, min(max(width, 0.5), 100 - left)


def entry_summary(entry: Entry) -> str:
    """One line per entry, for the terminal (and the HTML's headings)."""
    data = entry.data
    if entry.kind == "run":
        status = "timed out" if data.get("timed_out") else f"exit {data.get('exit_code')}"
        return f"$ {data.get('command')}  ({status}, {seconds(data.get('duration'))})"
    if entry.kind == "assert":
        return f"ASSERT {data.get('condition')} ✓" + (f"  ({'; '.join(data['actual'])})" if data.get("actual") else "")
    if entry.kind == "review":
        label = "REVIEW" if data.get("kind") == "review" else "PAUSE"
        verdict = data.get("verdict") or "waiting for an answer"
        comment = f" — {data['comment']}" if data.get("comment") else ""
        return f"{label} {data.get('message') or ''} → {verdict}{comment}"
    if entry.kind == "choice":
        return f"CHOSE {data.get('name')!r}: {data.get('reason')}"
    if entry.kind == "log":
        return f"LOG {data.get('message')}"
    if entry.kind in AGENT_LABELS:
        return f"{AGENT_LABELS[entry.kind]} {_short_json(agent_text(entry).replace(chr(10), ' ⏎ '))}"
    fields = ", ".join(f"{k}={_short_json(v)}" for k, v in data.items())
    return f"{entry.kind}: {fields}"


# The agent loop's events (runtime/agent.py), each with a label and its one text.
AGENT_LABELS = {"agent_thought": "thought:", "agent_action": "→", "agent_observation": "←",
                "agent_answer": "answer:"}


def agent_text(entry: Entry) -> str:
    data = entry.data
    if entry.kind == "agent_action":
        return f"{data.get('tool')} {json.dumps(data.get('input'), ensure_ascii=False)}"
    field = {"agent_thought": "thought", "agent_observation": "observation", "agent_answer": "answer"}
    return str(data.get(field[entry.kind], ""))


def _short_json(value, limit: int = 120) -> str:
    text = value if isinstance(value, str) else json.dumps(value, ensure_ascii=False)
    return text if len(text) <= limit else text[:limit] + "…"


# --- HTML --------------------------------------------------------------------------

CSS = """
:root{--ok:#1a7f37;--bad:#c62828;--wait:#b26a00;--run:#1565c0;--fg:#1f2328;--mute:#656d76;--line:#d0d7de;--bg:#f6f8fa}
*{box-sizing:border-box}body{font:15px/1.45 system-ui,-apple-system,"Segoe UI",sans-serif;color:var(--fg);margin:0 auto;max-width:60rem;padding:1rem}
h1{font-size:1.5rem;margin:.2rem 0}h2{font-size:1.15rem;border-bottom:1px solid var(--line);padding-bottom:.2rem;margin-top:1.6rem}
h3{font-size:1rem;margin:1rem 0 .4rem}.meta{color:var(--mute);margin:.2rem 0}header .meta{display:flex;flex-wrap:wrap;gap:.2rem 1rem;align-items:center}header .meta span{white-space:nowrap}
.badge{display:inline-block;padding:.05rem .5rem;border-radius:1rem;color:#fff;font-weight:600;font-size:.85rem}
.ok{--c:var(--ok)}.bad{--c:var(--bad)}.wait{--c:var(--wait)}.run{--c:var(--run)}.badge{background:var(--c,var(--mute))}
.timeline .row{display:grid;grid-template-columns:12rem 1fr 4.5rem;gap:.6rem;align-items:center;margin:.2rem 0}
.timeline .name{overflow:hidden;text-overflow:ellipsis;white-space:nowrap}.track{background:var(--bg);height:1rem;position:relative;border-radius:3px}
.bar{position:absolute;top:0;bottom:0;background:var(--c,var(--mute));border-radius:3px;print-color-adjust:exact;-webkit-print-color-adjust:exact}
.dur{text-align:right;font-variant-numeric:tabular-nums;color:var(--mute)}
pre{background:var(--bg);padding:.5rem;overflow-x:auto;white-space:pre-wrap;word-break:break-word;margin:.3rem 0;font-size:.85rem}
pre.stderr{border-left:3px solid var(--wait)}pre.error{border-left:3px solid var(--bad)}
.entry{border-left:3px solid var(--c,var(--line));padding:.2rem .6rem;margin:.4rem 0}.entry code{word-break:break-word}
.kind{font-weight:600;font-size:.8rem;text-transform:uppercase;color:var(--mute);margin-right:.4rem}
table{border-collapse:collapse}td,th{border-bottom:1px solid var(--line);padding:.2rem .8rem .2rem 0;text-align:left}
details>summary{cursor:pointer;color:var(--mute)}
.review{border:2px solid var(--wait);border-radius:6px;padding:.6rem;margin:.6rem 0}
.review h2{margin-top:0}.review textarea{width:100%;min-height:3rem}.review button{font-size:1rem;padding:.4rem 1rem;margin:.3rem .4rem 0 0}
@media (max-width:40rem){.timeline .row{grid-template-columns:1fr auto;gap:.1rem .6rem}.timeline .track{grid-column:1/-1;grid-row:2}body{padding:.5rem}}
@media print{body{max-width:none}details::details-content{content-visibility:visible;display:block}details>summary{display:none}
.review form,nav{display:none}h2{break-after:avoid}.entry{break-inside:avoid}}
"""

# No script may run in a report: even a missed escape stays inert.
REPORT_CSP = "default-src 'none'; style-src 'unsafe-inline'; img-src data:"


def e(value) -> str:
    """HTML-escape anything (quotes too: values go into attributes)."""
    return html.escape(value if isinstance(value, str) else str(value), quote=True)


def render_html(view: RunView) -> str:
    """The whole report: one file, no external resource, no script."""
    return page(f"Run {view.run_id}: {view.task}", render_body(view), csp=REPORT_CSP)


def page(title: str, body: str, csp: str, head: str = "") -> str:
    return (f'<!doctype html>\n<html lang="en"><head><meta charset="utf-8">'
            f'<meta name="viewport" content="width=device-width,initial-scale=1">'
            f'<meta http-equiv="Content-Security-Policy" content="{e(csp)}">'
            f"<title>{e(title)}</title><style>{CSS}</style>{head}</head>\n<body>\n{body}\n</body></html>\n")


def render_body(view: RunView, review_panel: str = "") -> str:
    parts = [_header(view), review_panel, _timeline(view)]
    if view.error:
        parts.append(f'<h2>Error</h2><pre class="error">{e(view.error)}</pre>')
    if view.budget or view.elapsed is not None:
        parts.append(_budget_table(view))
    parts.append('<h2>Steps</h2>')
    if view.loose:
        parts.append("<section><h3>Outside any step</h3>" + "".join(_entry(x) for x in view.loose) + "</section>")
    for step in view.steps:
        parts.append(_step(step))
    if view.source:
        parts.append(f'<h2>Plan</h2><details><summary>plan.tiss ({len(view.source.splitlines())} lines)'
                     f'</summary><pre>{e(view.source)}</pre></details>')
    return "\n".join(p for p in parts if p)


def _header(view: RunView) -> str:
    return (f'<header><h1 id="task">{e(view.task)}</h1>'
            f'<p class="meta"><span class="badge {STATUS_CLASS.get(view.status, "")}" id="status">{e(view.status)}</span>'
            f'<span>run {e(view.run_id)}</span><span>plan {e(view.plan)}</span>'
            f'<span>started {e(when(view.started))}</span><span>took {e(seconds(view.span if view.started else None))}</span>'
            f"</p></header>")


def _timeline(view: RunView) -> str:
    if not view.steps:
        return '<h2>Timeline</h2><p class="meta">no steps</p>'
    rows = []
    for step in view.steps:
        left, width = bar(step, view)
        indent = f' style="padding-left:{(step.depth - 1) * 0.8:.1f}rem"' if step.depth > 1 else ""
        rows.append(f'<div class="row"><div class="name"{indent} title="{e(step.name)}">{e(step.name)}</div>'
                    f'<div class="track {STATUS_CLASS.get(step.status, "")}"><div class="bar" '
                    f'style="left:{left:.2f}%;width:{width:.2f}%" title="{e(step.status)}"></div></div>'
                    f'<div class="dur">{e(seconds(step.duration))}</div></div>')
    return f'<h2>Timeline</h2><div class="timeline" id="timeline">{"".join(rows)}</div>'


def _budget_table(view: RunView) -> str:
    rows = "".join(f"<tr><td>{e(key)}</td><td>{e(v.get('spent', 0))}</td><td>{e(v.get('limit', '–'))}</td></tr>"
                   for key, v in view.budget.items())
    if view.elapsed is not None:
        rows += f"<tr><td>elapsed</td><td>{e(seconds(view.elapsed))}</td><td></td></tr>"
    return f'<h2>Budgets</h2><table id="budgets"><tr><th>budget</th><th>used</th><th>limit</th></tr>{rows}</table>'


def _step(step: StepView) -> str:
    body = "".join(_entry(x) for x in step.entries)
    if step.error:
        body += f'<pre class="error">{e(step.error)}</pre>'
    return (f'<section class="step" id="step-{e(step.key)}"><h3><span class="badge {STATUS_CLASS.get(step.status, "")}">'
            f"{e(step.status)}</span> {e(step.name)} <span class=\"meta\">{e(seconds(step.duration))}</span></h3>"
            f"{body or '<p class=meta>nothing recorded</p>'}</section>")


def _entry(entry: Entry) -> str:
    data = entry.data
    if entry.kind == "run":
        failed = data.get("exit_code") != 0 or data.get("timed_out")
        status = "timed out" if data.get("timed_out") else f"exit {data.get('exit_code')}"
        output = "".join(f'<pre class="{cls}">{e(text)}</pre>'
                         for cls, text in (("stdout", data.get("stdout")), ("stderr", data.get("stderr"))) if text)
        lines = sum(len((data.get(k) or "").splitlines()) for k in ("stdout", "stderr"))
        folded = (f'<details{" open" if failed else ""}><summary>output ({lines} line{"" if lines == 1 else "s"})</summary>{output}</details>'
                  if output else '<div class="meta">no output</div>')
        return (f'<div class="entry run {"bad" if failed else "ok"}"><span class="kind">run</span>'
                f'<code>{e(data.get("command"))}</code> <span class="meta">{e(status)}, '
                f'{e(seconds(data.get("duration")))}</span>{folded}</div>')
    if entry.kind == "assert":
        actual = "; ".join(data.get("actual") or [])
        return (f'<div class="entry assert ok"><span class="kind">assert ✓</span><code>{e(data.get("condition"))}</code>'
                + (f' <span class="meta">{e(actual)}</span>' if actual else "") + "</div>")
    if entry.kind == "review":
        verdict = data.get("verdict")
        css = {"approve": "ok", "reject": "bad"}.get(verdict, "wait")
        label = "review" if data.get("kind") == "review" else "pause"
        answer = f"{verdict}" + (f": {data['comment']}" if data.get("comment") else "") if verdict else "waiting for an answer"
        return (f'<div class="entry review-entry {css}"><span class="kind">{label}</span>{e(data.get("message") or "")}'
                f' <span class="meta">→ {e(answer)}</span></div>')
    if entry.kind == "choice":
        return (f'<div class="entry choice run"><span class="kind">chose</span>{e(data.get("name"))}'
                f' <span class="meta">{e(data.get("reason"))}</span></div>')
    if entry.kind == "log":
        return f'<div class="entry log"><span class="kind">log</span>{e(data.get("message"))}</div>'
    if entry.kind in AGENT_LABELS:
        text, label = agent_text(entry), entry.kind.removeprefix("agent_")
        body = f"<pre>{e(text)}</pre>" if "\n" in text or len(text) > 120 else f"<code>{e(text)}</code>"
        css = " bad" if data.get("error") else ""
        return f'<div class="entry event {entry.kind}{css}"><span class="kind">{e(label)}</span>{body}</div>'
    return f'<div class="entry event"><span class="kind">{e(entry.kind)}</span>{_fields(data)}</div>'


def _fields(data: dict) -> str:
    """An event's fields: short ones inline, long or multi-line ones as a block."""
    inline, blocks = [], []
    for key, value in data.items():
        text = _short_json(value, 4000)
        if len(text) > 80 or "\n" in text:
            blocks.append(f'<div class="meta">{e(key)}</div><pre>{e(text)}</pre>')
        else:
            inline.append(f'<span class="meta">{e(key)}</span> <code>{e(text)}</code>')
    return " ".join(inline) + "".join(blocks)


# --- terminal (tiss log) ------------------------------------------------------------


def print_terminal(view: RunView, console) -> None:
    """The same timeline as the report, with rich: a bar per step, then
    what happened in each step, one line per entry."""
    from rich.markup import escape
    from rich.table import Table
    from rich.text import Text

    style = {"ok": "green", "bad": "red", "wait": "yellow", "run": "blue"}
    colour = lambda status: style.get(STATUS_CLASS.get(status, ""), "")   # noqa: E731
    console.print(Text.assemble(("TASK ", "bold"), view.task, "  ", (view.status, f"bold {colour(view.status)}"),
                                f"  run {view.run_id}, started {when(view.started)}, took "
                                f"{seconds(view.span if view.started else None)}"))
    width = 30
    table = Table(show_header=False, box=None, pad_edge=False)
    for step in view.steps:
        left, size = bar(step, view)
        start = min(int(left * width / 100), width - 1)
        cells = max(1, round(size * width / 100))
        track = Text(" " * start + "█" * min(cells, width - start), style=colour(step.status))
        track.pad_right(width - len(track))
        table.add_row("  " * (step.depth - 1) + step.name, track, seconds(step.duration), Text(step.status, colour(step.status)))
    if view.steps:
        console.print(table)
    for title, entries, error in [("(outside any step)", view.loose, None)] + \
            [(step.name, step.entries, step.error) for step in view.steps]:
        if not entries and not error:
            continue
        console.print(Text(f"\n{title}", style="bold"))
        for entry in entries:
            console.print(Text("  " + entry_summary(entry)), overflow="fold")
            if entry.kind == "run":
                tail = ((entry.data.get("stdout") or "") + (entry.data.get("stderr") or "")).rstrip("\n").splitlines()
                for line in tail[-3:]:
                    console.print(Text(f"    │ {line}", style="dim"))
        if error:
            console.print(Text("  " + error.replace("\n", "\n  "), style="red"))
    for key, used in view.budget.items():
        console.print(f"budget {escape(key)}: used {escape(str(used.get('spent', 0)))} of {escape(str(used.get('limit', '–')))}")
    if view.error:
        console.print(Text(view.error, style="red"))
