"""The runtime's side of the tool API: which registry a run uses, and the
ToolContext a tool gets (the run's workspace, sandbox, journal, budgets and
review policy), so that tools never import the runtime."""

from __future__ import annotations

import os
from pathlib import Path, PurePosixPath
from typing import Any

import tisslang
from tisslang.paths import RUN_FOLDER, path_problem
from tools import ToolContext, ToolError, ToolRegistry, load_registry
from tools.mcp_client import McpServerError, close_tools

from .errors import Interrupted, Paused, Rejected, RunError, Stop
from .ours import our_names
from .review import Request


def registry_for(tools=None, workspace: Path | None = None) -> ToolRegistry:
    """``tools`` as given (a registry, or ``{name: function}``), else every
    tool: built-ins, plugins, and the configured MCP servers'."""
    if tools is not None:
        return ToolRegistry.of(tools)
    with our_names():     # a plugin's `from tools import tool` is ours
        return load_registry(_tool_config(workspace), workspace=workspace)


def _tool_config(workspace: Path | None) -> dict:
    """``mcp_servers`` from the user's configuration and the workspace's
    tiss.yaml, which must be trusted to name any (runtime/trust.py)."""
    from .config import ConfigError
    from .trust import tool_config
    try:
        return tool_config(workspace or Path.cwd())
    except ConfigError as exc:
        raise Stop(f"configuration: {exc}", hint=exc.hint) from None


def close_registry(registry) -> None:
    """The end of a run: stop the MCP servers its registry started."""
    close_tools(registry.values())


class ToolFiles:
    """The workspace as tools see it: runtime/paths.py's confined
    Workspace, plus ``list`` (which never follows a symlink)."""

    def __init__(self, files, line: int):
        self.files, self.line = files, line

    @property
    def root(self):
        """The workspace folder (search_knowledge finds .tiss/kb/ there)."""
        return self.files.root

    def read(self, name: str) -> str:
        return self.files.read(name, self.line)

    def write(self, name: str, text: str, append: bool = False) -> None:
        self.files.write(name, text, self.line, append=append)

    def exists(self, name: str) -> bool:
        return self.files.exists(name, self.line)

    def list(self, folder: str = ".") -> list[str]:
        root = Path(self.files.root).resolve()
        if folder not in ("", "."):
            problem = path_problem(folder)
            if problem:
                raise RunError(problem[0], self.line, hint=problem[1])
        start = (root / folder).resolve()
        if not start.is_relative_to(root) or start.is_symlink() or not start.is_dir():
            raise RunError(f"folder {folder!r} is not a folder inside the workspace", self.line,
                           hint="give a folder relative to the workspace, e.g. \".\" or \"src\"")
        found = []
        for here, dirs, names in os.walk(start, followlinks=False):
            relative = PurePosixPath(Path(here).relative_to(root).as_posix())
            dirs[:] = sorted(d for d in dirs if not (relative == PurePosixPath(".") and d == RUN_FOLDER))
            found.extend(str(relative / n) if str(relative) != "." else n for n in names
                         if not os.path.islink(os.path.join(here, n)))
        return sorted(found)


def tool_context(interp, tool, key: str, line: int, ctx, approved: bool = False) -> ToolContext:
    """The services of this run, for one call of ``tool`` at ``line``;
    ``approved``: the caller already asked the review policy (the agent loop's
    risky actions, runtime/agent.py), so the tool's own ask is answered yes."""

    def run_command(command, timeout: float | None = None) -> dict:
        text = command if isinstance(command, str) else " ".join(_quote(part) for part in command)
        limit = timeout if timeout is not None else ctx.scope.get("timeout")
        try:
            result = interp.sandbox().run(text, timeout=limit, env=ctx.scope.get("env"))
        except Exception as exc:   # SandboxError, or a sandbox that could not start
            raise Stop(f"the sandbox failed: {exc}", line, hint=getattr(exc, "hint", None)) from None
        return {"exit_code": result.exit_code, "stdout": result.stdout, "stderr": result.stderr,
                "duration": round(result.duration, 3), "timed_out": result.timed_out}

    def run_plan(source: str) -> dict:
        try:
            statements = tisslang.parse(source, "<run_plan>").body
        except tisslang.TissSyntaxError as exc:
            raise ToolError(f"the fragment does not parse: {exc}") from None
        interp.run_block(statements, f"{key}.", ctx)
        interp.forget_inside(key)
        return {"status": "succeeded", "statements": len(statements)}

    def approve(action: str) -> bool:
        if approved:
            return True
        return _approve(interp, f"tool {tool.name!r} wants to {action}", key, line)

    return ToolContext(
        workspace=ToolFiles(interp.files, line), run_command=run_command, run_plan=run_plan,
        journal=lambda event: interp.commit("tool_event", key=key, tool=tool.name, **event),
        charge=lambda budget, amount: interp.budget.charge(budget, amount, line),
        approve=approve, tool_name=tool.name)


