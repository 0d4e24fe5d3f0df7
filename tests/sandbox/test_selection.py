"""Choosing a backend (auto), bubblewrap's cgroup bookkeeping, and the
`tiss sandbox` command."""

from __future__ import annotations

import json
import shutil

import pytest

from runtime.cli import main
from runtime.sandbox import SandboxConfig, SandboxError, open_sandbox
from runtime.sandbox.bwrap import Cgroup, cgroups_available

from .conftest import make_sandbox, require_backend


def test_auto_prefers_docker_when_an_engine_answers(tmp_path):
    require_backend("docker")
    assert open_sandbox("auto", SandboxConfig(workspace=tmp_path)).name == "docker"


def test_auto_falls_back_to_bubblewrap_without_an_engine(tmp_path, monkeypatch):
    require_backend("bwrap")
    monkeypatch.setenv("DOCKER_HOST", f"unix://{tmp_path}/no-engine.sock")
    assert open_sandbox("auto", SandboxConfig(workspace=tmp_path)).name == "bwrap"


def test_auto_never_falls_back_to_the_host(tmp_path, monkeypatch):
    monkeypatch.setenv("DOCKER_HOST", f"unix://{tmp_path}/no-engine.sock")
    monkeypatch.setenv("PATH", str(tmp_path))  # no bwrap on the PATH
    with pytest.raises(SandboxError, match="no sandbox backend is available") as caught:
        open_sandbox("auto", SandboxConfig(workspace=tmp_path))
    assert "apt-get install bubblewrap" in caught.value.hint
    assert "docker.io" in caught.value.hint


def test_host_is_explicit_and_warns(tmp_path, capsys):
    assert open_sandbox("host", SandboxConfig(workspace=tmp_path)).name == "host"
    assert capsys.readouterr().err.count("\n") == 1  # one line


def test_a_host_executor_that_dies_at_start_is_one_clear_error(tmp_path, monkeypatch):
    # the host binds the executor's socket itself and opens the lease at
    # once: an executor that never serves must still be noticed and explained
    import runtime.sandbox.host as host
    broken = tmp_path / "executor.py"
    broken.write_text("import sys\nprint('cannot start: no /proc', file=sys.stderr)\nsys.exit(3)\n")
    monkeypatch.setattr(host, "EXECUTOR", str(broken))
    sandbox = host.HostSandbox(SandboxConfig(workspace=tmp_path / "ws"))
    with pytest.raises(SandboxError, match="the sandbox did not start: its executor exited with status 3") as caught:
        sandbox.start()
    assert "cannot start: no /proc" in str(caught.value) + (caught.value.hint or "")
    assert sandbox._process is None and sandbox._executor is None   # closed: nothing left running


def test_an_unknown_backend_is_a_clear_error(tmp_path):
    with pytest.raises(SandboxError, match="unknown sandbox backend 'vm'") as caught:
        open_sandbox("vm", SandboxConfig(workspace=tmp_path))
    assert "auto, docker, bwrap, host" in caught.value.hint


def test_bwrap_without_the_program_says_what_to_install(tmp_path, monkeypatch):
    monkeypatch.setenv("PATH", str(tmp_path))
    with pytest.raises(SandboxError, match="not installed") as caught:
        open_sandbox("bwrap", SandboxConfig(workspace=tmp_path)).start()
    assert "apt-get install bubblewrap" in caught.value.hint


def test_bwrap_cgroups_are_removed_at_close_and_stale_ones_reaped(workspace):
    require_backend("bwrap")
    if not cgroups_available():
        pytest.skip("this process cannot create cgroups: bwrap uses rlimits here")
    with make_sandbox("bwrap", workspace) as box:
        dirs = set(box._cgroup.dirs.values())
        assert all(d.is_dir() for d in dirs)
        assert (box._cgroup.dirs["pids"] / "pids.max").read_text().strip() == "64"
    assert not any(d.exists() for d in dirs)
    stale = next(iter(dirs)).parent / "tiss-999999-1-abcdef"  # a crashed run's, no such process
    stale.mkdir()
    Cgroup.reap_stale()
    assert not stale.exists()


def test_tiss_sandbox_status_reports_each_backend(capsys):
    assert main(["sandbox", "status", "--json"]) == 0
    report = json.loads(capsys.readouterr().out)
    assert set(report) == {"docker", "bwrap", "host"}
    assert report["host"]["protections"] == ["background_jobs", "clean_env", "output_cap", "timeout"]
    assert report["bwrap"]["available"] == (shutil.which("bwrap") is not None and
                                            report["bwrap"]["problem"] is None)


def test_tiss_sandbox_build_image_if_missing_keeps_an_existing_image(capsys):
    require_backend("docker")  # builds the image when missing
    assert main(["sandbox", "build-image", "--if-missing"]) == 0
    assert "is present" in capsys.readouterr().out


def test_tiss_sandbox_build_image_without_engine_is_one_clear_error(capsys, monkeypatch, tmp_path):
    monkeypatch.setenv("DOCKER_HOST", f"unix://{tmp_path}/no-engine.sock")
    assert main(["sandbox", "build-image"]) == 1
    err = capsys.readouterr().err
    assert err.startswith("error: no Docker engine answered") and "hint:" in err
    assert "Traceback" not in err


def test_tiss_sandbox_setup_readies_docker_when_an_engine_answers(capsys):
    require_backend("docker")
    assert main(["sandbox", "setup"]) == 0
    assert "quanta-tissu/sandbox:local is present" in capsys.readouterr().out


def test_tiss_sandbox_reap_reports_what_it_removed(capsys):
    require_backend("docker")
    assert main(["sandbox", "reap"]) == 0
    out = capsys.readouterr().out
    assert "bwrap: stale cgroups removed" in out and "stale container(s) removed" in out
