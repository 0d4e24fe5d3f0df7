"""The executor: the main process of a Docker (or bubblewrap) sandbox.

Why it exists: ``docker exec`` costs ~50 ms per command; a process already
inside the container that spawns ``/bin/sh -c`` on request costs well under
a millisecond more than a host subprocess.

How it works:
- It listens on a Unix socket in a directory bind-mounted from the host.
- The FIRST connection is the client's lease. When it closes (the client
  exited or crashed, even with SIGKILL), the executor kills every command and
  exits, and Docker removes the container (auto-remove).
- Every other connection carries one command, taken by one of the
  supervisor processes forked ahead of time and waiting in accept(), so
  concurrent RUNs (PARALLEL) are independent and no fork is on a command's
  path. A supervisor is a child subreaper: it runs the command in a fresh
  shell and, when the shell exits, times out, or the client's connection
  hits EOF, kills the whole process tree (background jobs, setsid, double
  forks included: orphans are re-parented to it), then answers with the
  capped output and waits for the next command.

Requests and answers are length-prefixed JSON (wire.py). Run inside the
container as ``python3 -I -S executor.py --socket PATH``; stdlib only.
"""

import gc
import json
import os
import selectors
import signal
import socket
import struct
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
# Sibling files, loaded by path; only light stdlib imports, as the
# executor's start-up time is part of the container's.
from output import CappedBuffer, capture  # noqa: E402
from processes import (  # noqa: E402
    TIMEOUT_EXIT_CODE, become_child_subreaper, children_of, exit_code_from_status,
    kill_all_descendants, oom_kill_count,
)
from wire import READY, recv_message, recv_or_closed, send_message  # noqa: E402

MEMORY_CGROUP_DIRS = ("/sys/fs/cgroup/memory", "/sys/fs/cgroup")  # cgroup v1, v2
LEASE_WAIT_SECONDS = 30  # a client that never connects does not keep us alive
CANNOT_RUN_EXIT_CODE = 126  # as the shell's "found but cannot execute"
DRAIN_SECONDS = 2  # reading what the dead command left in its pipes
SPARE_SUPERVISORS = 2    # forked at start; more only when all are busy at once
BUSY, IDLE = 1, 0
_REPORT = struct.Struct("=iB")  # (pid, state): 5 bytes, written atomically to a pipe


def main(argv):
    # argparse would cost ~10 ms of start-up
    if len(argv) != 2 or argv[0] not in ("--socket", "--listen-fd"):
        sys.exit("usage: executor.py --socket PATH | --listen-fd FD")
    become_child_subreaper()
    signal.signal(signal.SIGTERM, lambda *_: _shutdown())
    if argv[0] == "--socket":
        listener = _listen(argv[1])
    else:  # bound and listening already, by the host (client.py, ``listen``)
        listener = socket.socket(fileno=int(argv[1]))
        listener.set_inheritable(False)  # handed down inheritable: no command may accept() on it
    serve(listener)


def _listen(path):
    if os.path.exists(path):  # stale socket from an earlier container
        os.unlink(path)
    listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    listener.bind(path)
    os.chmod(path, 0o600)  # the sandbox user (and root on the host) only
    listener.listen(64)
    return listener


def serve(listener):
    """Accept the lease, then keep idle supervisors waiting for commands,
    until the lease ends."""
    listener.settimeout(LEASE_WAIT_SECONDS)
    try:
        lease, _ = listener.accept()
    except socket.timeout:
        _shutdown()
    listener.settimeout(None)
    lease.sendall(READY)  # the client waits for it rather than polling
    status_r, status_w = os.pipe()  # supervisors report BUSY / IDLE here
    pool = SupervisorPool(listener, lease, status_w)
    selector = selectors.DefaultSelector()
    selector.register(lease, selectors.EVENT_READ)
    selector.register(status_r, selectors.EVENT_READ)
    while True:
        events = selector.select(timeout=1.0)
        for key, _ in events:
            if key.fileobj is lease:
                if not recv_or_closed(lease, 1):  # the client is gone
                    _shutdown()
            else:
                pool.update(os.read(status_r, _REPORT.size * 512))  # whole reports only
        if not events:
            pool.reap()


class SupervisorPool:
    """Supervisor processes forked ahead of time, each looping: wait in
    accept(), run one command, clean up, wait again. Forking costs about a
    millisecond of CPU, so it happens only when every supervisor is busy
    (more concurrent RUNs than ever before), never per command."""

    def __init__(self, listener, lease, status_w):
        self.listener, self.lease, self.status_w = listener, lease, status_w
        self.states = {}  # pid -> BUSY or IDLE
        for _ in range(SPARE_SUPERVISORS):
            self.fork()

    def fork(self):
        gc.freeze()  # the collector would otherwise touch (and copy) every shared page
        pid = os.fork()
        if pid == 0:
            self.lease.close()
            _supervisor_loop(self.listener, self.status_w)
        self.states[pid] = IDLE

    def update(self, reports):
        """Apply the supervisors' reports; make sure one is always idle."""
        for offset in range(0, len(reports), _REPORT.size):
            pid, state = _REPORT.unpack_from(reports, offset)
            if pid in self.states:
                self.states[pid] = state
        if IDLE not in self.states.values():
            self.fork()

    def reap(self):
        """Forget supervisors that died (e.g. OOM-killed), kill the orphans
        they left to us, and keep one idle."""
        while True:
            try:
                pid, _ = os.waitpid(-1, os.WNOHANG)
            except ChildProcessError:
                break
            if pid == 0:
                break
            self.states.pop(pid, None)
        for pid in children_of(os.getpid()):
            if pid not in self.states:
                try:
                    os.kill(pid, signal.SIGKILL)
                except ProcessLookupError:
                    pass
        if IDLE not in self.states.values():
            self.fork()


