"""The host side of the executor protocol, shared by the Docker and the
bubblewrap backends: both start one executor per run (executor.py) inside
their isolation, then talk to it here.

- ``connect_lease`` waits for the executor's socket and opens the lease:
  while it is open the executor lives; when this process exits or dies, the
  kernel closes it and the executor kills everything and exits.
- ``run`` opens one connection per command, so PARALLEL threads never share
  one. Closing that connection (Ctrl-C, ``cancel_all``) makes the executor
  kill the command's whole process tree.

The socket directory is writable from inside the sandbox, so a command can
put its own socket, or a symlink to any host socket, at the executor's path.
The host therefore names nothing in it after start: at lease time (before
any command runs) it pins the executor's socket with an O_PATH descriptor,
and every later connection goes through that descriptor. The executor's log
is read the same way (``ExecutorLog``), never by name.
"""

from __future__ import annotations

import os
import shutil
import signal
import socket
import stat
import subprocess
import tempfile
import threading
import time
from pathlib import Path
from typing import Callable

from .base import (
    CANCELLED_EXIT_CODE, SANDBOX_PATH, CommandResult, SandboxConfig, SandboxError, command_env,
)
from .processes import process_tag, tag_alive
from .wire import READY, recv_message, recv_or_closed, send_message

SOCKET_NAME = "executor.sock"
LOG_NAME = "executor.log"
ANSWER_GRACE_SECONDS = 30  # beyond the command's own timeout, enforced inside
EXIT_WAIT_SECONDS = 10  # for a sandbox's process to exit once its executor died
_RESULT_FIELDS = ("exit_code", "stdout", "stderr", "duration", "timed_out", "oom_killed",
                  "stdout_truncated", "stderr_truncated", "started_at", "ended_at")


