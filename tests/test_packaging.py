"""pyproject.toml in the form current setuptools reads without a deprecation
warning: ``license`` as an SPDX expression, which setuptools reads from 77 on.

(Checked by hand with a real ``pip install -v -e .`` into a scratch venv: no
``SetuptoolsDeprecationWarning``; the team venv's own setuptools is too old to
load the file in-process, pip builds in an isolated environment.)"""

import re
import tomllib
from pathlib import Path

PYPROJECT = tomllib.loads((Path(__file__).resolve().parent.parent / "pyproject.toml").read_text())


def test_license_is_an_spdx_expression():
    assert PYPROJECT["project"]["license"] == "MIT"


def test_the_build_requires_a_setuptools_that_reads_spdx_licenses():
    (setuptools,) = [r for r in PYPROJECT["build-system"]["requires"] if r.startswith("setuptools")]
    minimum = re.fullmatch(r"setuptools>=(\d+)(?:\.\d+)*", setuptools)
    assert minimum and int(minimum.group(1)) >= 77, setuptools


def test_the_shipped_planner_is_package_data():
    """The wheel carries the planner's weights (model/weights/planner), so
    `pip install` then `tiss plan` works offline."""
    from model.backend import SHIPPED

    model_dir = Path(__file__).resolve().parent.parent / "model"
    patterns = PYPROJECT["tool"]["setuptools"]["package-data"]["model"]
    packaged = {p for pattern in patterns for p in model_dir.glob(pattern) if p.is_file()}
    shipped = {SHIPPED / name for name in ("config.json", "model.safetensors", "tokenizer.json")}
    assert shipped <= packaged
    assert sum(p.stat().st_size for p in shipped) <= 25 * 1024 * 1024


def test_tiss_plan_works_with_nothing_configured(tmp_path):
    import os
    import subprocess
    import sys

    env = {k: v for k, v in os.environ.items() if not k.startswith("TISS_")}
    env.update(HOME=str(tmp_path), XDG_CONFIG_HOME=str(tmp_path / ".config"))
    result = subprocess.run([sys.executable, "-m", "runtime.cli", "plan",
                             "create notes.txt containing 'buy milk'", "--json"],
                            capture_output=True, text=True, cwd=tmp_path, env=env, timeout=300)
    assert result.returncode == 0, result.stderr
    import json
    planned = json.loads(result.stdout)
    assert planned["status"] == "planned" and planned["constrained"]
    assert 'TASK "create notes.txt containing \'buy milk\'"' in planned["plan"]


def test_the_shipped_agent_is_package_data():
    """The agent's weights (model/weights/agent) ship too, and with the
    planner they stay within 25 MB."""
    from model.backend import SHIPPED, SHIPPED_AGENT

    model_dir = Path(__file__).resolve().parent.parent / "model"
    patterns = PYPROJECT["tool"]["setuptools"]["package-data"]["model"]
    packaged = {p for pattern in patterns for p in model_dir.glob(pattern) if p.is_file()}
    names = ("config.json", "model.safetensors", "tokenizer.json")
    shipped = {d / name for d in (SHIPPED, SHIPPED_AGENT) for name in names}
    assert shipped <= packaged
    assert sum(p.stat().st_size for p in shipped) <= 25 * 1024 * 1024


def test_tiss_agent_solves_a_goal_with_nothing_configured(tmp_path):
    """`tiss agent` with no configuration: the shipped agent model runs the
    loop; the goal (a held-out wording, file and text) is judged by the file."""
    import json
    import os
    import subprocess
    import sys

    env = {k: v for k, v in os.environ.items() if not k.startswith("TISS_")}
    env.update(HOME=str(tmp_path), XDG_CONFIG_HOME=str(tmp_path / ".config"))
    result = subprocess.run([sys.executable, "-m", "runtime.cli", "agent",
                             'I need "misc/roster.md" to hold "copper willow".', "--sandbox", "host", "--json"],
                            capture_output=True, text=True, cwd=tmp_path, env=env, timeout=300)
    assert result.returncode == 0, result.stderr + result.stdout
    assert json.loads(result.stdout)["status"] == "succeeded"
    assert (tmp_path / "misc/roster.md").read_text().strip() == "copper willow"
