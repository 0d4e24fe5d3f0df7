"""No command outlives the tiss process that started it, on every backend,
even when tiss is killed with SIGKILL and cleans nothing up itself."""

from __future__ import annotations

import subprocess
import sys

from .conftest import processes_with, wait_for


def test_a_sigkilled_tiss_leaves_no_command_behind(backend, tmp_path, marker):
    workspace = tmp_path / "ws"
    workspace.mkdir()
    (workspace / "sleeper.py").write_text(
        "import pathlib, time\npathlib.Path('started').touch()\ntime.sleep(300)\n")
    # "; echo" keeps the shell alive as the sleeper's parent (no exec of the last command)
    (workspace / "plan.tiss").write_text(
        f'TASK "t" {{\n  STEP "sleep" {{ RUN "python3 sleeper.py {marker}; echo done" }}\n}}\n')
    tiss = subprocess.Popen([sys.executable, "-m", "runtime.cli", "run", "plan.tiss",
                             "--sandbox", backend], cwd=workspace,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        wait_for(lambda: (workspace / "started").exists(), "the command to start", seconds=60)
        assert processes_with(marker), "the command is not visible from here"
    finally:
        tiss.kill()  # SIGKILL
        tiss.wait()
    wait_for(lambda: not processes_with(marker), "the command to die with tiss")
