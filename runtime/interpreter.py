"""The interpreter: executes the typed AST, one statement at a time.

Positions are *keys*: a block's key is a string prefix ("" for the program,
"3." for the body of statement 3, "3.1." for IF arm 1, "3.2." for RETRY
attempt 2 …) and a statement's key is its block key plus its index. The state
records, per block, how many statements completed (``progress``) and what each
unfinished compound statement decided (``decisions``); resuming just walks the
AST again and skips what is recorded as done. Each completed statement is one
journal event carrying what it changed.
"""

from __future__ import annotations

import json
import re
import shlex
import threading
import time
from pathlib import Path
from typing import Any

from tisslang import ast
from tisslang.parser import parse_duration

from . import cost
from .budget import Budget
from .errors import AssertionFailed, Interrupted, ParallelFailed, Paused, Rejected, RunError, Stop
from .evaluate import describe, evaluate, explain, observed, truthy
from .interpolate import render
from .models import count_tokens, load_default_backend
from .paths import Workspace
from .review import Answer, Request
from .sandbox.base import SandboxError
from .state import PER_BRANCH, State, branch_name
from .tool_context import call_tool, registry_for

# What LAST_RUN & co. read as before anything set them (the checker treats
# them as always defined): empty records, so "{{LAST_RUN.STDERR}}" in a first
# RETRY attempt is "" rather than an error.
BUILT_IN = {
    "LAST_RUN": {"EXIT_CODE": None, "STDOUT": "", "STDERR": "", "DURATION": 0, "TIMED_OUT": False},
    "LAST_PROMPT": "",
    "LAST_REVIEW": {"VERDICT": "", "COMMENT": "", "MESSAGE": ""},
    "LAST_COST": cost.zero(),
}

SIZE_UNITS = {"B": 1, "KB": 1024, "MB": 1024 ** 2, "GB": 1024 ** 3}
DURATION_HINT = "write a number followed by ms, s, m or h, for example 30s or 5m"
SCRIPT_RUNNERS = {"PYTHON": "python3 -c", "PY": "python3 -c"}   # other heredocs are shell


class Context:
    """Where a statement runs: the directives in scope, the PARALLEL branches
    it is nested in (innermost first), and whether it is inside a chosen
    CHOOSE option. Also the ``env`` that expressions evaluate against."""

    __slots__ = ("interp", "scope", "branches", "in_option")

    def __init__(self, interp, scope: dict, branches: tuple = (), in_option: bool = False):
        self.interp, self.scope, self.branches, self.in_option = interp, scope, branches, in_option

    def derive(self, **changes) -> "Context":
        values = {"scope": self.scope, "branches": self.branches, "in_option": self.in_option, **changes}
        return Context(self.interp, **values)

    def lookup(self, ref: ast.Ref) -> Any:
        return self.interp.lookup(ref, self)

    def render(self, template, shell: bool = False) -> str:
        return render(template, self.lookup, shell)

    def read_file(self, name: str, line: int) -> str:
        return self.interp.files.read(name, line)

    def file_exists(self, name: str, line: int) -> bool:
        return self.interp.files.exists(name, line)

    def set_var(self, name: str, value: Any) -> None:
        target = branch_name(name, self.branches[0]) if self.branches else name
        self.interp.state.set("vars", target, value)


