"""The host backend: a plain subprocess in the workspace.

No isolation at all: only used when chosen explicitly (``--sandbox host``),
with a warning. Timeouts and output caps still apply, and the whole process
group is killed on timeout, interrupt or close.
"""

from __future__ import annotations

import os
import signal
import subprocess
import threading
import time

from .base import CommandResult, SandboxConfig
from .output import CappedBuffer


class HostSandbox:
    name = "host"

    def __init__(self, config: SandboxConfig):
        self.config = config
        self._procs: set[subprocess.Popen] = set()
        self._lock = threading.Lock()

    def start(self) -> None:
        self.config.workspace.mkdir(parents=True, exist_ok=True)

    def run(self, command, *, timeout=None, env=None, max_output=None) -> CommandResult:
        cap = max_output or self.config.max_output
        full_env = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "HOME": str(self.config.workspace),
                    "LANG": "C.UTF-8", **self.config.env, **(env or {})}
        started = time.time()
        t0 = time.monotonic()
        proc = subprocess.Popen(
            ["/bin/sh", "-c", command], cwd=self.config.workspace, env=full_env,
            stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
            start_new_session=True,
        )
        with self._lock:
            self._procs.add(proc)
        out, err = CappedBuffer(cap), CappedBuffer(cap)
        readers = [threading.Thread(target=_pump, args=(proc.stdout, out), daemon=True),
                   threading.Thread(target=_pump, args=(proc.stderr, err), daemon=True)]
        for r in readers:
            r.start()
        timed_out = False
        try:
            try:
                proc.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                timed_out = True
            _kill_group(proc)  # background children die with the command
            proc.wait()
            for r in readers:
                r.join(timeout=2)
        except BaseException:
            _kill_group(proc)
            raise
        finally:
            with self._lock:
                self._procs.discard(proc)
        code = proc.returncode
        if code < 0:
            code = 128 - code  # killed by a signal: shell convention 128+N
        return CommandResult(
            exit_code=124 if timed_out else code, stdout=out.text(), stderr=err.text(),
            duration=time.monotonic() - t0, timed_out=timed_out,
            stdout_truncated=out.truncated, stderr_truncated=err.truncated,
            started_at=started, ended_at=time.time(),
        )

    def cancel_all(self) -> None:
        with self._lock:
            procs = list(self._procs)
        for proc in procs:
            _kill_group(proc)

    def close(self) -> None:
        self.cancel_all()

    def __enter__(self):
        self.start()
        return self

    def __exit__(self, *exc):
        self.close()


def _pump(stream, buffer: CappedBuffer) -> None:
    for chunk in iter(lambda: stream.read1(65536), b""):
        buffer.write(chunk)
    stream.close()


def _kill_group(proc: subprocess.Popen) -> None:
    try:
        os.killpg(proc.pid, signal.SIGKILL)
    except (ProcessLookupError, PermissionError):
        pass
