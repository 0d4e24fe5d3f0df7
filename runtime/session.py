"""The runtime's public API: ``run_plan``, ``resume_run`` and ``Session``.

``Session`` is a live interpreter: state (variables, LAST_RUN, budgets), the
sandbox and the journal are kept across ``execute`` calls, which is what the
REPL and the pytest plugin build on. ``run_plan`` runs a whole file in a fresh
session; ``resume_run`` continues a paused, interrupted or crashed run.
"""

from __future__ import annotations

import re
import sys
import threading
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import tisslang
from tisslang import ast
from tisslang.errors import Diagnostic, TissSyntaxError
from tisslang.source import UnreadableSource, read_source

from . import cost
from .errors import RunError, Stop
from .interpreter import Context, Interpreter
from .journal import RunFolder, writer
from .review import make_reviewer
from .state import State
from .tool_context import close_registry, registry_for

EXIT_CODES = {"succeeded": 0, "failed": 1, "rejected": 3, "paused": 75, "interrupted": 130}
RESUMABLE = ("paused", "interrupted", "crashed")


@dataclass
class StepResult:
    name: str
    status: str            # succeeded | failed | paused | rejected | running
    duration: float = 0.0
    error: str | None = None


@dataclass
class RunOutcome:
    status: str            # succeeded | failed | rejected | paused | interrupted
    run_id: str | None = None
    journal: Path | None = None          # the run folder
    steps: list[StepResult] = field(default_factory=list)
    variables: dict[str, Any] = field(default_factory=dict)
    error: str | None = None
    workspace: Path | None = None

    @property
    def exit_code(self) -> int:
        return EXIT_CODES[self.status]

    @property
    def resume_command(self) -> str | None:
        if self.status not in ("paused", "interrupted") or not self.run_id:
            return None
        where = "" if self.workspace is None or Path(self.workspace).resolve() == Path.cwd() \
            else f" --workspace {self.workspace}"
        return f"tiss resume {self.run_id}{where}"

    def to_json(self) -> dict:
        return {
            "run_id": self.run_id, "status": self.status, "exit_code": self.exit_code,
            "steps": [{"name": s.name, "status": s.status, "duration": s.duration,
                       **({"error": s.error} if s.error else {})} for s in self.steps],
            "variables": self.variables, "error": self.error,
            "run_folder": str(self.journal) if self.journal else None,
            "resume": self.resume_command,
        }


class LazySandbox:
    """Opens the sandbox at the first RUN, so plans without commands need
    no Docker; ``opened`` is the live sandbox (for Ctrl-C) or None."""

    def __init__(self, kind: str, config_for):
        self.kind, self.config_for, self.opened = kind, config_for, None
        self.lock = threading.Lock()     # PARALLEL branches may all start with a RUN

    def __call__(self):
        if self.opened is not None:
            return self.opened
        with self.lock:
            if self.opened is not None:
                return self.opened
            from .sandbox import SandboxError, open_sandbox
            try:
                sandbox = open_sandbox(self.kind, self.config_for())
                sandbox.start()
            except SandboxError as exc:
                raise Stop(f"cannot start the {self.kind} sandbox: {exc}", hint=exc.hint) from None
            self.opened = sandbox
        return self.opened

    def close(self) -> None:
        if self.opened is not None:
            self.opened.close()
            self.opened = None


