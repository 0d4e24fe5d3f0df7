"""What a tool may use during a run, handed in by the runtime.

Tools never import ``runtime``: the runtime builds a ToolContext for each
call (runtime/tool_context.py) with the run's workspace, its sandbox, its
journal, its budgets and its review policy. A tool asks for it by declaring
a parameter annotated ``ToolContext``; that parameter is not in the schema.
Outside a run (``tiss tools``, a direct ``Tool.call``) the context is the
default one below, whose services say clearly that they need a run.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Callable, Protocol, Sequence

from .errors import ToolError


class WorkspaceFiles(Protocol):
    """The run's workspace, confined like WRITE/READ (runtime/paths.py)."""

    def read(self, name: str) -> str: ...
    def write(self, name: str, text: str, append: bool = False) -> None: ...
    def exists(self, name: str) -> bool: ...
    def list(self, folder: str = ".") -> list[str]: ...


def _needs_a_run(what: str) -> Callable[..., Any]:
    def refuse(*args, **kwargs):
        raise ToolError(f"{what} needs a run", hint="call this tool from a plan (CALL) or the agent loop")
    return refuse


@dataclass
class ToolContext:
    """The run's services; each is a plain callable so tests can pass their own."""

    workspace: WorkspaceFiles | None = None
    # run_command(command: str | list[str], timeout: float | None) -> {"exit_code", "stdout", "stderr", ...}
    run_command: Callable[[str | Sequence[str], float | None], dict] = field(
        default=_needs_a_run("running a command"))
    # run_plan(source: str) -> {"status": ..., ...}: a TissLang fragment in the current run
    run_plan: Callable[[str], dict] = field(default=_needs_a_run("running a plan"))
    journal: Callable[[dict], None] = lambda event: None
    charge: Callable[[str, float], None] = lambda key, amount: None
    approve: Callable[[str], bool] = lambda action: True
    tool_name: str = ""

    def files(self) -> WorkspaceFiles:
        if self.workspace is None:
            raise ToolError("this tool needs a workspace", hint="call it from a plan (CALL) or the agent loop")
        return self.workspace