class ExecutorClient:
    def __init__(self, socket_dir: Path, config: SandboxConfig,
                 explain_stop: Callable[[], tuple[str, str | None]], *,
                 path: str = SANDBOX_PATH, home: str = "/tmp"):
        self.path = str(socket_dir / SOCKET_NAME)
        self.config = config
        self._command_path, self._home = path, home  # PATH and HOME of every command
        self._explain_stop = explain_stop  # what happened to the sandboxed executor, and a hint
        self._pinned: int | None = None  # O_PATH descriptor of the executor's socket
        self._lease: socket.socket | None = None
        self._next_alive_check = time.monotonic() + 0.2
        self._active: set[socket.socket] = set()
        self._lock = threading.Lock()

    def listen(self) -> socket.socket:
        """Bind and listen on the executor's socket here, before the executor
        starts, for a backend that hands it down as a descriptor
        (``executor.py --listen-fd``). The socket is ours, pinned from the
        start, and the lease needs no polling: its connection waits in the
        backlog until the executor accepts it. The caller closes its copy of
        the listener once the executor has it."""
        listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        try:
            listener.bind(self.path)
            os.chmod(self.path, 0o600)
            listener.listen(64)
            self._pinned = _pin_socket(self.path)
        except BaseException:
            listener.close()
            raise
        return listener

    def connect_lease(self, seconds: float, check_alive: Callable[[], None]) -> None:
        """Open the lease and wait until the executor serves; ``check_alive``
        raises if it died. With a socket from ``listen``, connect to it at
        once; otherwise wait for the executor's socket to appear: no command
        runs before the lease exists, so the socket found now is the
        executor's own, and it is pinned."""
        deadline = time.monotonic() + seconds
        lease = self._connect_prebound() if self._pinned is not None else None
        while lease is None and time.monotonic() < deadline:
            lease = self._connect_when_listening(check_alive)
        if lease is not None and self._await_ready(lease, deadline, check_alive):
            self._lease = lease
            return
        raise SandboxError(f"the sandbox executor did not start within {seconds:.0f} s",
                           hint="the machine may be overloaded; try again")

    def _connect_prebound(self) -> socket.socket:
        lease = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        lease.connect(self._address())  # waits in the backlog until the executor accepts it
        return lease

    def _connect_when_listening(self, check_alive: Callable[[], None]) -> socket.socket | None:
        lease = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        try:
            self._pinned = _pin_socket(self.path)
            lease.connect(self._address())
            return lease
        except (FileNotFoundError, ConnectionRefusedError):
            lease.close()
            self._unpin()
        if time.monotonic() > self._next_alive_check:
            self._next_alive_check = time.monotonic() + 0.2
            check_alive()
        time.sleep(0.002)
        return None

    def _await_ready(self, lease: socket.socket, deadline: float, check_alive: Callable[[], None]) -> bool:
        """Block (no polling) until the executor says it serves on ``lease``."""
        lease.settimeout(0.2)
        try:
            while time.monotonic() < deadline:
                try:
                    if recv_or_closed(lease, len(READY)) != READY:
                        what, hint = self._explain_stop()
                        raise SandboxError("the sandbox did not start: " + what,
                                           hint=hint)
                    lease.settimeout(None)
                    return True
                except socket.timeout:
                    check_alive()
        except BaseException:
            lease.close()
            raise
        lease.close()
        return False

    def _address(self) -> str:
        """The pinned socket, whatever its name in the directory is by now."""
        return f"/proc/self/fd/{self._pinned}"

    def run(self, command: str, *, timeout: float | None, env: dict[str, str] | None,
            max_output: int | None, cwd: str) -> CommandResult:
        if self._lease is None:
            raise SandboxError("the sandbox is not started (or already closed)")
        request = {
            "command": command, "timeout": timeout, "cwd": cwd,
            "max_output": max_output or self.config.max_output,
            "env": command_env(self.config, env, path=self._command_path, home=self._home),
        }
        conn = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        with self._lock:
            self._active.add(conn)
        t0 = time.monotonic()
        answer = None
        try:
            conn.connect(self._address())
            if timeout is not None:
                conn.settimeout(timeout + ANSWER_GRACE_SECONDS)
            send_message(conn, request)
            answer = recv_message(conn)
        except socket.timeout:
            what, hint = self._explain_stop()
            raise SandboxError("the sandbox executor stopped answering: " + what, hint=hint)
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
            what, hint = self._explain_stop()
            raise SandboxError("the sandbox stopped during a command: " + what, hint=hint)
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
        self._unpin()

    def _unpin(self) -> None:
        if self._pinned is not None:
            os.close(self._pinned)
            self._pinned = None


def _pin_socket(path: str) -> int:
    """An O_PATH descriptor of the socket at ``path`` (never through a symlink)."""
    fd = os.open(path, os.O_PATH | os.O_NOFOLLOW | os.O_CLOEXEC)
    if not stat.S_ISSOCK(os.fstat(fd).st_mode):
        os.close(fd)
        raise SandboxError(f"{path} is not the sandbox executor's socket")
    return fd


def explain_executor_death(status: int | None, oom_killed: bool | None) -> tuple[str, str | None]:
    """What to tell the user when the executor of a sandbox died: its exit
    ``status`` (shell convention, 128+N for signal N; None if unknown) and
    whether the kernel reported an out-of-memory kill (None if it cannot
    tell). Returns (what happened, hint)."""
    if oom_killed:
        return ("the kernel's OOM killer killed processes in it (its memory limit was reached)",
                "if commands need more memory, raise sandbox.memory_mb")
    if status is None:
        return "its executor is gone and its exit status is unknown", None
    if status > 128:
        number = status - 128
        try:
            name = signal.Signals(number).name
        except ValueError:
            name = "an unknown signal"
        what = f"its executor was killed by signal {number} ({name})"
        if oom_killed is False:
            what += ", not by the memory limit (the kernel reported no OOM kill)"
        return (what + ": most likely a command in the sandbox killed the sandbox's own "
                "processes (e.g. kill -KILL -1)",
                "a command must not kill every process it can see; look at the RUN above")
    return f"its executor exited with status {status}", None


