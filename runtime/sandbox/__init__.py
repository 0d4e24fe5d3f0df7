"""Sandboxes for RUN. ``open_sandbox(kind, config)`` picks a backend:
``docker`` (the default when an engine answers), ``bwrap`` (when it does
not), or ``host`` (only when asked for explicitly). See docs/sandbox.md."""

from __future__ import annotations

import sys

from .base import PROTECTIONS, CommandResult, Sandbox, SandboxConfig, SandboxError

__all__ = ["BACKENDS", "PROTECTIONS", "CommandResult", "Sandbox", "SandboxConfig",
           "SandboxError", "backend_problems", "open_sandbox"]

BACKENDS = ("auto", "docker", "bwrap", "host")


def open_sandbox(kind: str, config: SandboxConfig) -> Sandbox:
    """Return an un-started sandbox of ``kind`` (auto|docker|bwrap|host)."""
    if kind == "auto":
        kind = _pick_backend()
    if kind == "docker":
        from .docker import DockerSandbox

        return DockerSandbox(config)
    if kind == "bwrap":
        from .bwrap import BwrapSandbox

        return BwrapSandbox(config)
    if kind == "host":
        from .host import HostSandbox

        print("warning: --sandbox host runs commands directly on this machine, unisolated",
              file=sys.stderr)
        return HostSandbox(config)
    raise SandboxError(f"unknown sandbox backend {kind!r}",
                       hint="use one of: " + ", ".join(BACKENDS))


def backend_problems() -> dict[str, str | None]:
    """For each isolated backend, why it cannot be used (None: it can)."""
    from .bwrap import bwrap_problem
    from .docker import engine_problem

    return {"docker": engine_problem(timeout=2), "bwrap": bwrap_problem()}


def _pick_backend() -> str:
    """Docker when an engine answers quickly, else bubblewrap; never the host."""
    from .bwrap import bwrap_problem
    from .docker import engine_problem

    problems = {}
    for name, problem in (("docker", engine_problem), ("bwrap", bwrap_problem)):
        problems[name] = problem()
        if problems[name] is None:
            return name
    raise SandboxError(
        "no sandbox backend is available: "
        + "; ".join(f"{name}: {why}" for name, why in problems.items()),
        hint="install and start Docker (apt-get install docker.io; dockerd), or install "
             "bubblewrap (apt-get install bubblewrap); --sandbox host runs unisolated",
    )
