"""``tiss batch --ray`` on a real Ray cluster that the tests start (on
127.0.0.1, its own temp dir, no usage stats) and stop by its handle, never
with ``ray stop`` (which ends every Ray process of the machine)."""

from __future__ import annotations

import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
from pathlib import Path

import pytest

from runtime.cli import main as tiss
from tests.runtime.test_batch import ancestor, events, slow_spec, start_batch
from tests.waiting import wait_for



def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@pytest.fixture(scope="module")
def cluster(tmp_path_factory):
    """A one-node Ray cluster: yields its address and the node folder of its
    workers; stopped by SIGTERM to the ``ray start --block`` process."""
    temp = tempfile.mkdtemp(prefix="tiss-rt-", dir="/tmp")    # Ray's socket paths must stay short
    nodes = tmp_path_factory.mktemp("ray-node")
    port = free_port()
    env = {**os.environ, "RAY_USAGE_STATS_ENABLED": "0", "RAY_AUTH_MODE": "disabled",
           "TISS_BATCH_NODE_DIR": str(nodes)}
    head = subprocess.Popen([str(Path(sys.executable).with_name("ray")), "start", "--head", "--block",
                             "--node-ip-address=127.0.0.1", f"--port={port}", "--num-cpus=2",
                             "--include-dashboard=false", "--disable-usage-stats", f"--temp-dir={temp}"],
                            env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    started = []

    def up():
        line = head.stdout.readline()
        started.append(line)
        return "block forever" in line or head.poll() is not None
    wait_for(up, "ray start --head", seconds=120)
    assert head.poll() is None, "".join(started)
    yield f"127.0.0.1:{port}", nodes
    head.send_signal(signal.SIGTERM)
    head.wait(timeout=60)
    shutil.rmtree(temp, ignore_errors=True)


@pytest.fixture(autouse=True)
def ray_env(monkeypatch):
    monkeypatch.setenv("RAY_USAGE_STATS_ENABLED", "0")
    monkeypatch.setenv("RAY_AUTH_MODE", "disabled")


def test_a_ray_worker_killed_mid_job_is_retried_and_its_runs_not_repeated(tmp_path, cluster):
    address, nodes = cluster
    spec = slow_spec(tmp_path, {"id": "quick", "plan": "quick.tiss", "vars": {"counter": str(tmp_path / "q")}})
    batch = start_batch(tmp_path, str(spec), "--ray", address)
    try:
        shell = int(wait_for(lambda: (tmp_path / "shellpid").exists() and (tmp_path / "shellpid").read_text().strip(),
                             "the slow job to reach its second RUN", seconds=120))
        worker = ancestor(shell, lambda pid: Path(f"/proc/{pid}/cmdline").read_bytes().startswith(b"ray::"))
        os.kill(worker, signal.SIGKILL)
        wait_for(lambda: not Path(f"/proc/{worker}").exists(), "the Ray worker to die")
        (tmp_path / "go").touch()
        out, err = batch.communicate(timeout=180)
    finally:
        batch.kill()
    assert batch.returncode == 0, err
    result = json.loads(out)
    jobs = {job["job"]: job for job in result["jobs"]}
    assert jobs["slow"]["status"] == jobs["quick"]["status"] == "succeeded"
    assert (tmp_path / "counter").read_text() == "ran\n"     # retried, the completed RUN not repeated
    # the run folder came back to the driver's batch folder (tar from the node)
    workspace = Path(jobs["slow"]["workspace"])
    assert workspace.is_relative_to(Path(result["folder"]))
    assert events(workspace).count("run_resumed") == 1 and jobs["slow"]["node"]
    assert (Path(jobs["quick"]["workspace"]) / "done.txt").read_text() == "yes"
    assert not any(nodes.iterdir())     # the node's copies are cleaned up


def test_ray_local_gives_the_same_results_as_the_local_pool(tmp_path, capsys):
    plans = tmp_path / "plans"
    plans.mkdir()
    (plans / "ok.tiss").write_text('TASK "ok"\nRUN "echo ok > out.txt"\nASSERT LAST_RUN.EXIT_CODE == 0\n')
    (plans / "fails.tiss").write_text('RUN "exit 4"\nASSERT LAST_RUN.EXIT_CODE == 0\n')
    (plans / "paused.tiss").write_text('PAUSE "wait"\nWRITE "after.txt" "x"\n')
    seen = []
    for where in (["--ray", "local"], ["--workers", "2"]):
        code = tiss(["batch", str(plans), *where, "--sandbox", "host", "--json", "--out", str(tmp_path / "out")])
        out = json.loads(capsys.readouterr().out)
        files = sorted(str(p.relative_to(Path(out["folder"]))) for p in Path(out["folder"]).rglob("*.txt"))
        seen.append((code, {j["job"]: (j["status"], j["exit_code"]) for j in out["jobs"]}, files))
    assert seen[0] == seen[1]
    assert seen[0][1] == {"ok": ("succeeded", 0), "fails": ("failed", 1), "paused": ("paused", 75)}
    assert "ok/workspace/out.txt" in seen[0][2]


def test_without_ray_installed_the_error_says_how_to_get_it(tmp_path, capsys, monkeypatch):
    monkeypatch.setitem(sys.modules, "ray", None)
    (tmp_path / "a.tiss").write_text('LOG "hi"\n')
    assert tiss(["batch", str(tmp_path), "--ray", "local", "--out", str(tmp_path / "out")]) == 2
    assert "pip install 'quanta-tissu[ray]'" in capsys.readouterr().err