def explain_process_stop(process: subprocess.Popen, log: "ExecutorLog",
                         oom_killed: Callable[[], bool | None] = lambda: None,
                         ) -> tuple[str, str | None]:
    """``explain_executor_death`` for a backend whose executor is (or runs
    under) a child process of ours: bwrap, or the executor itself on the
    host. Waits briefly for it to exit: it does at once when its executor died."""
    try:
        status = process.wait(timeout=EXIT_WAIT_SECONDS)
    except subprocess.TimeoutExpired:
        return "its executor no longer answers, though its process still runs", None
    what, hint = explain_executor_death(status if status >= 0 else 128 - status, oom_killed())
    tail = log.tail()
    return what + (f"; its log ends with: {tail}" if tail else ""), hint


class ExecutorLog:
    """The executor's stderr, to explain why it failed, read through a
    descriptor opened before the sandbox starts and never by name: the
    sandbox can replace the name by a symlink to a host file.

    With a ``directory`` (Docker: the executor opens the log by name inside
    the container), the file is created there, owned by ``owner``; without
    one (bubblewrap: the file is handed to bwrap as its stdout and stderr),
    it has no name at all."""

    TAIL_CHARS = 500

    def __init__(self, directory: Path | None = None, owner: tuple[int, int] | None = None):
        if directory is None:
            self.file = tempfile.TemporaryFile()
        else:
            fd = os.open(directory / LOG_NAME,
                         os.O_RDWR | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC, 0o600)
            if owner is not None:
                os.fchown(fd, *owner)
            self.file = os.fdopen(fd, "r+b")

    def tail(self) -> str:
        """The end of the log, printable characters only (the sandbox wrote it)."""
        size = os.fstat(self.file.fileno()).st_size
        start = max(0, size - 4 * self.TAIL_CHARS)
        text = os.pread(self.file.fileno(), size - start, start).decode("utf-8", "replace")
        text = "".join(c if c.isprintable() or c == "\n" else "?" for c in text)
        return text.strip()[-self.TAIL_CHARS:]

    def close(self) -> None:
        self.file.close()


# -- private directories (sockets, a sandbox's /etc) ------------------------------

def private_base() -> Path:
    return Path(tempfile.gettempdir()) / f"tiss-sandbox-{os.getuid()}"


def make_private_dir() -> Path:
    """A fresh directory named after this process, so those of crashed runs
    are found and removed; short, as a Unix socket path must fit in 108 bytes."""
    base = private_base()
    base.mkdir(mode=0o700, exist_ok=True)
    _check_private(base)
    reap_private_dirs()
    return Path(tempfile.mkdtemp(prefix=process_tag() + ".", dir=base))


def discard_executor_files(*directories: Path | None, log: "ExecutorLog | None" = None) -> None:
    """A closed sandbox's private directories (socket, …) and executor log."""
    for directory in directories:
        if directory is not None:
            shutil.rmtree(directory, ignore_errors=True)
    if log is not None:
        log.close()


def _check_private(base: Path) -> None:
    """In a shared /tmp another user may have made ``base`` first (or a
    symlink by that name), to swap the sockets of our sandboxes: refuse it."""
    info = os.lstat(base)
    if not stat.S_ISDIR(info.st_mode) or info.st_uid != os.getuid() or info.st_mode & 0o077:
        raise SandboxError(
            f"{base} is not a private directory of this user (owner uid {info.st_uid}, "
            f"mode {stat.filemode(info.st_mode)})",
            hint=f"remove {base} (someone else may have created it), then run again")


def reap_private_dirs() -> None:
    """Remove the private directories of processes that are gone."""
    base = private_base()
    if base.is_dir():
        for entry in base.iterdir():
            if not tag_alive(entry.name.partition(".")[0]):
                shutil.rmtree(entry, ignore_errors=True)
