"""examples/plugins is a real distribution: pip installs it into this
environment and its tool arrives through the entry point, no path tricks."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

PLUGIN = Path(__file__).parents[2] / "examples" / "plugins"


def pip(*args: str) -> None:
    subprocess.run([sys.executable, "-m", "pip", "-q", *args], check=True, timeout=300,
                   capture_output=True, text=True)


@pytest.fixture
def installed_plugin(tmp_path_factory):
    # A copy: the build leaves build/ and *.egg-info beside the sources.
    # --no-build-isolation: builds offline with the setuptools already here.
    source = shutil.copytree(PLUGIN, tmp_path_factory.mktemp("plugin") / "plugin")
    pip("install", "--no-deps", "--no-build-isolation", str(source))
    try:
        yield
    finally:
        pip("uninstall", "-y", "tiss-wordcount")


def test_the_example_plugin_installs_and_is_called_through_its_entry_point(installed_plugin, tmp_path):
    tiss = str(Path(sys.executable).with_name("tiss"))
    listed = subprocess.run([tiss, "tools", "--json"], capture_output=True, text=True, timeout=120, cwd=tmp_path)
    assert listed.returncode == 0, listed.stderr
    tool = next(t for t in json.loads(listed.stdout)["tools"] if t["name"] == "word_count")
    assert tool["source"] == "entry point tiss-wordcount (tiss_wordcount:word_count)"
    assert tool["parameters"]["properties"]["unit"] == {
        "enum": ["words", "lines"], "type": "string", "description": "what to count.", "default": "words"}
    plan = tmp_path / "count.tiss"
    plan.write_text('WRITE "notes.txt" "one two three\\nfour\\n"\n'
                    'CALL word_count {path: "notes.txt"} INTO counted\n'
                    'CALL word_count {path: "notes.txt", unit: "lines"} INTO lines\n'
                    'ASSERT counted.words == 4 AND lines.lines == 2\n')
    checked = subprocess.run([tiss, "check", str(plan)], capture_output=True, text=True, timeout=120)
    assert checked.returncode == 0, checked.stderr
    ran = subprocess.run([tiss, "run", str(plan), "--sandbox", "host", "--json"], capture_output=True,
                         text=True, timeout=120, cwd=tmp_path)
    assert json.loads(ran.stdout)["status"] == "succeeded", ran.stdout + ran.stderr
    plan.write_text('CALL word_count {path: "notes.txt", unit: "pages"}\n')
    checked = subprocess.run([tiss, "check", str(plan)], capture_output=True, text=True, timeout=120)
    assert checked.returncode == 2
    assert "error: tool 'word_count': argument 'unit': expected one of 'words', 'lines', got 'pages'" in checked.stderr
