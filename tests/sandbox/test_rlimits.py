"""bubblewrap's fallback when no cgroup can be made: rlimits.

This machine can always make cgroups, so the fallback would never run. The
test runs a client in a private mount namespace where /sys/fs/cgroup is an
empty tmpfs (what a container without a cgroup mount looks like), once as
root and once as an unprivileged user, and checks that the limits hold
inside the sandbox."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import tempfile
import textwrap

import pytest

from runtime.sandbox.bwrap import BASE_PROTECTIONS

from .conftest import require_backend

NOBODY = 65534
MEMORY_MB, PIDS = 192, 16

CLIENT = textwrap.dedent(f"""
    import json, sys
    from pathlib import Path
    from runtime.sandbox import SandboxConfig, open_sandbox
    config = SandboxConfig(workspace=Path(sys.argv[1]), run_id="rlimit-test",
                           memory_mb={MEMORY_MB}, pids={PIDS})
    commands = {{
        "limits": "cat /proc/self/limits",
        "memory": "python3 -c 'bytearray(512 << 20)'",
        "fork": "for i in $(seq 40); do sleep 30 & done; echo all started",
    }}
    with open_sandbox("bwrap", config) as box:
        report = {{"protections": sorted(box.protections)}}
        for name, command in commands.items():
            result = box.run(command, timeout=60)
            report[name] = {{"exit_code": result.exit_code, "out": result.stdout + result.stderr}}
    print(json.dumps(report))
""")


def run_client_without_cgroups(user: int) -> dict:
    """The client in a mount namespace whose /sys/fs/cgroup is empty, as ``user``."""
    workspace = tempfile.mkdtemp(prefix="tiss-rlimit-")   # /tmp: reachable by any user
    os.chown(workspace, user, user)
    as_user = [] if user == 0 else ["setpriv", f"--reuid={user}", f"--regid={user}", "--clear-groups"]
    script = 'mount -t tmpfs tmpfs /sys/fs/cgroup && exec "$@"'
    try:
        done = subprocess.run(
            ["unshare", "--mount", "--propagation", "private", "sh", "-c", script, "sh",
             *as_user, sys.executable, "-c", CLIENT, workspace],
            capture_output=True, text=True, timeout=240, cwd=workspace)
    finally:
        shutil.rmtree(workspace, ignore_errors=True)
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout)


def limit(limits_text: str, name: str) -> str:
    line = next(line for line in limits_text.splitlines() if line.startswith(name))
    return line[len(name):].split()[0]   # the soft limit


@pytest.fixture(scope="module", autouse=True)
def needs_root_and_bwrap():
    require_backend("bwrap")
    if os.getuid() != 0:
        pytest.skip("hiding the cgroup hierarchy needs root (a private mount namespace)")


@pytest.mark.parametrize("user", [0, NOBODY], ids=["root", "unprivileged"])
def test_without_cgroups_rlimits_bound_memory_and_say_so(user):
    report = run_client_without_cgroups(user)
    # No fork_bomb/memory_oom promise without a cgroup: the fallback was taken.
    assert set(report["protections"]) == BASE_PROTECTIONS
    limits = report["limits"]["out"]
    assert limit(limits, "Max address space") == str(MEMORY_MB << 20)
    assert limit(limits, "Max core file size") == "0"
    assert report["memory"]["exit_code"] != 0 and "MemoryError" in report["memory"]["out"]


def test_without_cgroups_an_unprivileged_user_gets_a_process_limit():
    """The kernel ignores RLIMIT_NPROC for root, so only here does it hold."""
    report = run_client_without_cgroups(NOBODY)
    assert limit(report["limits"]["out"], "Max processes") == str(PIDS)
    fork = report["fork"]
    assert fork["exit_code"] != 0 and "all started" not in fork["out"], fork
    assert "fork" in fork["out"].lower()
