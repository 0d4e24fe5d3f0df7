"""The Docker backend against the real engine: container hardening, images,
and no leaks (even when the client is killed with SIGKILL)."""

from __future__ import annotations

import io
import os
import signal
import socket
import subprocess
import sys
import tarfile
import textwrap
import uuid

import pytest

from runtime.sandbox import SandboxError
from runtime.sandbox import docker as docker_backend
from runtime.sandbox.docker import LABEL, RUN_ID_LABEL
from runtime.sandbox.image import BUILD_COMMAND, LOCAL_IMAGE

from .conftest import make_sandbox, processes_with, wait_for


def _containers(client, run_id):
    return client.containers.list(all=True, filters={"label": f"{RUN_ID_LABEL}={run_id}"})


def test_the_container_is_hardened_and_labelled(client, workspace):
    with make_sandbox("docker", workspace) as box:
        [container] = _containers(client, box.config.run_id)
        host = container.attrs["HostConfig"]
        assert container.labels[LABEL] == "1"
        assert host["ReadonlyRootfs"] and host["Init"] and host["AutoRemove"]
        assert host["NetworkMode"] == "none"
        assert host["CapDrop"] == ["ALL"] and "no-new-privileges" in host["SecurityOpt"]
        assert host["PidsLimit"] == 64 and host["Memory"] == 192 << 20
        assert host["NanoCpus"] == 10 ** 9
        inside = box.run("id -u; grep -E '^(CapEff|NoNewPrivs)' /proc/self/status; "
                         "touch /new-file 2>&1; cat /proc/1/cmdline | tr '\\0' ' '", timeout=20)
    uid, cap_eff, no_new_privs, touch, init = inside.stdout.splitlines()
    assert uid != "0"
    assert cap_eff.split()[1] == "0000000000000000" and no_new_privs.split()[1] == "1"
    assert "Read-only file system" in touch
    assert "docker-init" in init
    assert _containers(client, box.config.run_id) == []  # removed by close()


def test_network_is_on_only_when_the_config_says_so(client, workspace):
    with make_sandbox("docker", workspace, network=True) as box:
        [container] = _containers(client, box.config.run_id)
        assert container.attrs["HostConfig"]["NetworkMode"] == "bridge"
        assert "eth0" in box.run("cat /proc/net/dev", timeout=20).stdout


def test_a_missing_user_image_is_not_pulled(client, workspace):
    box = make_sandbox("docker", workspace, image="registry.invalid/nothing:1")
    with pytest.raises(SandboxError, match="registry.invalid/nothing:1") as caught:
        box.start()
    assert "docker pull" in caught.value.hint and BUILD_COMMAND in caught.value.hint


def _shell_only_image(client) -> str:
    """An image holding /bin/sh (dash and its two libraries) but no python3."""
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w") as tar:
        for host_path, name in (("/bin/dash", "bin/sh"),
                                ("/lib/x86_64-linux-gnu/libc.so.6", "lib/x86_64-linux-gnu/libc.so.6"),
                                ("/lib64/ld-linux-x86-64.so.2", "lib64/ld-linux-x86-64.so.2")):
            tar.add(os.path.realpath(host_path), arcname=name)
    client.api.import_image_from_data(buffer.getvalue(), repository="quanta-tissu/test-no-python",
                                      tag="1")
    return "quanta-tissu/test-no-python:1"


def test_an_image_without_python_fails_clearly(client, workspace):
    if not os.path.exists("/lib64/ld-linux-x86-64.so.2"):
        pytest.skip("builds its test image from an x86-64 Debian host's dash")
    box = make_sandbox("docker", workspace, image=_shell_only_image(client))
    with pytest.raises(SandboxError, match="executor exited at start") as caught:
        box.start()
    assert "python3" in caught.value.hint
    assert _containers(client, box.config.run_id) == []


def test_a_client_killed_with_sigkill_leaves_nothing_after_the_next_start(client, workspace, marker):
    run_id = f"sigkill-{uuid.uuid4().hex[:8]}"
    child = subprocess.Popen([sys.executable, "-c", textwrap.dedent(f"""
        from pathlib import Path
        from runtime.sandbox import SandboxConfig, open_sandbox
        box = open_sandbox("docker", SandboxConfig(workspace=Path({str(workspace)!r}), run_id={run_id!r}))
        box.start()
        print("started", flush=True)
        box.run("python3 -c 'import time; time.sleep(300)' {marker}")
    """)], stdout=subprocess.PIPE, text=True)
    assert child.stdout.readline() == "started\n"
    wait_for(lambda: processes_with(marker), "the command to start")
    child.send_signal(signal.SIGKILL)
    child.wait()
    with make_sandbox("docker", workspace):  # the next start reaps what is left
        assert _containers(client, run_id) == []
    assert processes_with(marker) == []


def test_stale_containers_of_dead_clients_are_reaped_and_live_ones_kept(client, workspace):
    def dead_client_container():
        client_label = f"{socket.gethostname()}:999999-1"  # no such process
        return client.containers.create(LOCAL_IMAGE, command=["true"], labels={
            LABEL: "1", RUN_ID_LABEL: "dead-run", docker_backend.CLIENT_LABEL: client_label})

    dead_client_container()
    with make_sandbox("docker", workspace) as live:
        assert _containers(client, "dead-run") == []  # start() reaped it
        again = dead_client_container()
        assert again.name in docker_backend.reap_stale_containers(client)
        assert len(_containers(client, live.config.run_id)) == 1  # a live run is kept


def test_a_root_owned_workspace_is_handed_to_the_sandbox_user_and_back(client, workspace):
    (workspace / "plan-wrote.txt").write_text("v1\n")
    with make_sandbox("docker", workspace) as box:
        assert box.run("echo v2 >> plan-wrote.txt", timeout=20).exit_code == 0
        # What tiss writes during the run (a WRITE between two RUNs) is lent too.
        (workspace / "later.txt").write_text("a\n")
        (workspace / "new" / "deep").mkdir(parents=True)
        (workspace / "new" / "deep" / "later.py").write_text("x = 1\n")
        result = box.run("echo b >> later.txt && sed -i s/1/2/ new/deep/later.py && "
                         "touch new/deep/made-inside", timeout=20)
        assert result.exit_code == 0, result.stderr
    assert (workspace / "plan-wrote.txt").read_text() == "v1\nv2\n"
    assert (workspace / "later.txt").read_text() == "a\nb\n"
    assert (workspace / "new" / "deep" / "later.py").read_text() == "x = 2\n"
    owner = workspace.stat().st_uid
    assert {p.stat().st_uid for p in workspace.rglob("*") if ".tiss" not in p.parts} == {owner}


@pytest.mark.skipif(os.geteuid() != 0, reason="only root can give a workspace to another user")
def test_root_runs_commands_as_the_owner_of_someone_elses_workspace(client, workspace):
    os.chown(workspace, 4242, 4242)
    with make_sandbox("docker", workspace) as box:
        result = box.run("id -u; echo data > made.txt", timeout=20)
    assert result.stdout == "4242\n"
    assert (workspace / "made.txt").stat().st_uid == 4242
