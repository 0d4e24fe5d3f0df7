"""The in-container executor, run directly on this machine (it is plain
Python and needs no container): protocol, process-tree cleanup, lease."""

from __future__ import annotations

import contextlib
import os
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

import runtime.sandbox
from runtime.sandbox.processes import children_of
from runtime.sandbox.wire import READY, recv_message, send_message

from .conftest import processes_with, wait_for

# A script, never imported: it puts its own directory on sys.path.
EXECUTOR = Path(runtime.sandbox.__file__).parent / "executor.py"


@pytest.fixture
def executor(tmp_path):
    """A running executor whose socket path held a stale file; yields a
    function sending one command and returning (answer, connection)."""
    path = tmp_path / "executor.sock"
    path.write_text("stale socket left by a dead container")
    process = subprocess.Popen([sys.executable, "-I", "-S", str(EXECUTOR), "--socket", str(path)])
    lease = _connect(path)
    state = {"process": process, "lease": lease, "path": path}

    def request(command, timeout=None, wait=True, cap=4096):
        conn = _connect(path)
        send_message(conn, {"command": command, "timeout": timeout, "cwd": str(tmp_path),
                            "max_output": cap, "env": {"PATH": "/usr/bin:/bin"}})
        return (recv_message(conn) if wait else None), conn

    request.state = state
    yield request
    lease.close()
    process.wait(timeout=20)


def _connect(path, seconds=20):
    deadline = time.monotonic() + seconds
    while True:
        conn = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        try:
            conn.connect(str(path))
            return conn
        except (FileNotFoundError, ConnectionRefusedError):
            conn.close()
            if time.monotonic() > deadline:
                raise
            time.sleep(0.01)


def _wait_until_gone(marker):
    wait_for(lambda: not processes_with(marker), f"every process of {marker} to end")


def _wait_until_started(marker):
    wait_for(lambda: processes_with(marker), f"{marker} to start")


def _wait_until_closed(conn):
    """The supervisor closes the connection once it has cleaned up after the
    command: EOF here means it is idle again, with its descriptors closed."""
    conn.settimeout(20)
    assert conn.recv(1) == b""
    conn.close()


def _sleeper(marker, seconds=300):
    return f"python3 -c 'import time; time.sleep({seconds})' {marker}"


def test_a_command_answers_with_its_results(executor):
    answer, conn = executor("echo out; echo err >&2; pwd; exit 7")
    conn.close()
    assert answer["exit_code"] == 7 and answer["stderr"] == "err\n"
    assert answer["stdout"].startswith("out\n") and not answer["timed_out"]
    assert answer["stdout"].split()[1] == str(executor.state["path"].parent)


def test_a_command_that_cannot_start_gets_a_clear_answer(executor, tmp_path):
    conn = _connect(executor.state["path"])
    send_message(conn, {"command": "true", "timeout": None, "cwd": str(tmp_path / "missing"),
                        "max_output": 100, "env": {}})
    answer = recv_message(conn)
    conn.close()
    assert answer["exit_code"] == 126
    assert "cannot run the command" in answer["stderr"] and "missing" in answer["stderr"]


def test_the_environment_is_exactly_the_requested_one(executor):
    answer, conn = executor("env")
    conn.close()
    assert sorted(answer["stdout"].split()) == ["PATH=/usr/bin:/bin", "PWD=" + str(
        executor.state["path"].parent)]


def test_background_jobs_die_when_the_shell_exits(executor, marker):
    sleeper = _sleeper(marker)
    answer, conn = executor(f"{sleeper} & setsid {sleeper} & ({sleeper} &); echo done")
    conn.close()
    assert answer["stdout"] == "done\n"
    _wait_until_gone(marker)


def test_a_timeout_kills_the_tree_and_says_so(executor, marker):
    answer, conn = executor(f"setsid {_sleeper(marker)} & {_sleeper(marker)}", timeout=0.5)
    conn.close()
    assert answer["timed_out"] and answer["exit_code"] == 124
    _wait_until_gone(marker)


