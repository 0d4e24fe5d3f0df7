"""Attacks on the host side of the isolated backends: a command controls
every file of the directories it can write (Docker's socket directory
``/.tiss/run`` included), so the host must never follow a name there.
Bubblewrap's executor gets its socket from the host as a descriptor, so its
sandbox has no such directory at all; the same attacks run there too, and
must find nothing to take over.

Each test attacks a real Docker or bubblewrap sandbox.
"""

from __future__ import annotations

import socket
import subprocess
import sys
import textwrap
import threading
import uuid

import pytest

from runtime.sandbox import SandboxError

from .conftest import ISOLATED, make_sandbox, require_backend, wait_for

SOCKET_DIR = "/.tiss/run"  # where both backends mount the executor's directory


@pytest.fixture
def secret(tmp_path):
    """A host file outside the workspace, holding a unique marker."""
    marker = f"hostsecret{uuid.uuid4().hex}"
    path = tmp_path / "secret.txt"
    path.write_text(marker + "\n")
    return path, marker


def _swap_log_and_kill_all(host_file) -> str:
    """Point the executor's log at a host file, then kill the executor (the
    parent of this command's supervisor), which ends the sandbox: tiss then
    explains the failure."""
    return (f"rm -f {SOCKET_DIR}/executor.log; ln -s {host_file} {SOCKET_DIR}/executor.log;"
            " kill -KILL $(cut -d' ' -f4 /proc/$PPID/stat); sleep 60")


@pytest.mark.parametrize("kind", ISOLATED)
def test_a_swapped_executor_log_never_shows_a_host_file(kind, workspace, secret):
    path, marker = secret
    with make_sandbox(kind, workspace) as box:
        with pytest.raises(SandboxError) as caught:
            box.run(_swap_log_and_kill_all(path), timeout=30)
    assert marker not in str(caught.value)
    assert marker not in (caught.value.hint or "")


@pytest.mark.parametrize("kind", ISOLATED)
def test_tiss_run_never_prints_or_journals_a_host_file_through_the_log(kind, tmp_path, secret):
    require_backend(kind)
    path, marker = secret
    workspace = tmp_path / "ws"
    workspace.mkdir()
    (workspace / "plan.tiss").write_text(textwrap.dedent(f'''\
        TASK "escape" {{
          STEP "swap" {{ RUN "{_swap_log_and_kill_all(path)}" }}
        }}
        '''))
    result = subprocess.run([sys.executable, "-m", "runtime.cli", "run", "plan.tiss",
                             "--sandbox", kind], cwd=workspace, capture_output=True, text=True,
                            timeout=120)
    assert result.returncode != 0
    assert "Traceback" not in result.stderr
    assert marker not in result.stdout + result.stderr
    journals = list((workspace / ".tiss").rglob("*"))
    assert any(p.name == "events.jsonl" for p in journals)  # the run was journalled
    for file in journals:
        if file.is_file():
            assert marker not in file.read_text(errors="replace"), file


@pytest.mark.parametrize("kind", ISOLATED)
def test_a_socket_planted_at_the_executor_path_cannot_answer_for_it(kind, workspace):
    """A RUN replaces the executor's socket with its own listener that forges
    answers, and serves it while a concurrent RUN (PARALLEL) asks: that RUN
    must still reach the real executor."""
    (workspace / "impostor.py").write_text(textwrap.dedent(f"""\
        import json, os, socket, struct
        path = '{SOCKET_DIR}/executor.sock'
        server = socket.socket(socket.AF_UNIX)
        try:
            if os.path.exists(path):
                os.unlink(path)
            server.bind(path)
        except OSError as exc:  # no socket directory to plant in (bubblewrap)
            open('planted', 'w').write(str(exc))
            raise SystemExit(0)
        server.listen(8)
        open('planted', 'w').close()
        forged = json.dumps(dict(exit_code=0, stdout='FORGED', stderr='', duration=0,
            timed_out=False, oom_killed=False, stdout_truncated=False, stderr_truncated=False,
            started_at=0, ended_at=0)).encode()
        while True:
            conn, _ = server.accept()
            conn.sendall(struct.pack('>I', len(forged)) + forged)
        """))
    with make_sandbox(kind, workspace) as box:
        impostor = threading.Thread(target=box.run, args=("python3 impostor.py",),
                                    kwargs={"timeout": 120})
        impostor.start()
        try:
            wait_for(lambda: (workspace / "planted").exists(), "the impostor to listen")
            result = box.run("echo real", timeout=30)
        finally:
            box.cancel_all()
            impostor.join(timeout=30)
    assert result.stdout == "real\n"


@pytest.mark.parametrize("kind", ISOLATED)
def test_a_symlink_at_the_executor_path_cannot_send_tiss_to_a_host_socket(
        kind, workspace, tmp_path):
    host_socket = tmp_path / "host.sock"
    host_server = socket.socket(socket.AF_UNIX)
    host_server.bind(str(host_socket))
    host_server.listen(8)
    connected = []

    def accept_and_hang_up():
        host_server.settimeout(60)
        try:
            conn, _ = host_server.accept()
        except OSError:  # closed by the test: nobody came
            return
        connected.append(True)
        conn.close()

    listener = threading.Thread(target=accept_and_hang_up, daemon=True)
    listener.start()
    try:
        with make_sandbox(kind, workspace) as box:
            box.run(f"rm -f {SOCKET_DIR}/executor.sock && "
                    f"ln -s {host_socket} {SOCKET_DIR}/executor.sock", timeout=30)
            result = box.run("echo real", timeout=30)
        assert result.stdout == "real\n"
        assert connected == []  # tiss never connected to the host's socket
    finally:
        host_server.shutdown(socket.SHUT_RDWR)
        host_server.close()
        listener.join(timeout=10)



@pytest.mark.parametrize("make", ["open to others", "symlink"])
def test_a_socket_base_directory_made_by_someone_else_is_refused(tmp_path, monkeypatch, make):
    from runtime.sandbox import client

    base = tmp_path / "tiss-sandbox"
    if make == "symlink":
        (tmp_path / "elsewhere").mkdir(mode=0o700)
        base.symlink_to(tmp_path / "elsewhere")
    else:
        base.mkdir()
        base.chmod(0o777)
    monkeypatch.setattr(client, "private_base", lambda: base)
    with pytest.raises(SandboxError, match="not a private directory") as caught:
        client.make_private_dir()
    assert f"remove {base}" in caught.value.hint


def test_bubblewrap_leaves_no_socket_directory_to_attack(workspace):
    require_backend("bwrap")
    with make_sandbox("bwrap", workspace) as box:
        result = box.run("ls -A /.tiss; ls /proc/self/fd", timeout=30)
    assert result.stdout.split() == ["bin", "lib", "0", "1", "2", "3"]   # no run/, no inherited socket
