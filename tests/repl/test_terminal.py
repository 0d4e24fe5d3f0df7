"""End to end: the real ``tiss repl`` in a terminal (tmux), checked by what a
person would see on the screen."""

from __future__ import annotations

import os
import re
import shlex
import subprocess
import sys
import time
import uuid
from pathlib import Path

import pytest

from ..waiting import wait_for

TISS = Path(sys.executable).with_name("tiss")
DEADLINE = 30.0    # seconds to wait for any one thing to appear


class Terminal:
    """A tmux session on its own server socket, so nobody else's is touched."""

    def __init__(self, command: str, cwd: Path):
        self.socket = f"tiss-repl-test-{uuid.uuid4().hex[:8]}"
        self.tmux("-f", "/dev/null", "new-session", "-d", "-s", "repl", "-x", "110", "-y", "35",
                  "-c", str(cwd), f"{command}; echo \"[exited $?]\"; sleep 60")

    def tmux(self, *args: str) -> str:
        done = subprocess.run(["tmux", "-L", self.socket, *args], capture_output=True, text=True, timeout=10)
        assert done.returncode == 0, done.stderr
        return done.stdout

    def type(self, text: str, enter: bool = True) -> None:
        self.tmux("send-keys", "-t", "repl", "-l", text)
        if enter:
            self.keys("Enter")

    def keys(self, *names: str) -> None:
        self.tmux("send-keys", "-t", "repl", *names)

    def screen(self, colours: bool = False) -> str:
        return self.tmux("capture-pane", "-p", "-t", "repl", "-S", "-500", *(["-e"] if colours else []))

    def wait_for(self, text: str) -> str:
        """Poll the screen until ``text`` shows up."""
        deadline = time.monotonic() + DEADLINE
        while time.monotonic() < deadline:
            screen = self.screen()
            if text in screen:
                return screen
            time.sleep(0.05)
        pytest.fail(f"{text!r} never appeared on the screen:\n{self.screen()}")

    def wait_for_prompt(self) -> None:
        """Wait for an empty ``tiss>`` line: the REPL is ready for input."""
        deadline = time.monotonic() + DEADLINE
        while time.monotonic() < deadline:
            shown = [line for line in self.screen().splitlines() if line.strip()]
            if len(shown) >= 2 and shown[-2] == "tiss>":   # the last line is the toolbar
                return
            time.sleep(0.05)
        pytest.fail(f"the prompt did not come back:\n{self.screen()}")

    def close(self) -> None:
        subprocess.run(["tmux", "-L", self.socket, "kill-server"], capture_output=True, timeout=10)
        folder = Path(os.environ.get("TMUX_TMPDIR", "/tmp")) / f"tmux-{os.getuid()}"
        (folder / self.socket).unlink(missing_ok=True)   # the server leaves its socket file


@pytest.fixture
def terminal(tmp_path):
    workspace = tmp_path / "ws"
    workspace.mkdir()
    (workspace / "notes.txt").write_text("x\n")
    env = f"XDG_DATA_HOME={shlex.quote(str(tmp_path / 'data'))} TISS_CONFIG=/dev/null"
    term = Terminal(f"env {env} {TISS} repl --sandbox host", workspace)
    term.workspace = workspace
    yield term
    term.close()


def test_a_person_at_the_terminal(terminal):
    terminal.wait_for_prompt()
    screen = terminal.screen()
    assert "sandbox: host (starts at the first RUN)" in screen and "budget: no limits" in screen

    terminal.type('VAR name = "world"')
    # Highlighted as typed: the keyword and the string each get their colour.
    terminal.wait_for('tiss> VAR name = "world"')
    coloured = terminal.screen(colours=True)
    keyword = re.search(r"(\x1b\[[\d;]*m)+VAR", coloured)
    string = re.search(r"(\x1b\[[\d;]*m)+\"world\"", coloured)
    assert keyword and string and keyword.group() != string.group().replace('"world"', "VAR"), coloured
    terminal.type('RUN "echo hello {{name}}"')
    terminal.wait_for("│ hello world")
    terminal.wait_for("sandbox: host (running)")

    # A block continues over several lines, with a continuation prompt.
    terminal.type('STEP "check" {')
    terminal.wait_for('tiss> STEP "check" {\n...')
    terminal.type('ASSERT LAST_RUN.STDOUT CONTAINS "hello"')
    terminal.type("}")
    terminal.wait_for("✓ check")

    # Review: the message, then single-key answers.
    terminal.type('REQUEST_REVIEW "deploy to prod?"')
    terminal.wait_for("? REVIEW (line 1): deploy to prod?")
    terminal.wait_for("[a]pprove  [r]eject  [c]omment")
    terminal.keys("a")
    terminal.wait_for("  approved")
    terminal.wait_for_prompt()

    # Tab completes variables and workspace paths.
    terminal.type("LAST_RE", enter=False)
    terminal.keys("Tab")
    terminal.wait_for("tiss> LAST_REVIEW")
    terminal.keys("C-u")
    terminal.wait_for_prompt()
    terminal.type('READ "no', enter=False)
    terminal.keys("Tab")
    terminal.wait_for('tiss> READ "notes.txt')
    terminal.keys("C-u")
    terminal.wait_for_prompt()

    # Ctrl-C stops a running command, not the session.
    terminal.type('RUN "touch started; sleep 30"')
    wait_for((terminal.workspace / "started").exists, "the command to start")
    terminal.keys("C-c")
    terminal.wait_for("interrupted: what was running was stopped")
    terminal.wait_for_prompt()
    terminal.type('LOG "still {{name}}"')
    terminal.wait_for("LOG still world")

    # A parse error is shown as a diagnostic, then the prompt comes back.
    terminal.type("RUN ls")
    terminal.wait_for('hint: quote it: RUN "ls"')
    terminal.wait_for_prompt()

    terminal.keys("C-d")
    screen = terminal.wait_for("[exited 0]")
    assert "Traceback" not in screen
    runs = list((terminal.workspace / ".tiss" / "runs").iterdir())
    assert len(runs) == 1
    events = (runs[0] / "events.jsonl").read_text()
    assert '"review_answered"' in events and '"session_ended"' in events


def test_closing_the_terminal_removes_the_sandbox(tmp_path):
    import docker
    workspace = tmp_path / "ws"
    workspace.mkdir()
    term = Terminal(f"env XDG_DATA_HOME={shlex.quote(str(tmp_path / 'data'))} {TISS} repl --sandbox docker", workspace)
    try:
        term.wait_for_prompt()
        term.type('RUN "echo container up"')
        term.wait_for("│ container up")
        (run_id,) = [p.name for p in (workspace / ".tiss" / "runs").iterdir()]
        client = docker.from_env()
        label = {"label": f"org.quanta-tissu.run-id={run_id}"}
        assert len(client.containers.list(all=True, filters=label, sparse=True)) == 1
    finally:
        term.close()      # kills the tmux server: the REPL gets SIGHUP
    events = workspace / ".tiss" / "runs" / run_id / "events.jsonl"
    # sparse: no inspection of each container, which races its removal (404)
    wait_for(lambda: not client.containers.list(all=True, filters=label, sparse=True),
             "the container's removal", DEADLINE)
    wait_for(lambda: '"session_ended"' in events.read_text(), "session_ended in the journal", DEADLINE)
