"""A user's project with its own top-level ``tools`` and ``model`` packages,
run by ``python -m pytest`` from its root (the project first on sys.path):
its imports get its packages, while the pytest plugin and CALL get ours."""

from __future__ import annotations

import subprocess
import sys
import textwrap
from pathlib import Path

PROJECT = {
    "tools/__init__.py": "WHOSE = 'the project'\n",
    "tools/helpers.py": "def double(x):\n    return 2 * x\n",
    "model/__init__.py": "WHOSE = 'the project'\n",
    "tests/test_mine.py": '''
        import tools
        import model
        from tools.helpers import double


        def test_the_project_keeps_its_own_packages():
            assert tools.WHOSE == "the project" and model.WHOSE == "the project"
            assert double(2) == 4


        def test_a_plan_calls_our_tools_inside_the_project(tiss_runner):
            outcome = tiss_runner.run(
                'CALL write_file {path: "x.txt", content: "hello"}\\n'
                'CALL read_file {path: "x.txt"} INTO text\\n'
                'ASSERT text == "hello"\\n')
            assert outcome.status == "succeeded", outcome.error
            import tools as again
            assert again.WHOSE == "the project"   # still the project's after our imports


        def test_our_registry_is_reachable_by_its_other_name():
            from runtime.ours import ours
            assert ours("tools").tool.__module__.endswith("registry")
            assert "read_file" in ours("tools").load_registry()
    ''',
}


def test_a_project_with_its_own_tools_and_model_packages(tmp_path):
    for name, text in PROJECT.items():
        path = tmp_path / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(textwrap.dedent(text))
    done = subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider",
                           "--tiss-sandbox", "host", "tests/test_mine.py"],
                          cwd=tmp_path, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    assert "3 passed" in done.stdout


def test_tiss_in_that_project_is_ours(tmp_path):
    for name, text in PROJECT.items():
        path = tmp_path / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(textwrap.dedent(text))
    tiss = Path(sys.executable).with_name("tiss")
    done = subprocess.run([str(tiss), "tools"], cwd=tmp_path, capture_output=True, text=True, timeout=120,
                          env={"PYTHONPATH": str(tmp_path), "PATH": "/usr/bin:/bin"})
    assert done.returncode == 0, done.stderr
    assert "read_file  (built-in)" in done.stdout