def _approve(interp, message: str, key: str, line: int) -> bool:
    """A risky tool asks the run's review policy, as REQUEST_REVIEW does: a
    pause stops the run and ``tiss resume --approve`` answers it."""
    decisions = interp.state.sections["decisions"]
    if decisions.get(key) == "paused" and interp.verdict:
        verdict = interp.verdict
    else:
        interp.commit("review_asked", key=key, line=line, kind="review", message=message)
        verdict = interp.ask(Request("review", message, line, key=key)).verdict
    if verdict == "pause":
        interp.state.set("decisions", key, "paused")
        interp.commit("review_answered", checkpoint=True, key=key, verdict="pause")
        raise Paused(message, line)
    interp.state.delete("decisions", key)
    interp.commit("review_answered", key=key, verdict=verdict)   # the report shows the answer
    if verdict == "reject":
        raise Rejected(f"rejected in review: {message}", line)
    return True


def _quote(part: str) -> str:
    import shlex
    return shlex.quote(str(part))


def call_tool(interp, name: str, arguments: Any, key: str, line: int, ctx, approved: bool = False) -> Any:
    """CALL: find the tool, charge API_CALLS, validate, call; every failure
    is a RunError at the CALL's line with the tool's own message."""
    tool = interp.tools.get(name)
    if tool is None:
        refused = getattr(interp.tools, "refused", {}).get(name)
        if refused:
            raise RunError(refused, line, hint="uninstall or rename one of them")
        known = ", ".join(sorted(interp.tools)) or "none"
        problems = getattr(interp.tools, "problems", [])
        hint = ("`tiss tools` lists every tool; plugins register in entry point group 'tisslang.tools'"
                if not problems else "these tool sources failed to load (an MCP server that did not "
                "start?):\n  " + "\n  ".join(p.splitlines()[0] for p in problems))
        raise RunError(f"unknown tool {name!r} (registered tools: {known})", line, hint=hint)
    if not isinstance(arguments, dict):
        raise RunError(f"CALL {name} needs an object of arguments, e.g. CALL {name} {{path: \"x\"}}", line)
    interp.budget.charge("API_CALLS", 1, line)
    try:
        tool.check_arguments(arguments)
    except ToolError as exc:
        detail = exc.message.removeprefix(f"tool {name!r}: ")
        raise RunError(f"tool {name!r} refused its arguments: {detail}", line,
                       hint=exc.hint or tool.usage()) from None
    try:
        return tool.call(arguments, tool_context(interp, tool, key, line, ctx, approved))
    except (RunError, Stop):
        raise
    except McpServerError as exc:   # not the step's fault: stop, resumable once the server is fixed
        raise Interrupted(f"tool {name!r}: {exc.message}", line, hint=exc.hint) from None
    except ToolError as exc:
        raise RunError(f"tool {name!r} failed: {exc.message}", line, hint=exc.hint) from None
    except (TypeError, ValueError) as exc:
        raise RunError(f"tool {name!r} refused its arguments: {exc}", line) from None
    except Exception as exc:   # a plugin's failure is the step's failure, not a crash
        raise RunError(f"tool {name!r} failed: {type(exc).__name__}: {exc}", line) from None
