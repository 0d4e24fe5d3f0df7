"""Backend availability for the sandbox tests, in one place.

A test that needs a backend asks for it through ``require_backend`` (or the
``backend``/``sandbox`` fixtures). When the backend cannot be used here the
test is skipped with the reason — unless TISS_REQUIRE_BACKENDS=1 (CI sets
it), where it fails: CI must never pass without testing every backend.
"""

from __future__ import annotations

import functools
import os
import socket
import threading
import uuid
from pathlib import Path

import pytest

from runtime.sandbox import SandboxConfig, open_sandbox

from ..waiting import wait_for  # noqa: F401  (the sandbox tests import it from here)

ISOLATED = ("docker", "bwrap")
ALL_BACKENDS = ("docker", "bwrap", "host")
# Small limits keep the fork and memory bombs cheap on a shared 2-core machine.
TEST_LIMITS = dict(memory_mb=192, pids=64, cpus=1.0)


@functools.cache
def backend_problem(name: str) -> str | None:
    if name == "host":
        return None
    if name == "bwrap":
        from runtime.sandbox.bwrap import bwrap_problem

        return bwrap_problem()
    from runtime.sandbox.docker import engine_client, engine_problem

    problem = engine_problem(timeout=5)
    if problem is None:  # test set-up: the local image is built without any download
        import docker.errors

        from runtime.sandbox.image import LOCAL_IMAGE, build_local_image, is_current

        client = engine_client()
        try:
            current = is_current(client.images.get(LOCAL_IMAGE).labels)
        except docker.errors.ImageNotFound:
            current = False
        if not current:
            build_local_image(client, LOCAL_IMAGE)
    return problem


def require_backend(name: str) -> None:
    problem = backend_problem(name)
    if problem is None:
        return
    message = f"could not test the {name} sandbox backend: {problem}"
    if os.environ.get("TISS_REQUIRE_BACKENDS") == "1":
        pytest.fail(message + " (TISS_REQUIRE_BACKENDS=1 makes this a failure)", pytrace=False)
    pytest.skip(message)


def backends_claiming(protection: str) -> list[str]:
    """The backends that promise ``protection`` (see base.PROTECTIONS). For
    bubblewrap this depends on cgroups being usable here."""
    from runtime.sandbox.bwrap import BASE_PROTECTIONS, cgroups_available
    from runtime.sandbox.docker import DockerSandbox
    from runtime.sandbox.host import HostSandbox

    bwrap = BASE_PROTECTIONS | ({"fork_bomb", "memory_oom"} if cgroups_available() else set())
    claims = {"docker": DockerSandbox.protections, "bwrap": bwrap, "host": HostSandbox.protections}
    return [name for name in ALL_BACKENDS if protection in claims[name]]


@pytest.fixture(params=ALL_BACKENDS)
def backend(request) -> str:
    require_backend(request.param)
    return request.param


@pytest.fixture
def workspace(tmp_path) -> Path:
    path = tmp_path / "ws"
    path.mkdir()
    return path


def make_sandbox(kind: str, workspace: Path, **overrides):
    require_backend(kind)
    config = SandboxConfig(workspace=workspace, run_id=f"test-{uuid.uuid4().hex[:8]}",
                           **{**TEST_LIMITS, **overrides})
    return open_sandbox(kind, config)


@pytest.fixture
def sandbox(backend, workspace):
    with make_sandbox(backend, workspace) as box:
        yield box


@pytest.fixture
def marker() -> str:
    """A unique word to put in a command line, to find its processes later."""
    return f"tissmark{uuid.uuid4().hex[:12]}"


def processes_with(marker: str) -> list[int]:
    """Pids anywhere on this machine whose command line contains ``marker``
    (containers' and bubblewrap's processes are visible from here)."""
    found = []
    for entry in os.listdir("/proc"):
        if not entry.isdigit() or int(entry) == os.getpid():
            continue
        try:
            with open(f"/proc/{entry}/cmdline", "rb") as handle:
                if marker.encode() in handle.read():
                    found.append(int(entry))
        except OSError:
            continue
    return found


@pytest.fixture
def tcp_server():
    """A TCP server on every host address; yields its port. Connecting to it
    from a sandbox must fail when the network is off."""
    server = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    server.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    server.bind(("0.0.0.0", 0))
    server.listen(8)
    server.settimeout(0.2)
    stop = threading.Event()

    def accept_loop():
        while not stop.is_set():
            try:
                conn, _ = server.accept()
                conn.sendall(b"hello from the host\n")
                conn.close()
            except OSError:
                continue

    thread = threading.Thread(target=accept_loop, daemon=True)
    thread.start()
    yield server.getsockname()[1]
    stop.set()
    thread.join(timeout=2)
    server.close()


@pytest.fixture
def client():
    """A Docker engine client (the docker tests' own handle on the engine)."""
    from runtime.sandbox.docker import engine_client

    require_backend("docker")
    engine = engine_client()
    yield engine
    engine.close()
