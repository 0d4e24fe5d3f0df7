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
