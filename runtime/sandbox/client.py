"""The host side of the executor protocol, shared by the Docker and the
bubblewrap backends: both start one executor per run (executor.py) inside
their isolation, then talk to it here.

- ``connect_lease`` waits for the executor's socket and opens the lease:
  while it is open the executor lives; when this process exits or dies, the
  kernel closes it and the executor kills everything and exits.
- ``run`` opens one connection per command, so PARALLEL threads never share
  one. Closing that connection (Ctrl-C, ``cancel_all``) makes the executor
  kill the command's whole process tree.
"""

from __future__ import annotations

import os
import shutil
import socket
import tempfile
import threading
import time
from pathlib import Path
from typing import Callable

from .base import (
    CANCELLED_EXIT_CODE, SANDBOX_PATH, CommandResult, SandboxConfig, SandboxError, command_env,
)
from .processes import process_tag, tag_alive
from .wire import recv_message, send_message

SOCKET_NAME = "executor.sock"
LOG_NAME = "executor.log"
ANSWER_GRACE_SECONDS = 30  # beyond the command's own timeout, enforced inside
_RESULT_FIELDS = ("exit_code", "stdout", "stderr", "duration", "timed_out", "oom_killed",
                  "stdout_truncated", "stderr_truncated", "started_at", "ended_at")


class ExecutorClient:
    def __init__(self, socket_dir: Path, config: SandboxConfig, describe_failure: Callable[[], str]):
        self.path = str(socket_dir / SOCKET_NAME)
        self.config = config
        self._describe_failure = describe_failure  # e.g. the container's state
        self._lease: socket.socket | None = None
        self._active: set[socket.socket] = set()
        self._lock = threading.Lock()

    def connect_lease(self, seconds: float, check_alive: Callable[[], None]) -> None:
        """Wait until the executor listens; ``check_alive`` raises if it died."""
        deadline = time.monotonic() + seconds
        next_check = time.monotonic() + 0.2
        while time.monotonic() < deadline:
            lease = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
            try:
                lease.connect(self.path)
                self._lease = lease
                return
            except (FileNotFoundError, ConnectionRefusedError):
                lease.close()
            if time.monotonic() > next_check:
                next_check += 0.2
                check_alive()
            time.sleep(0.002)
        raise SandboxError(f"the sandbox executor did not start within {seconds:.0f} s",
                           hint="the machine may be overloaded; try again")

    def run(self, command: str, *, timeout: float | None, env: dict[str, str] | None,
            max_output: int | None, cwd: str) -> CommandResult:
        if self._lease is None:
            raise SandboxError("the sandbox is not started (or already closed)")
        request = {
            "command": command, "timeout": timeout, "cwd": cwd,
            "max_output": max_output or self.config.max_output,
            "env": command_env(self.config, env, path=SANDBOX_PATH, home="/tmp"),
        }
        conn = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        with self._lock:
            self._active.add(conn)
        t0 = time.monotonic()
        answer = None
        try:
            conn.connect(self.path)
            if timeout is not None:
                conn.settimeout(timeout + ANSWER_GRACE_SECONDS)
            send_message(conn, request)
            answer = recv_message(conn)
        except socket.timeout:
            raise SandboxError("the sandbox executor stopped answering: " + self._describe_failure())
        except OSError:
            pass  # cancelled (we shut the socket down) or the executor died: see below
        finally:  # also on KeyboardInterrupt: the EOF makes the executor kill the command
            with self._lock:
                cancelled = conn not in self._active
                self._active.discard(conn)
            conn.close()
        if answer is not None:
            return CommandResult(**{key: answer[key] for key in _RESULT_FIELDS})
        if not cancelled:
            raise SandboxError("the sandbox stopped during a command: " + self._describe_failure(),
                               hint="if commands need more memory, raise sandbox.memory_mb")
        return CommandResult(exit_code=CANCELLED_EXIT_CODE, stdout="", stderr="cancelled\n",
                             duration=time.monotonic() - t0)

    def cancel_all(self) -> None:
        with self._lock:
            conns, self._active = list(self._active), set()
        for conn in conns:
            try:
                conn.shutdown(socket.SHUT_RDWR)  # the executor sees EOF and kills
            except OSError:
                pass

    def close(self) -> None:
        self.cancel_all()
        if self._lease is not None:
            self._lease.close()
            self._lease = None


# -- private directories (sockets, a sandbox's /etc) ------------------------------

def private_base() -> Path:
    return Path(tempfile.gettempdir()) / f"tiss-sandbox-{os.getuid()}"


def make_private_dir() -> Path:
    """A fresh directory named after this process, so those of crashed runs
    are found and removed; short, as a Unix socket path must fit in 108 bytes."""
    base = private_base()
    base.mkdir(mode=0o700, exist_ok=True)
    reap_private_dirs()
    return Path(tempfile.mkdtemp(prefix=process_tag() + ".", dir=base))


def reap_private_dirs() -> None:
    """Remove the private directories of processes that are gone."""
    base = private_base()
    if base.is_dir():
        for entry in base.iterdir():
            if not tag_alive(entry.name.partition(".")[0]):
                shutil.rmtree(entry, ignore_errors=True)


def read_log(socket_dir: Path) -> str:
    log = socket_dir / LOG_NAME
    return log.read_text(errors="replace").strip()[-500:] if log.exists() else ""
