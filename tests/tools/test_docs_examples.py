"""The Python examples of docs/tools.md and of the README's tools section run."""

from __future__ import annotations

import re
import sys
import types
from pathlib import Path

import pytest

ROOT = Path(__file__).parents[2]
BLOCK = re.compile(r"```python\n(.*?)```", re.S)


def tool_examples():
    readme = (ROOT / "README.md").read_text()
    section = readme[readme.index("## Tools: `CALL`"):]
    section = section[:section.index("\n## ", 1)]
    return [*BLOCK.findall((ROOT / "docs" / "tools.md").read_text()), *BLOCK.findall(section)]


def test_there_are_examples():
    assert len(tool_examples()) >= 2


@pytest.mark.parametrize("code", tool_examples())
def test_a_tool_authors_example_runs(code, monkeypatch):
    module = types.ModuleType("tool_example")   # a real module: dataclasses look theirs up
    monkeypatch.setitem(sys.modules, module.__name__, module)
    exec(compile(code, "<example>", "exec"), module.__dict__)
