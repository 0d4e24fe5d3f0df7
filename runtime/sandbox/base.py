"""The sandbox interface: where RUN commands execute.

A sandbox is opened once per run (one container, not one per command), runs
any number of commands, possibly concurrently (PARALLEL), and is closed at the
end. Commands are hostile: backends enforce timeouts and output caps
themselves, and ``close`` must leave no process behind.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Protocol

from . import processes


DEFAULT_MAX_OUTPUT = 1024 * 1024  # bytes per stream
TIMEOUT_EXIT_CODE = processes.TIMEOUT_EXIT_CODE  # defined with the executor's helpers
CANCELLED_EXIT_CODE = 137          # 128 + SIGKILL: cancel_all() or Ctrl-C
# PATH inside isolated sandboxes (Docker, bubblewrap): nothing from the host's.
# First, the project's own directory: ``python`` as python3 (image.python_alias).
PYTHON_ALIAS_DIR = "/.tiss/bin"
SANDBOX_PATH = PYTHON_ALIAS_DIR + ":/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"


@dataclass
class SandboxConfig:
    workspace: Path
    run_id: str = "adhoc"
    image: str | None = None          # @image / config; None = the local image
    network: bool = False             # only when @network and user config agree
    memory_mb: int = 1024
    pids: int = 256
    cpus: float = 1.0
    max_output: int = DEFAULT_MAX_OUTPUT
    env: dict[str, str] = field(default_factory=dict)  # base env for every RUN


@dataclass
class CommandResult:
    exit_code: int
    stdout: str
    stderr: str
    duration: float                   # seconds, measured around the command
    timed_out: bool = False
    oom_killed: bool = False
    stdout_truncated: bool = False    # the cap kept head and tail
    stderr_truncated: bool = False
    started_at: float = 0.0           # time.time() when the command started
    ended_at: float = 0.0


# What a backend can promise; each backend lists the ones it gives in its
# ``protections`` attribute, and tests/sandbox/test_security.py checks each
# promise on every backend that makes it.
PROTECTIONS = {
    "timeout": "TIMEOUT kills the command and everything it started",
    "output_cap": "output beyond max_output is cut, keeping head and tail",
    "clean_env": "nothing of the tiss process's environment is visible",
    "no_network": "no network unless allowed (not even the host's loopback)",
    "read_only_host": "only the workspace and /tmp are writable (symlinks included)",
    "no_shadow": "host secrets (/etc/shadow, home directories) are not readable",
    "background_jobs": "background jobs (&, setsid, double fork) die with the RUN",
    "fork_bomb": "a process limit contains fork bombs",
    "memory_oom": "a memory limit kills memory bombs and reports OOM",
}


def command_env(config: SandboxConfig, extra: dict[str, str] | None, *, path: str,
                home: str) -> dict[str, str]:
    """The complete environment of one command: a fixed minimum, then the
    run's base env, then the command's own. Nothing is inherited from the
    process running tiss (no tokens or keys leak in)."""
    return {"PATH": path, "HOME": home, "LANG": "C.UTF-8", "TMPDIR": "/tmp",
            **config.env, **(extra or {})}


class SandboxError(Exception):
    """A sandbox could not be started or used; ``hint`` says how to fix it
    (e.g. the command that installs or builds what is missing)."""

    def __init__(self, message: str, hint: str | None = None):
        super().__init__(message)
        self.hint = hint


class Sandbox(Protocol):
    name: str  # "docker" | "bwrap" | "host"
    protections: frozenset[str]  # which of PROTECTIONS this backend guarantees

    def start(self) -> None:
        """Make the sandbox ready (start the container, check the binary)."""

    def run(
        self,
        command: str,
        *,
        timeout: float | None = None,
        env: dict[str, str] | None = None,
        max_output: int | None = None,
    ) -> CommandResult:
        """Run ``command`` with ``/bin/sh -c`` in a fresh shell, cwd = the
        workspace. Thread-safe: PARALLEL calls it from several threads. If the
        calling thread is interrupted (KeyboardInterrupt) the command and all
        its descendants are killed before the exception propagates."""

    def cancel_all(self) -> None:
        """Kill every command currently running (Ctrl-C from another thread)."""

    def close(self) -> None:
        """Stop everything and release resources; idempotent."""

    def __enter__(self) -> "Sandbox": ...

    def __exit__(self, *exc) -> None: ...