def test_closing_the_connection_kills_its_command(executor, marker):
    _, conn = executor(_sleeper(marker), wait=False)
    _wait_until_started(marker)
    conn.close()
    _wait_until_gone(marker)


def test_concurrent_commands_each_get_their_own_answer(executor):
    conns = []
    for i in range(4):  # more than the spare supervisors
        conn = _connect(executor.state["path"])
        send_message(conn, {"command": f"sleep 0.3; echo {i}", "timeout": None, "cwd": "/",
                            "max_output": 100, "env": {"PATH": "/usr/bin:/bin"}})
        conns.append(conn)
    answers = [recv_message(conn)["stdout"] for conn in conns]
    assert answers == ["0\n", "1\n", "2\n", "3\n"]


def test_output_is_capped_inside(executor):
    answer, conn = executor("head -c 100000 /dev/zero | tr '\\0' x", cap=1000)
    conn.close()
    assert answer["stdout_truncated"] and len(answer["stdout"]) < 1200


def test_supervisors_are_reused_and_leak_no_descriptors(executor):
    executor_pid = executor.state["process"].pid

    def descriptors_per_supervisor():
        """At rest: a spare forked just now still opens and closes files while
        it prepares (_prepare_supervisor), so read until two reads agree."""
        def read():
            counts = {}
            for pid in children_of(executor_pid):
                with contextlib.suppress(FileNotFoundError):
                    counts[pid] = len(os.listdir(f"/proc/{pid}/fd"))
            return counts
        last = read()
        for _ in range(50):
            time.sleep(0.05)
            now = read()
            if now == last:
                return now
            last = now
        return last

    _wait_until_closed(executor("true")[1])
    before = descriptors_per_supervisor()
    for _ in range(20):
        _wait_until_closed(executor("echo hi >&2; cat /nonexistent")[1])
    now = descriptors_per_supervisor()
    # still there (reused), with the same descriptors
    assert {pid: now.get(pid) for pid in before} == before
    # A spare is added only when every supervisor looked busy at once, which
    # sequential commands can cause at most once (a report racing a command).
    assert len(descriptors_per_supervisor()) <= len(before) + 1


def test_the_end_of_the_lease_stops_everything(executor, marker):
    _, conn = executor(_sleeper(marker), wait=False)
    _wait_until_started(marker)
    executor.state["lease"].close()
    assert executor.state["process"].wait(timeout=20) == 0
    _wait_until_gone(marker)
    conn.close()


def test_the_lease_hears_once_that_the_executor_serves(executor):
    lease = executor.state["lease"]
    lease.settimeout(20)
    assert lease.recv(8) == READY
    answer, _ = executor("echo after ready")
    assert answer["stdout"] == "after ready\n"


def test_a_listening_socket_handed_down_is_served_without_polling(tmp_path):
    # the host binds first (client.py, ``listen``): its connections wait in
    # the backlog, so the lease can be opened before the executor even runs
    path = tmp_path / "executor.sock"
    listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    listener.bind(str(path))
    listener.listen(8)
    lease = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    lease.connect(str(path))
    process = subprocess.Popen([sys.executable, "-I", "-S", str(EXECUTOR), "--listen-fd", str(listener.fileno())],
                               pass_fds=(listener.fileno(),))
    listener.close()
    try:
        lease.settimeout(20)
        assert lease.recv(8) == READY
        conn = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        conn.connect(str(path))
        # the command gets no descriptor but its own three (and ls's own
        # handle on the folder): the listener never reaches a command
        send_message(conn, {"command": "echo handed down; ls /proc/self/fd", "timeout": None,
                            "cwd": str(tmp_path), "max_output": 4096, "env": {"PATH": "/usr/bin:/bin"}})
        assert recv_message(conn)["stdout"].split() == ["handed", "down", "0", "1", "2", "3"]
        conn.close()
    finally:
        lease.close()
        assert process.wait(timeout=20) == 0