class Session:
    """Keeps a run's state across ``execute`` calls and journals each
    statement like a run (in ``<workspace>/.tiss/runs/<run_id>/``)."""

    def __init__(self, workspace: str | Path = ".", *, sandbox: str = "auto", review=None,
                 choose: str = "auto", model=None, tools=None, journal: bool = True,
                 display=None, folder: RunFolder | None = None, state: State | None = None,
                 verdict: str | None = None, source: str = ""):
        self.workspace = _workspace_folder(workspace)
        self.state = state or State()
        self.folder = folder or (RunFolder.create(self.workspace, source) if journal else None)
        # Where failures point: the plan's text and name (a chunk's, in a session).
        self.source = source or (folder.plan_source if folder else "")
        self.path = "<plan>"
        self.display = display
        self.sandbox_kind = sandbox
        self.sandbox_settings: dict[str, Any] = {}
        self.sandbox = LazySandbox(sandbox, self._sandbox_config)
        self.interp = Interpreter(
            state=self.state, workspace=self.workspace, journal=self.folder, sandbox=self.sandbox,
            reviewer=make_reviewer(review, self.folder), choose=choose, model=model,
            tools=registry_for(tools, self.workspace), display=display, verdict=verdict)
        self._owns_tools = tools is None      # then its MCP servers close with the session
        self.scope: dict[str, Any] = {}
        # A resumed session continues after the chunks it already ran.
        self._chunks = 1 + max((int(k[1:-1]) for k in self.state.sections["progress"]
                                if re.fullmatch(r"c\d+\.", k)), default=-1)

    @property
    def run_id(self) -> str | None:
        return self.folder.run_id if self.folder else None

    @property
    def variables(self) -> dict[str, Any]:
        return self.state.user_variables()

    # --- running -------------------------------------------------------------

    def execute(self, statements, source: str | None = None, path: str = "<session>") -> RunOutcome:
        """Run statements (a list of AST nodes, a Program, or TissLang text)
        in this session's state; returns the outcome of this chunk. ``source``
        and ``path`` are what failure diagnostics point into."""
        if isinstance(statements, str):
            source = statements
            statements = tisslang.parse(statements, path).body
        elif isinstance(statements, ast.Program):
            statements = statements.body
        statements = tuple(statements)
        self.source, self.path = source or "", path
        self.sandbox_settings = {**self.sandbox_settings, **_sandbox_directives(statements)}
        if self.folder and source:
            with open(self.folder.path / "plan.tiss", "a", encoding="utf-8") as plan:
                plan.write(source if source.endswith("\n") else source + "\n")
        key = f"c{self._chunks}."
        self.interp.interrupted.clear()   # a Ctrl-C stopped the previous chunk only
        self._chunks += 1
        root = Context(self.interp, self.scope)
        outcome = self._guarded(lambda: self.interp.run_block(statements, key, root))
        try:   # the chunk's directives stay in force for the next chunks
            self.scope = self.interp.enter_scope(statements, root).scope
        except RunError:
            pass   # a bad directive: the outcome already reports it
        return outcome

    def run_program(self, program: ast.Program, event: str = "run_started") -> RunOutcome:
        self.path = program.path
        self.sandbox_settings = _sandbox_directives(program.body)
        for stmt in program.body:
            if type(stmt) is ast.Task:
                self.sandbox_settings.update(_sandbox_directives(stmt.body))
        self.interp.commit(event, checkpoint=True, plan=Path(program.path).name,
                           path=str(program.path), **writer(), sandbox=self.sandbox_kind,
                           choose=self.interp.choose_policy)
        if self.display and not any(type(stmt) is ast.Task for stmt in program.body):
            self.display.task(Path(program.path).name)   # a fragment is named after its file
        root = Context(self.interp, {})
        return self._guarded(lambda: self.interp.run_block(program.body, "", root))

    def _guarded(self, body) -> RunOutcome:
        """Run ``body`` and turn however it ends into an outcome + journal event."""
        error = None
        try:
            body()
            status = "succeeded"
        except RunError as exc:
            status, error = "failed", self.diagnostic(exc)
        except Stop as exc:
            status, error = exc.status, exc.message + (f"\nhint: {exc.hint}" if exc.hint else "")
        except KeyboardInterrupt:
            self.interp.cancel()
            status, error = "interrupted", "interrupted"
        finally:
            cost.save_history(self.workspace, self.interp.observed)
            self.interp.observed = {}
        if status == "interrupted":
            self.state.take_delta()   # what was half done is not journaled
            self.interp.commit("run_done", status=status)
        else:
            self.interp.budget.save_elapsed()
            self.interp.commit("run_done", checkpoint=True, status=status, error=error)
        return self.outcome(status, error)

    def diagnostic(self, exc: RunError) -> str:
        """A failure as the toolchain shows every problem: path:line:col,
        the message, the plan's line with a caret, the hint."""
        lines = self.source.splitlines()
        if not 0 < exc.line <= len(lines):
            return exc.report()
        text = lines[exc.line - 1]
        col = len(text) - len(text.lstrip()) + 1
        return Diagnostic(self.path, exc.line, col, exc.message, hint=exc.hint, source_line=text).format()

    def outcome(self, status: str, error: str | None) -> RunOutcome:
        steps = sorted(self.state.sections["steps"].values(), key=lambda s: s.get("order", 0))
        return RunOutcome(
            status=status, run_id=self.run_id, journal=self.folder.path if self.folder else None,
            steps=[StepResult(s["name"], s["status"], s.get("duration", 0.0), s.get("error")) for s in steps],
            variables=self.variables, error=error, workspace=self.workspace)

    def _sandbox_config(self):
        """One sandbox per run: the user's settings, the plan's file/task-level
        @image, and the network only when @network asks AND the user allows."""
        settings = sandbox_settings()
        wants_network = str(self.sandbox_settings.get("network", "off")).lower() in ("on", "true", "yes")
        if wants_network and not settings.allow_network:
            print('warning: @network "on" ignored: your configuration does not allow network access '
                  "(set sandbox.allow_network: true in the tiss config)", file=sys.stderr)
        return settings.sandbox_config(self.workspace, self.run_id or "session",
                                       image=self.sandbox_settings.get("image"),
                                       network_requested=wants_network)

    def close(self) -> None:
        self.sandbox.close()
        if self._owns_tools:
            close_registry(self.interp.tools)
        if self.folder:
            self.folder.close()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()


