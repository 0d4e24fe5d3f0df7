"""Sandboxes for RUN. ``open_sandbox(kind, config)`` picks a backend:
``docker`` (default when an engine is reachable), ``bwrap``, or ``host``
(only when asked for explicitly)."""

from __future__ import annotations

import sys

from .base import CommandResult, Sandbox, SandboxConfig, SandboxError

__all__ = ["CommandResult", "Sandbox", "SandboxConfig", "SandboxError", "open_sandbox"]


def open_sandbox(kind: str, config: SandboxConfig) -> Sandbox:
    """Return an un-started sandbox of ``kind`` (auto|docker|bwrap|host)."""
    if kind == "host":
        from .host import HostSandbox

        print("warning: --sandbox host runs commands directly on this machine, unisolated",
              file=sys.stderr)
        return HostSandbox(config)
    raise SandboxError(
        f"sandbox backend {kind!r} is not available yet",
        hint="use --sandbox host to run commands directly on this machine",
    )