def _supervisor_loop(listener, status_w):
    """In a forked supervisor: serve commands one at a time, forever."""
    _prepare_supervisor()
    me = os.getpid()
    while True:
        conn, _ = listener.accept()
        os.write(status_w, _REPORT.pack(me, BUSY))
        try:
            _serve_one(conn)
        finally:
            kill_all_descendants()  # whatever the command left behind dies with it
            conn.close()
        os.write(status_w, _REPORT.pack(me, IDLE))


def _serve_one(conn):
    try:
        request = recv_message(conn)
        if request is None:
            return
        try:
            answer = run_command(request, conn)
        except OSError as exc:  # e.g. the workspace is not accessible: say so
            answer = _failure_answer(f"tiss executor: cannot run the command: {exc}\n")
        if answer is not None:
            send_message(conn, answer)
    except (BrokenPipeError, ConnectionResetError):
        pass


def _shutdown():
    kill_all_descendants()
    os._exit(0)


def _prepare_supervisor():
    """Pay before the first command arrives for what would slow it down: the
    copy-on-write faults of the first touches after fork, and set-up."""
    signal.signal(signal.SIGTERM, signal.SIG_DFL)
    become_child_subreaper()
    sample = {"command": "true", "env": {"PATH": "/bin"}, "timeout": None, "max_output": 1}
    json.loads(json.dumps(sample))
    buffer = CappedBuffer(2)
    buffer.write(b"abc")
    buffer.text()
    capture({}, deadline=0)
    time.monotonic()
    _oom_kills()


def run_command(request, conn):
    """Run ``request["command"]``; return the answer, or None if the client left."""
    cap = int(request["max_output"])
    timeout = request.get("timeout")
    out, err = CappedBuffer(cap), CappedBuffer(cap)
    out_r, out_w = os.pipe()
    err_r, err_w = os.pipe()
    buffers = {out_r: out, err_r: err}
    try:
        oom_before = _oom_kills()
        os.chdir(request.get("cwd") or "/workspace")
        started, t0 = time.time(), time.monotonic()
        pid = os.posix_spawn(
            "/bin/sh", ["/bin/sh", "-c", request["command"]], request["env"],
            file_actions=[(os.POSIX_SPAWN_OPEN, 0, "/dev/null", os.O_RDONLY, 0),
                          (os.POSIX_SPAWN_DUP2, out_w, 1), (os.POSIX_SPAWN_DUP2, err_w, 2)],
            setsid=True,
        )
        os.close(out_w)
        os.close(err_w)
        out_w = err_w = None
        streams = dict(buffers)  # capture() forgets the pipes that reach EOF
        status, client_left = _wait(pid, conn, streams,
                                    None if timeout is None else t0 + float(timeout))
        kill_all_descendants()  # whatever the command left behind dies with it
        if client_left:
            return None
        capture(streams, deadline=time.monotonic() + DRAIN_SECONDS)  # writers are dead: EOF is near
    finally:  # a supervisor serves many commands: leak no descriptor
        for fd in (out_r, err_r, out_w, err_w):
            if fd is not None:
                os.close(fd)
    timed_out = status is None
    exit_code = TIMEOUT_EXIT_CODE if timed_out else exit_code_from_status(status)
    oom_after = _oom_kills()
    return {
        "exit_code": exit_code, "timed_out": timed_out,
        "oom_killed": exit_code == 128 + signal.SIGKILL and oom_before is not None
        and oom_after is not None and oom_after > oom_before,
        "stdout": out.text(), "stderr": err.text(),
        "stdout_truncated": out.truncated, "stderr_truncated": err.truncated,
        "duration": time.monotonic() - t0, "started_at": started, "ended_at": time.time(),
    }


def _failure_answer(message):
    now = time.time()
    return {"exit_code": CANNOT_RUN_EXIT_CODE, "timed_out": False, "oom_killed": False,
            "stdout": "", "stderr": message, "stdout_truncated": False, "stderr_truncated": False,
            "duration": 0.0, "started_at": now, "ended_at": now}


def _wait(pid, conn, streams, deadline):
    """Capture output until the shell exits (its status), the deadline passes
    (status None), or the client's connection has news (client_left True:
    any byte or EOF means it gave up on this command)."""
    pidfd = _pidfd(pid)
    stop = [conn.fileno()] + ([pidfd] if pidfd is not None else [])
    try:
        while True:
            fired = capture(streams, stop, deadline, poll=None if pidfd is not None else 0.05)
            if fired == conn.fileno():
                return None, True
            if fired is None:
                return None, False
            done, status = os.waitpid(pid, os.WNOHANG)  # pidfd readable, or polling
            if done:
                return status, False
    finally:
        if pidfd is not None:
            os.close(pidfd)


def _pidfd(pid):
    try:
        return os.pidfd_open(pid)
    except (AttributeError, OSError):  # Python < 3.9 or kernel < 5.3
        return None


def _oom_kills():
    for directory in MEMORY_CGROUP_DIRS:
        count = oom_kill_count(directory)
        if count is not None:
            return count
    return None


if __name__ == "__main__":
    main(sys.argv[1:])
