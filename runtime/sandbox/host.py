"""The host backend: commands run directly on this machine, in the workspace.

No isolation at all: only used when chosen explicitly (``--sandbox host``),
with a warning. What it does keep: timeouts, output caps, an environment
built from scratch (nothing of the tiss process leaks in), and no command
outliving its RUN or tiss. For that last point it runs the same executor as
the isolated backends (executor.py), as a plain child process: a child
subreaper that kills each command's whole tree (background jobs and
``setsid`` included) when the RUN ends, and everything when tiss goes away,
even killed with SIGKILL (the kernel then closes the lease connection).
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from .base import CommandResult, SandboxConfig, SandboxError
from .client import (
    EXIT_WAIT_SECONDS, ExecutorClient, ExecutorLog, explain_process_stop,
    discard_executor_files, make_private_dir,
)

EXECUTOR = str(Path(__file__).resolve().parent / "executor.py")
STARTUP_SECONDS = 20


class HostSandbox:
    name = "host"
    protections = frozenset({"timeout", "output_cap", "clean_env", "background_jobs"})

    def __init__(self, config: SandboxConfig):
        self.config = config
        self._socket_dir: Path | None = None
        self._log: ExecutorLog | None = None
        self._process: subprocess.Popen | None = None
        self._executor: ExecutorClient | None = None
        self._workspace = ""  # its absolute path, the commands' cwd and HOME

    def start(self) -> None:
        self.config.workspace.mkdir(parents=True, exist_ok=True)
        workspace = self._workspace = str(self.config.workspace.resolve())
        try:
            self._socket_dir = make_private_dir()
            self._log = ExecutorLog()
            self._executor = ExecutorClient(
                self._socket_dir, self.config, self._explain_stop,
                path=os.environ.get("PATH", "/usr/bin:/bin"), home=workspace)
            with self._executor.listen() as listener:
                self._process = subprocess.Popen(
                    [sys.executable, "-I", "-S", EXECUTOR, "--listen-fd", str(listener.fileno())],
                    pass_fds=(listener.fileno(),),
                    cwd=workspace, env={}, stdin=subprocess.DEVNULL,
                    stdout=self._log.file, stderr=self._log.file,
                    start_new_session=True)  # Ctrl-C reaches tiss, which cancels the RUNs
            self._executor.connect_lease(STARTUP_SECONDS, self._fail_if_exited)
        except BaseException:
            self.close()
            raise

    def run(self, command, *, timeout=None, env=None, max_output=None) -> CommandResult:
        if self._executor is None:
            raise SandboxError("the host sandbox is not started (or already closed)")
        return self._executor.run(command, timeout=timeout, env=env, max_output=max_output,
                                  cwd=self._workspace)

    def cancel_all(self) -> None:
        if self._executor is not None:
            self._executor.cancel_all()

    def close(self) -> None:
        if self._executor is not None:
            self._executor.close()  # the lease ends: the executor kills all and exits
            self._executor = None
        if self._process is not None:
            try:
                self._process.wait(timeout=EXIT_WAIT_SECONDS)
            except subprocess.TimeoutExpired:
                self._process.kill()
                self._process.wait()
            self._process = None
        discard_executor_files(self._socket_dir, log=self._log)
        self._socket_dir = self._log = None

    def __enter__(self):
        self.start()
        return self

    def __exit__(self, *exc):
        self.close()

    def _explain_stop(self) -> tuple[str, str | None]:
        return explain_process_stop(self._process, self._log)

    def _fail_if_exited(self) -> None:
        if self._process is not None and self._process.poll() is not None:
            raise SandboxError(f"the host executor exited at start with status "
                               f"{self._process.returncode}: {self._log.tail()}")