class Interpreter:
    def __init__(self, *, state: State, workspace: Path, journal=None, sandbox=None,
                 reviewer=None, choose: str = "auto", model=None, tools=None,
                 display=None, verdict: str | None = None):
        self.state = state
        self.workspace = Path(workspace)
        self.files = Workspace(self.workspace)
        self.journal = journal              # a RunFolder, or None (journaling off)
        self.sandbox = sandbox              # callable returning the opened sandbox
        self.reviewer = reviewer            # also answers "choose" requests (--choose ask)
        self.choose_policy = choose
        self._model = model
        self.tools = registry_for(tools or {})
        self.display = display
        self.verdict = verdict              # --approve / --reject given to `tiss resume`
        self.budget = Budget(state)
        self.history = cost.load_history(self.workspace)
        self.observed: dict[str, list[float]] = {}
        self.interrupted = threading.Event()
        self.asking = threading.Lock()

    # --- the loop ----------------------------------------------------------

    def run_block(self, stmts, block_key: str, ctx: Context) -> None:
        ctx = self.enter_scope(stmts, ctx)
        progress = self.state.sections["progress"]
        for index in range(progress.get(block_key, 0), len(stmts)):
            stmt = stmts[index]
            key = f"{block_key}{index}"
            if self.interrupted.is_set():
                raise Interrupted("interrupted")
            self.budget.check_time(stmt.span.line)
            fields = self.execute(stmt, key, ctx)
            with self.state.lock:
                self.state.set("progress", block_key, index + 1)
                if type(stmt) in COMPOUND:
                    self.forget_inside(key)
                self.commit("done", checkpoint=type(stmt) in EFFECTFUL, key=key, line=stmt.span.line,
                            stmt=type(stmt).__name__, **(fields or {}))

    def execute(self, stmt, key: str, ctx: Context):
        """Run one statement; may return extra fields for its journal event."""
        return HANDLERS[type(stmt)](self, stmt, key, ctx)

    def commit(self, event: str, checkpoint: bool = False, **fields) -> None:
        """Journal what this thread changed since its last event."""
        with self.state.lock:
            delta = self.state.take_delta()
            journal = self.journal
            if journal is None:
                return
            if delta:
                fields["delta"] = delta
            journal.append(event, fields)
            journal.checkpoint(self.state, force=checkpoint)

    def forget_inside(self, key: str) -> None:
        """A finished compound statement: drop its inner progress/decisions."""
        prefix = key + "."
        self.state.delete_prefix("progress", prefix)
        self.state.delete_prefix("decisions", prefix)
        self.state.delete("decisions", key)

    def enter_scope(self, stmts, ctx: Context) -> Context:
        """Directives apply to their whole block (and what it nests)."""
        directives = [s for s in stmts if type(s) is ast.Directive]
        if not directives:
            return ctx
        scope = dict(ctx.scope)
        for directive in directives:
            value = evaluate(directive.value, ctx)
            if directive.name == "timeout":
                value = _duration(directive.value, ctx, "@timeout", directive.span.line)
            elif directive.name == "env":
                if not isinstance(value, dict):
                    raise RunError("@env needs an object, e.g. @env {DEBUG: \"1\"}", directive.span.line)
                value = {**scope.get("env", {}), **{k: str(v) for k, v in value.items()}}
            scope[directive.name] = value
        return ctx.derive(scope=scope)

    # --- state lookups -----------------------------------------------------

    def lookup(self, ref: ast.Ref, ctx: Context) -> Any:
        line = ref.span.line
        if ref.name == "BUDGET":
            if len(ref.fields) != 1:
                raise RunError("use BUDGET.KEY, e.g. BUDGET.RUN_COUNT", line)
            return self.budget.remaining(ref.fields[0], line)
        if ref.name == "ENV":
            raise RunError("ENV is not available: a plan cannot read the host's environment", line,
                           hint="pass values in with VAR, or to commands with @env {NAME: \"value\"}")
        value = self._variable(ref.name, ctx, line)
        for depth, field in enumerate(ref.fields):
            if isinstance(value, dict) and field in value:
                value = value[field]
            else:
                owner = ".".join((ref.name, *ref.fields[:depth]))
                known = ", ".join(value) if isinstance(value, dict) else "none: it is not a record"
                raise RunError(f"{owner} has no field {field!r} (fields: {known})", line)
        return value

    def _variable(self, name: str, ctx: Context, line: int) -> Any:
        variables = self.state.vars
        if name in PER_BRANCH:
            for branch in ctx.branches:
                scoped = f"{name}@{branch}"
                if scoped in variables:
                    return variables[scoped]
        if name in variables:
            return variables[name]
        if name in BUILT_IN:
            return BUILT_IN[name]
        hint = "set it first with VAR, READ … AS, RUN … AS or … INTO"
        if name == "LAST_ERROR":
            hint = "LAST_ERROR is set in a CATCH block (and between RETRY attempts)"
        raise RunError(f"variable {name!r} is not set", line, hint=hint)

    @property
    def model_given(self) -> bool:
        """Whether a model was handed to the run (else the configured one is loaded when needed)."""
        return self._model is not None

    @property
    def model(self):
        if self._model is None:
            self._model = load_default_backend()
        return self._model

    # --- commands ----------------------------------------------------------

    def do_run(self, stmt: ast.Run, key, ctx):
        line = stmt.span.line
        command = self.shell_command(stmt, ctx)
        timeout = _duration(stmt.timeout, ctx, "RUN TIMEOUT", line) if stmt.timeout else ctx.scope.get("timeout")
        time_left = self.budget.time_left()
        budget_bound = time_left is not None and (timeout is None or time_left < timeout)
        if budget_bound:
            timeout = time_left
        self.budget.charge("RUN_COUNT", 1, line)
        if self.display:
            self.display.command_started(key, command)
        try:
            result = self.sandbox().run(command, timeout=timeout, env=ctx.scope.get("env"),
                                        max_output=_size(ctx.scope.get("max_output"), line))
        except SandboxError as exc:
            raise Stop(f"the sandbox failed: {exc}", line, hint=exc.hint) from None
        if self.interrupted.is_set():
            raise Interrupted("interrupted while running a command", line)
        record = {"EXIT_CODE": result.exit_code, "STDOUT": result.stdout, "STDERR": result.stderr,
                  "DURATION": round(result.duration, 3), "TIMED_OUT": result.timed_out,
                  "STARTED_AT": result.started_at, "ENDED_AT": result.ended_at}
        ctx.set_var("LAST_RUN", record)
        if stmt.alias:
            ctx.set_var(stmt.alias, record)
        self.observed.setdefault(cost.command_key(stmt), []).append(record["DURATION"])
        if self.display:
            self.display.command_finished(key, record)
        if result.timed_out and budget_bound:
            self.budget.check_time(line)   # the budget, not the command, ran out
        return {"command": command, "exit_code": result.exit_code, "duration": record["DURATION"]}

    def shell_command(self, stmt: ast.Run, ctx) -> str:
        """The command line: a quoted string or a shell heredoc as it is
        (values shell-quoted), a PYTHON heredoc as ``python3 -c <body>``."""
        if isinstance(stmt.command, ast.Heredoc):
            runner = SCRIPT_RUNNERS.get(stmt.command.delimiter.upper())
            if runner:
                return f"{runner} {shlex.quote(ctx.render(stmt.command))}"
        return ctx.render(stmt.command, shell=True)

    def do_write(self, stmt, key, ctx, append: bool = False):
        name = ctx.render(stmt.path)
        text = ctx.render(stmt.content)
        self.files.write(name, text, stmt.span.line, append=append)
        return {"path": name, "bytes": len(text.encode("utf-8"))}

    def do_append(self, stmt, key, ctx):
        return self.do_write(stmt, key, ctx, append=True)

    def do_read(self, stmt: ast.Read, key, ctx):
        name = ctx.render(stmt.path)
        ctx.set_var(stmt.name, ctx.read_file(name, stmt.span.line))

    def do_assert(self, stmt: ast.Assert, key, ctx):
        if not truthy(evaluate(stmt.condition, ctx)):
            raise AssertionFailed(explain(stmt.condition, ctx), stmt.span.line)
        # The run report (runtime/report.py) shows what a passed ASSERT saw.
        return {"condition": describe(stmt.condition), "actual": observed(stmt.condition, ctx)}

    def do_var(self, stmt: ast.Var, key, ctx):
        ctx.set_var(stmt.name, evaluate(stmt.value, ctx))

    def do_log(self, stmt: ast.Log, key, ctx):
        message = ctx.render(stmt.message)
        if self.display:
            self.display.log(message)
        return {"message": message}

    def do_set_budget(self, stmt: ast.SetBudget, key, ctx):
        if stmt.key == "EXECUTION_TIME":
            value = _duration(stmt.value, ctx, "SET_BUDGET EXECUTION_TIME", stmt.span.line)
        else:
            value = evaluate(stmt.value, ctx)
        self.budget.set_limit(stmt.key, value, stmt.span.line)

    def do_prompt(self, stmt: ast.PromptAgent, key, ctx):
        if ctx.scope.get("tools") is not None:   # @tools: the ReAct loop (runtime/agent.py)
            from .agent import agent_prompt
            return agent_prompt(self, stmt, key, ctx)
        line = stmt.span.line
        prompt = ctx.render(stmt.prompt)
        model = self.model
        sources = None
        if ctx.scope.get("knowledge") is not None:   # @knowledge: passages before the prompt
            from .knowledge_prompt import ground
            prompt, sources = ground(prompt, self.workspace, ctx.scope["knowledge"], line, model)
        self.budget.charge("API_CALLS", 1, line)
        self.budget.ensure_left("TOKEN_COUNT", line)
        try:
            text = model.generate(prompt, system=ctx.scope.get("persona"))
        except Exception as exc:   # e.g. the model server went away
            raise RunError(f"the model failed: {type(exc).__name__}: {exc}", line) from None
        tokens = count_tokens(model, text)
        self.budget.charge("TOKEN_COUNT", tokens, line)
        self.observed.setdefault(cost.prompt_key(stmt), []).append(tokens)
        value: Any = text
        if ctx.scope.get("output") == "json":
            try:
                value = json.loads(text)
            except ValueError:
                raise RunError("the model's answer is not valid JSON, but @output is \"json\"", line,
                               hint=f"answer began: {text[:80]!r}") from None
        ctx.set_var("LAST_PROMPT", value)
        if stmt.into:
            ctx.set_var(stmt.into, value)
        return {"knowledge": sources} if sources is not None else None

    def do_call(self, stmt: ast.Call, key, ctx):
        """The tool from the run's registry (runtime/tool_context.py), its
        arguments validated against its schema; journaled with its source."""
        args = evaluate(stmt.args, ctx)
        result = call_tool(self, stmt.tool, args, key, stmt.span.line, ctx)
        ctx.set_var("LAST_CALL", result)
        if stmt.into:
            ctx.set_var(stmt.into, result)
        return {"tool": stmt.tool, "source": self.tools[stmt.tool].source}

    def do_review(self, stmt, key, ctx):
        kind = "review" if type(stmt) is ast.RequestReview else "pause"
        message = ctx.render(stmt.message)
        line = stmt.span.line
        was_paused = self.state.sections["decisions"].get(key) == "paused"
        if was_paused and self.verdict:
            answer = Answer(self.verdict, "given to tiss resume")
        elif was_paused and kind == "pause":
            answer = Answer("approve", "resumed")
        else:
            self.commit("review_asked", key=key, line=line, kind=kind, message=message)
            answer = self.ask(Request(kind, message, line, key=key))
        if answer.verdict == "pause":
            self.state.set("decisions", key, "paused")
            self.commit("review_answered", checkpoint=True, key=key, verdict="pause")
            raise Paused(message, line)
        ctx.set_var("LAST_REVIEW", {"VERDICT": answer.verdict, "COMMENT": answer.comment, "MESSAGE": message})
        if answer.verdict == "reject":
            raise Rejected(f"rejected in review: {message}" + (f" ({answer.comment})" if answer.comment else ""), line)
        return {"verdict": answer.verdict, "comment": answer.comment}

    def ask(self, request: Request) -> Answer:
        """Ask the reviewer, with the live display out of the way, one
        question at a time (PARALLEL branches may ask together)."""
        with self.asking:
            if self.display:
                self.display.pause_output()
            try:
                return self.reviewer(request)
            finally:
                if self.display:
                    self.display.resume_output()

    def do_nothing(self, stmt, key, ctx):
        """Directives act when their block is entered (see enter_scope)."""

    # --- structure -----------------------------------------------------------

    def do_task(self, stmt: ast.Task, key, ctx):
        if self.display:
            self.display.task(ctx.render(stmt.description))
        self.run_block(stmt.body, key + ".", ctx)

    def do_step(self, stmt, key, ctx, name: str | None = None):
        name = name or ctx.render(stmt.description)
        steps = self.state.sections["steps"]
        started = steps.get(key, {}).get("started") or time.time()
        self.state.set("steps", key, {"name": name, "status": "running", "started": started,
                                      "order": steps.get(key, {}).get("order", len(steps))})
        self.commit("step_started", key=key, name=name)
        if self.display:
            self.display.step_started(key, name)
        status, error = "interrupted", None     # unless it ends some other way
        try:
            self.run_block(stmt.body, key + ".", ctx)
            status = "succeeded"
        except RunError as exc:
            status, error = "failed", exc.report()
            raise
        except Stop as exc:
            status = exc.status
            raise
        finally:
            duration = round(time.time() - started, 3)
            record = {**self.state.sections["steps"][key], "status": status, "duration": duration}
            if error:
                record["error"] = error
            if status != "interrupted":
                self.state.set("steps", key, record)
                self.commit("step_done", key=key, name=name, status=status, duration=duration)
            if self.display:
                self.display.step_finished(key, name, status, duration, error)

    def do_setup(self, stmt: ast.Setup, key, ctx):
        name = "SETUP" + (f": {ctx.render(stmt.description)}" if stmt.description else "")
        try:
            self.do_step(stmt, key, ctx, name=name)
        except RunError as exc:
            exc.message = "setup failed: " + exc.message
            raise

    def do_if(self, stmt: ast.If, key, ctx):
        decisions = self.state.sections["decisions"]
        arm = decisions.get(key)
        if arm is None:
            arm = next((i for i, b in enumerate(stmt.branches) if truthy(evaluate(b.condition, ctx))), -1)
            self.state.set("decisions", key, arm)
        body = stmt.branches[arm].body if arm >= 0 else (stmt.orelse or ())
        self.run_block(body, f"{key}.{arm}.", ctx)
        return {"arm": arm}

    def do_try(self, stmt: ast.Try, key, ctx):
        if self.state.sections["decisions"].get(key) != "catch":
            try:
                self.run_block(stmt.body, f"{key}.t.", ctx)
                return {"caught": False}
            except RunError as exc:
                self.record_error(exc, ctx)
                self.state.delete_prefix("progress", f"{key}.t.")
                self.state.delete_prefix("decisions", f"{key}.t.")
                self.state.set("decisions", key, "catch")
                self.commit("caught", key=key, error=exc.report())
        self.run_block(stmt.catch, f"{key}.c.", ctx)
        return {"caught": True}

    def do_retry(self, stmt: ast.Retry, key, ctx):
        attempt = self.state.sections["decisions"].get(key, 1)
        while True:
            try:
                self.run_block(stmt.body, f"{key}.{attempt}.", ctx)
                return {"attempts": attempt}
            except RunError as exc:
                if attempt >= stmt.count:
                    exc.message = f"{exc.message} (RETRY gave up after {attempt} attempts)"
                    raise
                self.record_error(exc, ctx)
                self.state.delete_prefix("progress", f"{key}.{attempt}.")
                self.state.delete_prefix("decisions", f"{key}.{attempt}.")
                attempt += 1
                self.state.set("decisions", key, attempt)
                self.commit("retry", key=key, attempt=attempt, error=exc.report())
                if self.display:
                    self.display.note(f"retrying (attempt {attempt} of {stmt.count}): {exc.message}")

    def record_error(self, exc: RunError, ctx) -> None:
        ctx.set_var("LAST_ERROR", {"MESSAGE": exc.message, "KIND": exc.kind, "LINE": exc.line})

    def do_parallel(self, stmt: ast.Parallel, key, ctx):
        done = set(self.state.sections["decisions"].get(key, []))
        ctx = self.enter_scope(stmt.body, ctx)
        children = [(i, child) for i, child in enumerate(stmt.body)
                    if i not in done and type(child) is not ast.Directive]
        errors: dict[int, BaseException] = {}

        def branch(index: int, child) -> None:
            child_key = f"{key}.{index}"
            try:
                self.execute(child, child_key, ctx.derive(branches=(child_key, *ctx.branches)))
                with self.state.lock:
                    done.add(index)
                    self.state.set("decisions", key, sorted(done))
                    if type(child) in COMPOUND:
                        self.forget_inside(child_key)
                    self.commit("branch_done", key=child_key)
            except BaseException as exc:   # every child's failure is reported
                errors[index] = exc

        from concurrent.futures import FIRST_EXCEPTION, ThreadPoolExecutor, wait   # for PARALLEL only

        with ThreadPoolExecutor(max_workers=max(len(children), 1), thread_name_prefix="tiss-parallel") as pool:
            futures = [pool.submit(branch, i, child) for i, child in children]
            try:
                while wait(futures, timeout=0.1, return_when=FIRST_EXCEPTION).not_done:
                    pass
            except KeyboardInterrupt:
                self.interrupted.set()
                self.cancel()
                wait(futures)
                raise Interrupted("interrupted") from None
        self.merge_branches(stmt, key, ctx)
        self.raise_failures(errors, stmt.span.line)

    def merge_branches(self, stmt, key, ctx) -> None:
        """After the block, LAST_RUN & co. are those of the last child (in
        source order) that set them."""
        variables = self.state.vars
        for index in range(len(stmt.body)):
            child_key = f"{key}.{index}"
            for name in PER_BRANCH:
                scoped = f"{name}@{child_key}"
                if scoped in variables:
                    ctx.set_var(name, variables[scoped])
                    self.state.delete("vars", scoped)

    @staticmethod
    def raise_failures(errors: dict[int, BaseException], line: int) -> None:
        ordered = [errors[i] for i in sorted(errors)]
        for exc in ordered:
            if isinstance(exc, Stop):
                raise exc
        for exc in ordered:
            if not isinstance(exc, RunError):
                raise exc
        if ordered:
            raise ParallelFailed(ordered, line)

    def do_choose(self, stmt: ast.Choose, key, ctx):
        options = [(i, s) for i, s in enumerate(stmt.body) if type(s) is ast.Step]
        if not options:
            raise RunError("CHOOSE has no STEP or OPTION to choose from", stmt.span.line)
        decided = self.state.sections["decisions"].get(key)
        if decided is None:
            decided = self.pick_option(options, stmt.span.line, ctx)
            self.state.set("decisions", key, decided)
            self.commit("choice", key=key, **decided)
            if self.display:
                self.display.note(f"chose {decided['name']!r}: {decided['reason']}")
        index = decided["index"]
        self.execute(stmt.body[index], f"{key}.{index}", ctx.derive(in_option=True))
        return {"chosen": decided["name"]}

    def pick_option(self, options, line: int, ctx) -> dict:
        names = [ctx.render(step.description) for _, step in options]
        policy = self.choose_policy or "auto"
        costed = any(_contains_estimate(step.body) for _, step in options)
        if policy == "auto":
            policy = "cheapest" if costed else ("model" if self._model_available() else "first")
        if policy == "first":
            pick, reason = 0, "the first option (policy 'first'" + (
                "; no model is configured to choose)" if self.choose_policy in (None, "auto") else ")")
        elif policy == "cheapest":
            pick, reason = self.cheapest(options, names, line)
        elif policy == "model":
            model = self.model
            self.budget.charge("API_CALLS", 1, line)
            try:
                scores = model.score(names, f"Choose how to proceed. Options: {', '.join(names)}")
            except Exception as exc:
                raise RunError(f"the model failed to choose: {type(exc).__name__}: {exc}", line) from None
            pick = max(range(len(names)), key=lambda i: scores[i])
            reason = "the model's choice (scores " + ", ".join(f"{n}={s:.3g}" for n, s in zip(names, scores)) + ")"
        elif policy == "ask":
            answer = self.ask(Request("choose", "Which option should run?", line, tuple(names)))
            if answer.verdict == "reject":
                raise Rejected("rejected when asked to choose an option", line)
            if answer.verdict == "pause" or answer.choice is None:
                raise Paused("waiting for a choice", line)
            pick, reason = answer.choice, "chosen by a person (--choose ask)"
        else:
            raise RunError(f"unknown choose policy {policy!r}", line, hint="use model, cheapest, first or ask")
        return {"index": options[pick][0], "name": names[pick], "reason": reason}

    def cheapest(self, options, names, line):
        costs = [cost.estimate(step.body, self.history) for _, step in options]
        fitting = [i for i, c in enumerate(costs) if self.fits_budget(c)]
        if not fitting:
            raise RunError("no CHOOSE option fits the remaining budget: " +
                           "; ".join(f"{n}: {cost.summary(c)}" for n, c in zip(names, costs)), line)
        pick = min(fitting, key=lambda i: cost.sort_key(costs[i]))
        others = "; ".join(f"{names[i]}: {cost.summary(costs[i])}" for i in range(len(names)) if i != pick)
        return pick, f"cheapest estimate ({cost.summary(costs[pick])}" + (f"; vs {others})" if others else ")")

    def fits_budget(self, estimate: dict) -> bool:
        for key in ("RUN_COUNT", "API_CALLS", "TOKEN_COUNT", "EXECUTION_TIME"):
            limit = self.budget.limit(key)
            if limit is not None and self.budget.spent(key) + estimate[key] > limit:
                return False
        return True

    def _model_available(self) -> bool:
        try:
            return self.model is not None
        except RunError:
            return False

    def do_estimate(self, stmt: ast.EstimateCost, key, ctx):
        ctx.set_var("LAST_COST", cost.estimate(stmt.body, self.history))
        if ctx.in_option:   # inside a chosen CHOOSE option the estimated body runs
            self.run_block(stmt.body, key + ".", ctx)

    def cancel(self) -> None:
        """Stop every running command (Ctrl-C)."""
        self.interrupted.set()
        opened = getattr(self.sandbox, "opened", None)
        if opened is not None:
            opened.cancel_all()


