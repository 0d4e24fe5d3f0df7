"""``tiss repl``: type TissLang, see it run, keep what worked.

One ``runtime.Session`` lives for the whole REPL: variables, LAST_RUN,
budgets and the sandbox container carry over from one entry to the next, and
every statement is journaled in ``<workspace>/.tiss/runs/<id>/`` like a run
(``tiss repl --resume ID`` continues it). The REPL adds its own events to
that journal: ``session_started``/``session_resumed``, ``repl_input`` (what
was typed and how it ended), ``repl_undo``, ``review_answered`` and
``session_ended``.

``Repl`` takes prompt-toolkit ``input``/``output`` objects and a text
stream for results, so tests drive it through a pipe; ``tiss repl`` uses
the terminal.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

from prompt_toolkit import PromptSession
from prompt_toolkit.history import FileHistory, InMemoryHistory
from prompt_toolkit.lexers import PygmentsLexer

import tisslang
from tisslang import ast
from tisslang.errors import TissSyntaxError
from tisslang.highlight import TissLangLexer
from tisslang.hints import did_you_mean

from .budget import KEYS as BUDGET_KEYS
from .display import PlainDisplay
from .errors import RunError
from .interpolate import to_text
from .repl_input import REPL_COMMANDS, TissCompleter, submit_on_complete_entry
from .repl_review import ReplReviewer, ask_key, ask_line

PLAN_KEYS = {"a": "approve", "e": "edit", "r": "reject"}
VALUE_WIDTH = 72         # :vars shortens longer values

HELP = """Type TissLang statements; they run at once in this session (Enter runs an entry;
while a block {{ … }} or a heredoc is open, Enter starts a new line; Escape Enter runs anyway).
Tab completes keywords, variables, workspace paths in strings and tool names.
{commands}
Ctrl-C stops a running RUN; Ctrl-D leaves (the sandbox is removed).
Reviews (REQUEST_REVIEW, PAUSE): a approve, r reject, c add a comment."""


def history_path() -> Path:
    """``$XDG_DATA_HOME/quanta-tissu/history`` (default ~/.local/share)."""
    data = os.environ.get("XDG_DATA_HOME") or Path.home() / ".local" / "share"
    return Path(data) / "quanta-tissu" / "history"


class Repl:
    def __init__(self, workspace: str | Path = ".", *, sandbox: str = "auto", choose: str = "auto",
                 resume: str | None = None,
                 input=None, output=None, stdout=None, history: Path | None = None,
                 model=None, tools=None):
        self.workspace = Path(workspace).resolve()
        self.sandbox_kind, self.choose = sandbox, choose
        self.input, self.output = input, output
        self.out = stdout or sys.stdout
        self.model, self.tools = model, tools
        self.statements: list[str] = []   # what :save writes, in order
        self._resume(resume) if resume else self._start()
        self.prompt = PromptSession(
            input=input, output=output, history=_history(Path(history or history_path()), self.say),
            lexer=PygmentsLexer(TissLangLexer), multiline=True,
            key_bindings=submit_on_complete_entry(), prompt_continuation="... ",
            completer=TissCompleter(self.workspace, lambda: self.session.variables,
                                    lambda: self.session.interp.tools),
            complete_while_typing=False, bottom_toolbar=self.toolbar)

    # --- the session -----------------------------------------------------------

    def _new_session(self, **resume):
        from .session import Session
        reviewer = ReplReviewer(self.say, self.journal, input=self.input, output=self.output)
        return Session(self.workspace, sandbox=self.sandbox_kind, review=reviewer, choose=self.choose,
                       model=self.model, tools=self.tools, display=PlainDisplay(self.out), **resume)

    def _start(self):
        from .journal import writer
        self.session = self._new_session()
        self.journal("session_started", plan="(repl)", **writer(), sandbox=self.sandbox_kind,
                     workspace=str(self.workspace))

    def _resume(self, run_id: str):
        from .journal import RunFolder, writer, writer_alive
        folder = RunFolder.open(self.workspace, run_id)
        events = list(folder.events())
        opened = [e for e in events if e["event"] in ("session_started", "session_resumed")]
        if not opened:
            raise RunError(f"run {run_id} is a plan run, not a REPL session",
                           hint=f"continue it with `tiss resume {run_id}`")
        if events[-1]["event"] != "session_ended" and writer_alive(opened[-1]):
            raise RunError(f"session {run_id} is still open in another tiss repl (pid {opened[-1]['pid']})",
                           hint="leave that REPL first (Ctrl-D)")
        for event in events:
            if event["event"] == "repl_input" and event["status"] == "succeeded":
                self.statements.append(event["source"])
            elif event["event"] == "repl_undo" and self.statements:
                self.statements.pop()
        self.session = self._new_session(folder=folder, state=folder.restore())
        self.journal("session_resumed", **writer(), sandbox=self.sandbox_kind)
        # Directives (@env, @timeout, @image …) live in the session's scope, not
        # in its saved state: apply those of the earlier entries again.
        directives = [stmt for source in self.statements for stmt in tisslang.parse(source, "<repl>").body
                      if type(stmt) is ast.Directive]
        if directives:
            self.session.execute(directives, path="<repl>")

    def journal(self, event: str, **fields) -> None:
        self.session.interp.commit(event, **fields)

    def close(self) -> None:
        """Leave: remove the sandbox, seal the journal."""
        self.journal("session_ended")
        self.session.close()

    # --- the loop ----------------------------------------------------------------

    def loop(self) -> int:
        self.say(f"tiss repl: session {self.session.run_id} in {self.workspace} "
                 f"(:help for help, Ctrl-D to leave)")
        if self.statements:
            self.say(f"resumed: {len(self.statements)} statements so far; "
                     f"variables: {', '.join(self.session.variables) or 'none'}")
        try:
            while True:
                try:
                    text = self.prompt.prompt("tiss> ")
                except KeyboardInterrupt:
                    continue            # Ctrl-C at the prompt drops the entry
                except EOFError:
                    break
                if not self.handle(text):
                    break
        finally:
            self.close()                # also when the terminal goes away (see runtime.repl_cli)
        return 0

    def handle(self, text: str) -> bool:
        """Act on one entry; False means leave. Nothing escapes from here:
        a session must never end with a traceback."""
        try:
            entry = text.strip()
            if entry.startswith(":"):
                return self.command(entry)
            if entry:
                self.execute(text)
        except KeyboardInterrupt:
            self.say("interrupted")
        except Exception as exc:   # the last line of defence, by design
            self.say(f"error: {type(exc).__name__}: {exc}\n"
                     "(the session goes on; this is a bug in tiss or a tool, please report it)")
        return True

    def execute(self, source: str, origin: str | None = None) -> str | None:
        """Parse and run one entry (or a file's text); returns the status."""
        path = origin or "<repl>"
        try:
            program = tisslang.parse(source, path)
        except TissSyntaxError as exc:
            for diagnostic in exc.diagnostics:
                self.say(diagnostic.format())
            return None
        outcome = self.session.execute(program.body, source=source, path=path)
        self.journal("repl_input", source=source, status=outcome.status, **({"file": origin} if origin else {}))
        if outcome.status == "succeeded":
            self.statements.append(source)
        elif outcome.status == "interrupted":
            self.say("interrupted: what was running was stopped")
        else:
            self.say(f"{outcome.status}: {outcome.error}")
        return outcome.status

    def say(self, text: str) -> None:
        print(text, file=self.out, flush=True)

    def toolbar(self) -> str:
        opened = self.session.sandbox.opened
        sandbox = f"{opened.name} (running)" if opened else f"{self.sandbox_kind} (starts at the first RUN)"
        return (f" {_short_path(self.workspace)} │ sandbox: {sandbox} │ budget: {self.budget_left()}"
                f" │ run {self.session.run_id} ")

    def budget_left(self) -> str:
        budget = self.session.interp.budget
        left = [f"{key} {budget.remaining(key):g} left" for key in BUDGET_KEYS if budget.limit(key) is not None]
        return ", ".join(left) or "no limits"

    # --- commands --------------------------------------------------------------

    def command(self, entry: str) -> bool:
        name, _, argument = entry.partition(" ")
        argument = argument.strip()
        if name in (":quit", ":q", ":exit"):
            return False
        handler = {":help": self.cmd_help, ":vars": self.cmd_vars, ":last": self.cmd_last,
                   ":plan": self.cmd_plan, ":run": self.cmd_run, ":save": self.cmd_save,
                   ":undo": self.cmd_undo, ":reset": self.cmd_reset, ":agent": self.cmd_agent}.get(name)
        if handler is None:
            guess = did_you_mean(name, REPL_COMMANDS)
            self.say(f"unknown command {name}" + (f"; did you mean {guess}?" if guess else "; :help lists them"))
        elif name in (":run", ":save", ":plan", ":agent") and not argument:
            self.say(f"usage: {name} {REPL_COMMANDS[name][0]}")
        else:
            handler(argument)
        return True

    def cmd_help(self, _argument: str) -> None:
        commands = "\n".join(f"  {name:6} {argument:5} {text}" for name, (argument, text) in REPL_COMMANDS.items())
        self.say(HELP.format(commands=commands))

    def cmd_vars(self, _argument: str) -> None:
        variables = self.session.variables
        if not variables:
            self.say("no variables yet")
        for name in sorted(variables, key=lambda n: (n.startswith("LAST_"), n)):
            text = to_text(variables[name]).replace("\n", "\\n")
            if len(text) > VALUE_WIDTH:
                text = text[:VALUE_WIDTH - 1] + "…"
            self.say(f"{name} = {text}")

    def cmd_last(self, _argument: str) -> None:
        last = self.session.variables.get("LAST_RUN")
        if not last:
            self.say("no RUN yet in this session")
            return
        state = "timed out" if last["TIMED_OUT"] else f"exit {last['EXIT_CODE']}"
        self.say(f"{state} in {last['DURATION']:g}s")
        for stream in ("STDOUT", "STDERR"):
            if last[stream]:
                self.say(f"--- {stream.lower()} ---\n{last[stream].rstrip(chr(10))}")

    def cmd_run(self, argument: str) -> None:
        path = Path(argument).expanduser()
        try:
            source = path.read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError) as exc:
            self.say(f"cannot read {argument}: {getattr(exc, 'strerror', None) or exc}")
            return
        self.execute(source, origin=str(path))

    def cmd_save(self, argument: str) -> None:
        from tisslang.formatter import format_source
        if not self.statements:
            self.say("nothing to save yet: no statement has succeeded in this session")
            return
        try:
            text = format_source("\n".join(s.rstrip("\n") for s in self.statements) + "\n", argument)
        except TissSyntaxError as exc:   # e.g. two TASKs: fine one at a time, not in one file
            self.say("cannot save: the entries do not make one plan together:")
            for diagnostic in exc.diagnostics:
                self.say(diagnostic.format())
            self.say("hint: :undo back to before the entry shown, then :save again")
            return
        path = Path(argument).expanduser()
        try:
            path.write_text(text, encoding="utf-8")
        except OSError as exc:
            self.say(f"cannot write {argument}: {exc.strerror}")
            return
        self.say(f"saved {len(self.statements)} entries to {path} (run it with: tiss run {path})")

    def cmd_undo(self, _argument: str) -> None:
        if not self.statements:
            self.say("nothing to undo")
            return
        dropped = self.statements.pop()
        self.journal("repl_undo")
        lines = dropped.strip().splitlines()
        self.say(f"dropped from :save: {lines[0]}{' …' if len(lines) > 1 else ''}\n"
                 "(what it did, files written or variables set, stays done)")

    def cmd_reset(self, _argument: str) -> None:
        self.close()
        self.statements = []
        self._start()
        self.say(f"new session {self.session.run_id}: no variables, budgets or statements")

    def cmd_plan(self, goal: str) -> None:
        """The planner writes a plan that parses and checks (runtime/planner.py);
        nothing runs until approved."""
        from .models import NoModelConfigured, load_default_backend
        from .planner import PlannerError, highlighted, plan
        try:
            model = self.model or load_default_backend()
        except NoModelConfigured as exc:
            self.say(f"no planner model is configured ({exc.message}), so :plan cannot write a plan.\n"
                     f"hint: {exc.hint or 'configure a model backend (docs/runtime.md)'}; "
                     "meanwhile type the statements yourself, or :run a .tiss file")
            return
        try:
            source = plan(goal, model).source
        except PlannerError as exc:
            self.say(f"{exc.message}\nhint: {exc.hint}")
            return
        while True:
            self.say(highlighted(source, self.out))
            word = ask_key("run this plan?", PLAN_KEYS, input=self.input, output=self.output)
            self.journal("plan_answered", goal=goal, verdict=word)
            if word == "reject":
                self.say("plan discarded; nothing ran")
                return
            if word == "edit":
                self.say("edit the plan; Escape then Enter when done")
                source = ask_line("", input=self.input, output=self.output, default=source, multiline=True)
                continue
            if self.execute(source, origin="<plan>") is not None:
                return


    def cmd_agent(self, goal: str) -> None:
        """The ReAct loop (runtime/agent.py) on GOAL in this session, with
        the session's tools; risky actions are asked here as reviews are.
        The answer is left in the variable ``answer``."""
        from .agent import FINAL, GOAL_VARIABLE, agent_source
        names = [n for n in self.session.interp.tools if n != FINAL]
        self.session.state.set("vars", GOAL_VARIABLE, goal)
        body = "".join(f"    {line}\n" for line in agent_source(names).splitlines())
        if self.execute(f'STEP "agent" {{\n{body}}}\n', origin="<agent>") == "succeeded":
            self.say(f"answer: {self.session.variables.get('answer')}")


def _history(path: Path, say):
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.touch()
        return FileHistory(str(path))
    except OSError as exc:
        say(f"warning: history will not be kept: cannot write {path} ({exc.strerror})")
        return InMemoryHistory()


def _short_path(path: Path, width: int = 32) -> str:
    """The workspace for the toolbar: ~ for home, and only its last parts
    when long, so the sandbox, budget and run id still fit."""
    home = str(Path.home())
    text = str(path)
    if text == home or text.startswith(home + "/"):
        text = "~" + text[len(home):]
    if len(text) > width:
        text = "…/" + "/".join(path.parts[-2:])
    return text

