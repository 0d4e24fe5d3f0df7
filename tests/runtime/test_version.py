"""`tiss --version` prints `tiss <version>`, the version pip installed."""

import subprocess
import sys
from importlib.metadata import version

import pytest

from runtime.cli import main


def test_version_flag_prints_the_installed_version(capsys):
    with pytest.raises(SystemExit) as stop:
        main(["--version"])
    assert stop.value.code == 0
    assert capsys.readouterr().out == f"tiss {version('quanta-tissu')}\n"


def test_version_from_a_real_process():
    done = subprocess.run([sys.executable, "-m", "runtime.cli", "--version"],
                          capture_output=True, text=True, timeout=60)
    assert (done.returncode, done.stdout, done.stderr) == (0, f"tiss {version('quanta-tissu')}\n", "")