def _contains_estimate(stmts) -> bool:
    return any(type(s) is ast.EstimateCost for s in stmts)


def _duration(expr: ast.Expr, ctx: Context, what: str, line: int) -> float:
    """Seconds for a duration in the plan: ``30s`` as written, or a string that
    reads as one once interpolated. The rule is ``parse_duration``'s, the
    checker's too, so a plan the checker would refuse never runs either."""
    if type(expr) is ast.Duration:
        seconds, text = expr.seconds, expr.text
    else:
        value = evaluate(expr, ctx)
        seconds = parse_duration(value) if isinstance(value, str) else None
        if seconds is None:
            raise RunError(f"{what} {value!r} is not a duration", line, hint=DURATION_HINT)
        text = value
    if seconds <= 0:
        raise RunError(f"{what} must be longer than zero, got {text}", line, hint=DURATION_HINT)
    return seconds


def _size(value, line: int) -> int | None:
    """@max_output "64KB" -> bytes."""
    if value is None or isinstance(value, int):
        return value
    match = re.fullmatch(r"\s*(\d+)\s*(B|KB|MB|GB)?\s*", str(value), re.IGNORECASE)
    if not match:
        raise RunError(f"@max_output {value!r} is not a size", line, hint='write e.g. "64KB" or "1MB"')
    return int(match.group(1)) * SIZE_UNITS[(match.group(2) or "B").upper()]


