"""Drive ``runtime.repl.Repl`` through prompt-toolkit's pipe input: the
keystrokes are queued first, then the REPL runs until Ctrl-D."""

from __future__ import annotations

import io

import pytest
from prompt_toolkit.input import create_pipe_input
from prompt_toolkit.output import DummyOutput

from runtime.journal import RunFolder
from runtime.repl import Repl

CTRL_D = "\x04"
ENTER = "\r"


class Driven:
    """What one REPL run left behind: its screen text, session and journal."""

    def __init__(self, repl: Repl, text: str):
        self.repl, self.text = repl, text

    @property
    def variables(self) -> dict:
        return self.repl.session.variables

    @property
    def events(self) -> list[dict]:
        return list(RunFolder(self.repl.session.folder.path).events())

    def events_named(self, name: str) -> list[dict]:
        return [e for e in self.events if e["event"] == name]


@pytest.fixture
def workspace(tmp_path):
    path = tmp_path / "ws"
    path.mkdir()
    return path


@pytest.fixture
def drive(workspace, tmp_path):
    """``drive(*keys, **repl_options) -> Driven``: each key string is sent
    as typed (use ENTER to submit); Ctrl-D is added at the end."""

    def _drive(*keys: str, sandbox: str = "host", **options) -> Driven:
        out = io.StringIO()
        with create_pipe_input() as pipe:
            for key in keys:
                pipe.send_text(key)
            pipe.send_text(CTRL_D)
            repl = Repl(workspace, sandbox=sandbox, input=pipe, output=DummyOutput(), stdout=out,
                        history=tmp_path / "history", **options)
            assert repl.loop() == 0
        return Driven(repl, out.getvalue())

    return _drive


def lines(*entries: str) -> tuple[str, ...]:
    """Entries typed one after the other, each submitted with Enter; a
    multi-line entry's newlines are typed as Enter too."""
    return tuple(entry.replace("\n", ENTER) + ENTER for entry in entries)
