"""Every .tiss file in the repository is in canonical format, as the README
advises (`tiss fmt --check`): examples are what users copy."""

import subprocess
from pathlib import Path

import pytest

from tisslang.formatter import format_source

ROOT = Path(__file__).resolve().parent.parent


def tracked_plans() -> list[str]:
    listed = subprocess.run(["git", "ls-files", "*.tiss"], cwd=ROOT, capture_output=True,
                            text=True, check=True, timeout=60)
    return listed.stdout.split()


def test_the_repository_has_plans_to_check():
    assert "examples/01_hello.tiss" in tracked_plans()


@pytest.mark.parametrize("name", tracked_plans())
def test_plan_is_canonical(name):
    source = (ROOT / name).read_text(encoding="utf-8")
    assert format_source(source, name) == source, f"run: tiss fmt {name}"