HANDLERS = {
    ast.Run: Interpreter.do_run, ast.Write: Interpreter.do_write, ast.Append: Interpreter.do_append,
    ast.Read: Interpreter.do_read, ast.Assert: Interpreter.do_assert, ast.Var: Interpreter.do_var,
    ast.Log: Interpreter.do_log, ast.SetBudget: Interpreter.do_set_budget,
    ast.PromptAgent: Interpreter.do_prompt, ast.Call: Interpreter.do_call,
    ast.RequestReview: Interpreter.do_review, ast.Pause: Interpreter.do_review,
    ast.Directive: Interpreter.do_nothing, ast.Task: Interpreter.do_task, ast.Step: Interpreter.do_step,
    ast.Setup: Interpreter.do_setup, ast.If: Interpreter.do_if, ast.Try: Interpreter.do_try,
    ast.Retry: Interpreter.do_retry, ast.Parallel: Interpreter.do_parallel,
    ast.Choose: Interpreter.do_choose, ast.EstimateCost: Interpreter.do_estimate,
}

# Statements with inner blocks, whose bookkeeping is dropped once they finish.
COMPOUND = {ast.Task, ast.Step, ast.Setup, ast.If, ast.Try, ast.Retry, ast.Parallel,
            ast.Choose, ast.EstimateCost}

# Statements with effects outside the state: the checkpoint is rewritten right
# after them (for the others the journal's delta is enough, see journal.py).
EFFECTFUL = {ast.Run, ast.Write, ast.Append, ast.PromptAgent, ast.Call, ast.Step, ast.Setup,
             ast.RequestReview, ast.Pause}
