"""The Docker backend across `tiss` processes, for real: the local image
built on first use (also by two runs at once), and a root-owned workspace
given back after `tiss` was SIGKILLed while it was lent to the sandbox."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
import time
import uuid
from pathlib import Path

import docker.errors
import pytest

from runtime.sandbox.image import LOCAL_IMAGE_ENV, SANDBOX_UID, is_current


TISS = [sys.executable, "-m", "runtime.cli"]
QUICK_PLAN = 'TASK "quick"\n\nRUN "echo ran > ran.txt"\n'
BUILD_LINE = "building the local sandbox image"


def tiss_run(workspace: Path, plan: str, env: dict, **popen) -> subprocess.Popen:
    (workspace / "plan.tiss").write_text(plan)
    return subprocess.Popen([*TISS, "run", "plan.tiss", "--sandbox", "docker"], cwd=workspace,
                            env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            **popen)


def finish(process: subprocess.Popen) -> tuple[int, str, str]:
    out, err = process.communicate(timeout=120)
    return process.returncode, out, err


# -- the local image -------------------------------------------------------------

@pytest.fixture
def fresh_image_tag(client):
    """A local-image tag of this test's own, absent at start (other tests
    keep using the default one), removed at the end."""
    tag = f"quanta-tissu/sandbox-test:{uuid.uuid4().hex[:10]}"
    yield tag
    try:
        client.images.remove(tag)
    except docker.errors.ImageNotFound:
        pass


def test_tiss_run_builds_a_missing_local_image_and_says_so(client, tmp_path, fresh_image_tag):
    env = {**os.environ, LOCAL_IMAGE_ENV: fresh_image_tag, "XDG_STATE_HOME": str(tmp_path / "st")}
    code, out, err = finish(tiss_run(tmp_path, QUICK_PLAN, env))
    assert code == 0, err
    assert (tmp_path / "ran.txt").read_text() == "ran\n"
    assert [line for line in err.splitlines() if BUILD_LINE in line] == [
        f"{BUILD_LINE} {fresh_image_tag} (first use; no download)"]
    assert is_current(client.images.get(fresh_image_tag).labels)


def test_two_runs_at_once_build_the_missing_image_once_and_both_succeed(client, tmp_path,
                                                                       fresh_image_tag):
    env = {**os.environ, LOCAL_IMAGE_ENV: fresh_image_tag, "XDG_STATE_HOME": str(tmp_path / "st")}
    workspaces = [tmp_path / "a", tmp_path / "b"]
    for workspace in workspaces:
        workspace.mkdir()
    results = [finish(p) for p in [tiss_run(w, QUICK_PLAN, env) for w in workspaces]]
    assert [code for code, _, _ in results] == [0, 0], [err for _, _, err in results]
    assert all((w / "ran.txt").read_text() == "ran\n" for w in workspaces)
    assert sum(err.count(BUILD_LINE) for _, _, err in results) == 1  # the other one waited
    assert is_current(client.images.get(fresh_image_tag).labels)


@pytest.mark.parametrize("how", ["env", "@image"])
def test_a_malformed_image_name_is_one_clear_error(client, tmp_path, how):
    env = {**os.environ, "XDG_STATE_HOME": str(tmp_path / "st")}
    plan = QUICK_PLAN
    if how == "env":
        env[LOCAL_IMAGE_ENV] = "Bad Name"
    else:
        plan = '@image "Bad Name"\n' + plan
    code, out, err = finish(tiss_run(tmp_path, plan, env))
    assert code == 1 and "Traceback" not in out + err
    assert "invalid Docker image name 'Bad Name'" in out + err
    assert (LOCAL_IMAGE_ENV if how == "env" else "@image") in out + err  # where to fix it


# -- a workspace lent by a killed tiss -------------------------------------------

OWNER = (0, 1234)  # root-owned (so it is lent), with a group only the record knows


def _owners(workspace: Path) -> set[tuple[int, int]]:
    """The owners of the workspace and everything in it but the run folder."""
    paths = [workspace] + [p for p in workspace.rglob("*") if ".tiss" not in p.parts]
    return {(p.lstat().st_uid, p.lstat().st_gid) for p in paths}


def _kill_tiss_mid_run(workspace: Path, env: dict, host_dir: Path) -> None:
    """Start a plan whose command plants a symlink to ``host_dir`` and
    sleeps; SIGKILL tiss once the command runs."""
    sleeping = workspace / "sleeping"
    plan = textwrap.dedent(f"""\
        TASK "long"

        RUN "mkdir -p made/deep && ln -s {host_dir} made/to-host && touch sleeping && sleep 300"
        """)
    child = tiss_run(workspace, plan, env)
    deadline = time.monotonic() + 60
    while not sleeping.exists():
        assert child.poll() is None, child.communicate()
        assert time.monotonic() < deadline, "the long command never started"
        time.sleep(0.05)
    child.kill()
    child.communicate()


@pytest.fixture
def lent_workspace(client, tmp_path):
    """A root-owned workspace (group 1234), left lent to the sandbox uid by a
    SIGKILLed tiss; yields (workspace, env, host_dir)."""
    if os.geteuid() != 0:
        pytest.skip("only root lends a workspace to the sandbox user")
    workspace, host_dir = tmp_path / "ws", tmp_path / "host"
    (workspace / "src").mkdir(parents=True)
    (workspace / "src" / "a.py").write_text("print('a')\n")
    host_dir.mkdir()
    (host_dir / "keep").write_text("the host's\n")
    os.chown(host_dir / "keep", SANDBOX_UID, SANDBOX_UID)  # must not be "given back"
    for path in (workspace, workspace / "src", workspace / "src" / "a.py"):
        os.chown(path, *OWNER)
    env = {**os.environ, "XDG_STATE_HOME": str(tmp_path / "state")}
    _kill_tiss_mid_run(workspace, env, host_dir)
    assert (SANDBOX_UID, SANDBOX_UID) in _owners(workspace)  # lent, and left so
    yield workspace, env, host_dir
    assert (host_dir / "keep").stat().st_uid == SANDBOX_UID  # no symlink was followed


def test_the_next_run_gives_a_killed_runs_workspace_back(lent_workspace):
    workspace, env, _ = lent_workspace
    code, _, err = finish(tiss_run(workspace, QUICK_PLAN, env))
    assert code == 0, err
    assert (workspace / "ran.txt").read_text() == "ran\n"
    assert _owners(workspace) == {OWNER}


def test_tiss_sandbox_reap_gives_a_killed_runs_workspace_back(lent_workspace):
    workspace, env, _ = lent_workspace
    reap = subprocess.run([*TISS, "sandbox", "reap"], env=env, capture_output=True, text=True,
                          timeout=120)
    assert reap.returncode == 0, reap.stderr
    assert f"given back: {workspace}" in reap.stdout, reap.stdout
    assert _owners(workspace) == {OWNER}