def _workspace_folder(workspace: str | Path) -> Path:
    """The workspace as an absolute directory, created if missing."""
    path = Path(workspace).resolve()
    try:
        path.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        why = "it is not a directory" if isinstance(exc, FileExistsError) else exc.strerror
        raise RunError(f"cannot use the workspace {workspace}: {why}",
                       hint="give a directory you can write as the workspace (it is created if missing)") from None
    return path


# --- whole plans --------------------------------------------------------------


def load_plan(plan: str | Path | ast.Program, warnings: list | None = None) -> tuple[ast.Program, str]:
    """A Program and its source from a path, TissLang text or a Program.
    Raises TissSyntaxError for parse errors and for checker errors; the
    checker's warnings are added to ``warnings`` when a list is given."""
    if isinstance(plan, ast.Program):
        program, source = plan, ""
    elif isinstance(plan, Path) or (isinstance(plan, str) and plan.endswith(".tiss") and "\n" not in plan):
        path = Path(plan)
        try:
            source = read_source(path)
        except UnreadableSource as exc:
            raise RunError(f"cannot read plan {str(path)!r}: {exc.reason}",
                           hint="give the path of a .tiss file, saved as UTF-8 text") from None
        program = tisslang.parse(source, str(path))
    else:
        source = plan
        program = tisslang.parse(source, "<plan>")
    diagnostics = check_program(program)
    problems = [d for d in diagnostics if d.severity == "error"]
    if problems:
        raise TissSyntaxError(problems)
    if warnings is not None:
        warnings.extend(d for d in diagnostics if d.severity != "error")
    return program, source


def check_program(program: ast.Program) -> list:
    try:
        from tisslang.checker import check
    except ImportError:
        return []
    return check(program)


def run_plan(plan, workspace: str | Path = ".", *, sandbox: str = "auto", review=None,
             choose: str = "auto", model=None, tools=None, display=None,
             journal: bool = True, source: str | None = None) -> RunOutcome:
    """Run a whole plan (path, text or Program) in a new run folder. For a
    Program, pass its ``source`` too, or the run cannot be resumed."""
    program, text = load_plan(plan)
    source = source if source is not None else text
    with Session(workspace, sandbox=sandbox, review=review, choose=choose, model=model,
                 tools=tools, display=display, journal=journal, source=source) as session:
        return session.run_program(program)


def resume_run(run_id: str, workspace: str | Path = ".", *, verdict: str | None = None,
               sandbox: str | None = None, review=None, choose: str | None = None, model=None,
               tools=None, display=None) -> RunOutcome:
    """Continue a run after its last completed statement; ``verdict``
    (approve/reject) answers the review or PAUSE it stopped at."""
    folder = RunFolder.open(Path(workspace), run_id)
    info = folder.summary()
    if info["status"] == "running":
        raise RunError(f"run {run_id} is still running", hint="wait for it, or stop it with Ctrl-C first")
    if info["status"] not in RESUMABLE:
        raise RunError(f"run {run_id} already ended: {info['status']}; only a paused, interrupted or "
                       "crashed run can be resumed", hint="start it again with `tiss run`")
    started = next((e for e in folder.events() if e["event"] == "run_started"), None)
    if started is None or not folder.plan_source.strip():
        raise RunError(f"run {run_id} cannot be resumed: it is an interactive session or its plan was "
                       "not saved", hint="start the plan again with `tiss run`")
    program = tisslang.parse(folder.plan_source, started.get("path", "plan.tiss"))
    state = folder.restore()
    with Session(workspace, sandbox=sandbox or started.get("sandbox", "auto"), review=review,
                 choose=choose or started.get("choose", "auto"), model=model, tools=tools,
                 display=display, folder=folder,
                 state=state, verdict=verdict) as session:
        return session.run_program(program, event="run_resumed")


# --- neighbours: user configuration -------------------------------------------------


def sandbox_settings():
    """The user's sandbox settings (runtime/config.py); a broken config file
    stops the run with its own message."""
    from .config import load_for_run
    return load_for_run().sandbox


def _sandbox_directives(stmts) -> dict:
    """@image and @network configure the sandbox, which is one per run, so
    only those at file or task level count."""
    found = {}
    for stmt in stmts:
        if type(stmt) is ast.Directive and stmt.name in ("image", "network"):
            if isinstance(stmt.value, ast.Template) and all(isinstance(p, ast.Text) for p in stmt.value.parts):
                found[stmt.name] = "".join(p.value for p in stmt.value.parts)
            elif isinstance(stmt.value, ast.Literal):
                found[stmt.name] = "on" if stmt.value.value is True else str(stmt.value.value)
    return found
