"""The bubblewrap backend's own paths: the network when allowed, and no
leaks when its client is killed with SIGKILL (as test_docker.py checks for
Docker). The rlimit fallback is in test_rlimits.py."""

from __future__ import annotations

import signal
import subprocess
import sys
import textwrap
import uuid

import pytest

from runtime.sandbox.bwrap import _writable_parents, cgroups_available

from .conftest import make_sandbox, processes_with, require_backend, wait_for


@pytest.fixture(autouse=True)
def bwrap():
    require_backend("bwrap")


def test_network_on_reaches_a_host_server(workspace, tcp_server):
    command = (f"python3 -c \"import socket; print(socket.create_connection(('127.0.0.1', {tcp_server}),"
               f" timeout=5).recv(100).decode())\"")
    with make_sandbox("bwrap", workspace, network=True) as box:
        result = box.run(command, timeout=30)
    assert (result.exit_code, result.stdout.strip()) == (0, "hello from the host"), result.stderr


def cgroups_of(pid: int) -> list[str]:
    """The cgroup directories a client with this pid made (named tiss-PID-…)."""
    return sorted(str(d) for parent in set(_writable_parents().values())
                  for d in parent.glob(f"tiss-{pid}-*"))


def test_a_client_killed_with_sigkill_leaves_nothing_after_the_next_start(workspace, marker):
    child = subprocess.Popen([sys.executable, "-c", textwrap.dedent(f"""
        from pathlib import Path
        from runtime.sandbox import SandboxConfig, open_sandbox
        box = open_sandbox("bwrap", SandboxConfig(workspace=Path({str(workspace)!r}),
                                                  run_id="sigkill-{uuid.uuid4().hex[:8]}"))
        box.start()
        print("started", flush=True)
        box.run("python3 -c 'import time; time.sleep(300)' {marker}")
    """)], stdout=subprocess.PIPE, text=True)
    try:
        assert child.stdout.readline() == "started\n"
        wait_for(lambda: processes_with(marker), "the command to start")
        left_behind = cgroups_of(child.pid)
        assert bool(left_behind) == cgroups_available()
    finally:
        child.send_signal(signal.SIGKILL)
        child.wait()
    # bwrap dies with its parent, and its pid namespace with it.
    wait_for(lambda: not processes_with(marker), "the sandboxed command to die with its client")
    with make_sandbox("bwrap", workspace):   # the next start reaps the dead client's cgroup
        assert cgroups_of(child.pid) == []
