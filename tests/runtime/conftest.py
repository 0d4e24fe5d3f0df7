"""Shared helpers for the runtime tests: run TissLang text in a temporary
workspace on the host sandbox (fast; the docker tests choose docker)."""

from __future__ import annotations

import json
import textwrap

import pytest

from runtime import run_plan
from runtime.journal import RunFolder


class ScriptedModel:
    """A model backend that answers from a list (the interpreter's neighbour,
    not the thing under test)."""

    def __init__(self, answers=("ok",), scores=None):
        self.answers = list(answers)
        self.prompts = []
        self.scores = scores

    def generate(self, prompt, *, system=None, max_tokens=256):
        self.prompts.append((prompt, system))
        return self.answers.pop(0) if len(self.answers) > 1 else self.answers[0]

    def score(self, options, context):
        return self.scores or [float(i) for i in range(len(options))]

    def count_tokens(self, text):
        return len(text.split())


@pytest.fixture
def run(tmp_path):
    """``run(source, **options) -> RunOutcome`` in ``tmp_path / 'ws'``."""
    workspace = tmp_path / "ws"
    workspace.mkdir()

    def _run(source: str, **options):
        options.setdefault("sandbox", "host")
        options.setdefault("review", "pause")
        return run_plan(textwrap.dedent(source).strip() + "\n", workspace, **options)

    _run.workspace = workspace
    return _run


def events_of(outcome) -> list[dict]:
    return list(RunFolder(outcome.journal).events())


def dumps(value) -> str:
    return json.dumps(value, ensure_ascii=False)
