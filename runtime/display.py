"""What a person sees while a plan runs.

``LiveDisplay`` (a terminal): the task, each running step with a spinner,
finished steps with ✓/✗ and their duration, each command's output folded to
its last lines, failures with the assertion report. ``PlainDisplay`` (a
pipe, a log file, CI): the same information as plain lines, no animation.
Both are thread-safe: PARALLEL steps report from several threads.
"""

from __future__ import annotations

import sys
import threading
import time

from rich.console import Console, Group
from rich.live import Live
from rich.markup import escape
from rich.spinner import Spinner
from rich.text import Text

TAIL_LINES = 3           # lines of a command's output kept on screen
COMMAND_WIDTH = 70


def make_display(stream=None, live: bool | None = None):
    stream = stream or sys.stdout
    if live is None:
        live = stream.isatty()
    return LiveDisplay(Console(file=stream)) if live else PlainDisplay(stream)


def _short(command: str) -> str:
    first = command.strip().splitlines()[0] if command.strip() else ""
    more = command.strip() != first
    if len(first) > COMMAND_WIDTH or more:
        return first[:COMMAND_WIDTH] + " …"
    return first


def _tail(record: dict) -> list[str]:
    text = (record.get("STDOUT") or "") + (record.get("STDERR") or "")
    return text.rstrip("\n").splitlines()[-TAIL_LINES:] if text.strip() else []


# The agent loop's lines: a mark each, and on a terminal a style (thoughts dimmed).
AGENT_MARKS = {"thought": "thought:", "action": "→", "observation": "←", "answer": "✔ answer:"}
AGENT_STYLES = {"thought": "dim italic", "action": "bold cyan", "observation": "", "answer": "bold green"}
OBSERVATION_LINES = 6


def _agent_line(kind: str, text: str) -> str:
    lines = text.rstrip("\n").splitlines() or [""]
    if kind == "observation" and len(lines) > OBSERVATION_LINES:
        lines = lines[:OBSERVATION_LINES] + [f"… ({len(lines) - OBSERVATION_LINES} more lines)"]
    return f"  {AGENT_MARKS.get(kind, kind)} " + "\n      ".join(lines)


class PlainDisplay:
    def __init__(self, stream):
        self.stream = stream
        self.lock = threading.Lock()
        self.commands: dict[str, str] = {}   # statement key -> command line

    def _print(self, text: str) -> None:
        with self.lock:
            print(text, file=self.stream, flush=True)

    def task(self, name: str) -> None:
        self._print(f"TASK {name}")

    def step_started(self, key: str, name: str) -> None:
        self._print(f"• {name} …")

    def step_finished(self, key, name, status, duration, error=None) -> None:
        mark = {"succeeded": "✓", "failed": "✗"}.get(status, "■")
        self._print(f"{mark} {name} ({duration:.1f}s){'' if status in ('succeeded', 'failed') else ' ' + status}")
        if error:
            self._print("    " + error.replace("\n", "\n    "))

    def command_started(self, key: str, command: str) -> None:
        self.commands[key] = command

    def command_finished(self, key: str, record: dict) -> None:
        """The command, its last lines and how it ended, as one block (so
        PARALLEL branches do not interleave their output)."""
        lines = [f"  $ {_short(self.commands.pop(key, ''))}"]
        lines += [f"    │ {line}" for line in _tail(record)]
        if record["EXIT_CODE"] != 0 or record["TIMED_OUT"]:
            what = "timed out" if record["TIMED_OUT"] else f"exit {record['EXIT_CODE']}"
            lines.append(f"    └ {what} after {record['DURATION']:.1f}s")
        self._print("\n".join(lines))

    def log(self, message: str) -> None:
        self._print(f"  LOG {message}")

    def note(self, message: str) -> None:
        self._print(f"  note: {message}")

    def agent(self, kind: str, text: str) -> None:
        """A step of the agent loop (runtime/agent.py): thought, action,
        observation or answer, each marked so they read apart."""
        self._print(_agent_line(kind, text))

    def pause_output(self) -> None:
        """A question is about to be asked on the terminal."""

    def resume_output(self) -> None:
        pass

    def close(self) -> None:
        pass


class LiveDisplay(PlainDisplay):
    """Running steps stay at the bottom with a spinner; everything finished
    is printed above them for good."""

    def __init__(self, console: Console):
        super().__init__(console.file)
        self.console = console
        self.running: dict[str, tuple[str, float, str]] = {}   # key -> name, start, current command
        self.live = Live(self, console=console, refresh_per_second=10, transient=True)
        self.live.start()

    def __rich__(self):
        rows = []
        now = time.monotonic()
        for name, started, command in list(self.running.values()):
            label = f"{name} [dim]{now - started:.1f}s[/]" + (f"  [dim]$ {escape(command)}[/]" if command else "")
            rows.append(Spinner("dots", text=Text.from_markup(label)))
        return Group(*rows)

    def _print(self, text: str) -> None:
        with self.lock:
            self.console.print(text, markup=False, highlight=False)

    def task(self, name: str) -> None:
        self.console.print(f"[bold]TASK[/] {escape(name)}")

    def step_started(self, key: str, name: str) -> None:
        self.running[key] = (name, time.monotonic(), "")

    def step_finished(self, key, name, status, duration, error=None) -> None:
        self.running.pop(key, None)
        mark = {"succeeded": "[green]✓[/]", "failed": "[red]✗[/]"}.get(status, "[yellow]■[/]")
        extra = "" if status in ("succeeded", "failed") else f" [yellow]{status}[/]"
        self.console.print(f"{mark} {escape(name)} [dim]({duration:.1f}s)[/]{extra}")
        if error:
            self.console.print(Text("    " + error.replace("\n", "\n    "), style="red"))

    def command_started(self, key: str, command: str) -> None:
        super().command_started(key, command)
        step = self._step_of(key)
        if step:
            name, started, _ = self.running[step]
            self.running[step] = (name, started, _short(command))

    def agent(self, kind: str, text: str) -> None:
        style = AGENT_STYLES.get(kind, "")
        self.console.print(Text(_agent_line(kind, text), style=style))

    def _step_of(self, key: str) -> str | None:
        owners = [k for k in self.running if key.startswith(k + ".")]
        return max(owners, key=len) if owners else None

    def pause_output(self) -> None:
        self.live.stop()

    def resume_output(self) -> None:
        self.live.start()

    def close(self) -> None:
        self.live.stop()
