"""The host backend: a plain subprocess in the workspace.

No isolation at all: only used when chosen explicitly (``--sandbox host``),
with a warning. Timeouts and output caps still apply, the environment is
built from scratch (nothing of the tiss process leaks in), and the command's
process group is killed on exit, timeout, interrupt or close. A command that
calls ``setsid`` leaves that group and can outlive the RUN here: only the
isolated backends (docker, bwrap) guarantee that nothing survives.
"""

from __future__ import annotations

import os
import signal
import subprocess
import threading
import time

from .base import (
    CANCELLED_EXIT_CODE, TIMEOUT_EXIT_CODE, CommandResult, SandboxConfig, command_env,
)
from .output import CappedBuffer, capture

DRAIN_SECONDS = 2  # after the command is dead, how long leftover writers may hold a pipe


class HostSandbox:
    name = "host"
    protections = frozenset({"timeout", "output_cap", "clean_env"})

    def __init__(self, config: SandboxConfig):
        self.config = config
        self._procs: set[subprocess.Popen] = set()
        self._cancelled: set[int] = set()
        self._lock = threading.Lock()

    def start(self) -> None:
        self.config.workspace.mkdir(parents=True, exist_ok=True)

    def run(self, command, *, timeout=None, env=None, max_output=None) -> CommandResult:
        cap = max_output or self.config.max_output
        out, err = CappedBuffer(cap), CappedBuffer(cap)
        started, t0 = time.time(), time.monotonic()
        full_env = command_env(self.config, env, path=os.environ.get("PATH", "/usr/bin:/bin"),
                               home=str(self.config.workspace))
        proc = subprocess.Popen(
            ["/bin/sh", "-c", command], cwd=self.config.workspace, env=full_env,
            stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
            start_new_session=True,
        )
        with self._lock:
            self._procs.add(proc)
        streams = {proc.stdout.fileno(): out, proc.stderr.fileno(): err}
        shell_exited = os.pidfd_open(proc.pid)  # readable when the shell exits; reaps nothing
        try:
            deadline = None if timeout is None else time.monotonic() + timeout
            timed_out = capture(streams, [shell_exited], deadline) is None
            _kill_group(proc)  # background children in its group die with the command
            proc.wait()
            # A child that left the group (setsid) may still hold a pipe: bounded wait.
            capture(streams, deadline=time.monotonic() + DRAIN_SECONDS)
        except BaseException:  # KeyboardInterrupt included: kill, then propagate
            _kill_group(proc)
            raise
        finally:
            os.close(shell_exited)
            proc.stdout.close()
            proc.stderr.close()
            with self._lock:
                self._procs.discard(proc)
                cancelled = proc.pid in self._cancelled
                self._cancelled.discard(proc.pid)
        if timed_out:
            code = TIMEOUT_EXIT_CODE
        elif cancelled:
            code = CANCELLED_EXIT_CODE
        else:
            code = proc.returncode if proc.returncode >= 0 else 128 - proc.returncode
        return CommandResult(
            exit_code=code, stdout=out.text(), stderr=err.text(),
            duration=time.monotonic() - t0, timed_out=timed_out,
            stdout_truncated=out.truncated, stderr_truncated=err.truncated,
            started_at=started, ended_at=time.time(),
        )

    def cancel_all(self) -> None:
        with self._lock:
            procs = list(self._procs)
            self._cancelled.update(p.pid for p in procs)
        for proc in procs:
            _kill_group(proc)

    def close(self) -> None:
        self.cancel_all()

    def __enter__(self):
        self.start()
        return self

    def __exit__(self, *exc):
        self.close()


def _kill_group(proc: subprocess.Popen) -> None:
    try:
        os.killpg(proc.pid, signal.SIGKILL)
    except (ProcessLookupError, PermissionError):
        pass
