"""The static checker: what the grammar cannot see (docs/reference.md §3–§7).

``check(program)`` walks the AST once and returns diagnostics, sorted by
position. The rules:

- a variable used but never set on any path is an error; one set on some paths
  but not all is a warning whose hint names the construct that made it
  uncertain; reading what another PARALLEL branch sets is a warning (a race).
  The analysis follows control flow through IF/ELSE, TRY/CATCH, RETRY,
  PARALLEL, CHOOSE and ESTIMATE_COST (which never executes its body, so it
  sets nothing);
- ``LAST_RUN``, ``LAST_PROMPT``, ``LAST_REVIEW``, ``LAST_COST`` and ``BUDGET``
  are always defined. The others follow the flow like variables, set where the
  runtime sets them: ``LAST_ERROR`` on entering CATCH and between RETRY
  attempts (so it is certain inside CATCH, uncertain in a RETRY body or after a
  TRY, and an error anywhere else), ``LAST_CALL`` by every CALL. Built-ins
  cannot be assigned;
- the fields read from ``LAST_RUN``, ``LAST_ERROR``, ``LAST_REVIEW`` and
  ``BUDGET`` must exist;
- constant WRITE/APPEND/READ/FILE paths stay inside the workspace;
- SET_BUDGET keys and values, durations, directive names and values,
  MATCHES regexes, CHOOSE with fewer than two options, RETRY below 1, two
  PARALLEL children writing the same variable;
- CALL of an unknown tool, when the caller passes the registered tool names.

How definite assignment is tracked: a ``_Flow`` holds the names set since it
was opened (``definite``: on every path; ``maybe``: on some path) and points to
its parent. Branches open child flows and the parent absorbs their merge
(intersection for ``definite``, union for ``maybe``), so the work per branch is
proportional to what the branch sets, never to everything set before it; the
whole check is linear in the size of the plan (times the nesting depth).
"""

from __future__ import annotations

import heapq
import re
from collections import Counter
from collections.abc import Collection, Iterable, Mapping
from dataclasses import dataclass, field, replace
from typing import Union

from . import ast as A
from .errors import Diagnostic
from .hints import did_you_mean
from .keywords import BUDGET_KEYS, DURATION_BUDGET
from .paths import KNOWLEDGE_NAME, KNOWLEDGE_NAME_HINT, path_problem
from .parser import parse_duration

ALWAYS_DEFINED = frozenset({"LAST_RUN", "LAST_PROMPT", "LAST_REVIEW", "LAST_COST", "BUDGET"})
LAST_ERROR, LAST_CALL = "LAST_ERROR", "LAST_CALL"
BUILTINS = ALWAYS_DEFINED | {LAST_ERROR, LAST_CALL}

RUN_FIELDS = ("EXIT_CODE", "STDOUT", "STDERR", "DURATION", "TIMED_OUT")
# The fields the runtime gives its records (runtime/interpreter.py).
BUILTIN_FIELDS = {
    "LAST_RUN": RUN_FIELDS,
    "BUDGET": BUDGET_KEYS,
    "LAST_ERROR": ("MESSAGE", "KIND", "LINE"),
    "LAST_REVIEW": ("VERDICT", "COMMENT", "MESSAGE"),
}
KNOWN_DIRECTIVES = ("persona", "output", "language", "timeout", "image", "env",
                    "max_output", "network", "knowledge", "tools")

# How many name comparisons did-you-mean hints may cost in one check
# (see suggest_variable).
SUGGESTION_BUDGET = 20_000
MAX_CANDIDATES = 200  # full edit distances per suggestion

# What the runtime reads as a size: bytes, or a whole number with a unit.
SIZE_TEXT = re.compile(r"\s*\d+\s*(B|KB|MB|GB)?\s*", re.IGNORECASE)


def check(program: A.Program, *, source: str | None = None,
          tools: Collection[str] | None = None) -> list[Diagnostic]:
    """Return every problem found in ``program``, sorted by position.

    ``source`` (optional) fills each diagnostic's source line for the caret
    display. ``tools`` (optional) is the set of registered tool names; when
    given, a CALL of any other name is an error. When ``tools`` maps names to
    objects with ``check_arguments(dict)`` (the registry's Tools: passed in,
    as tisslang imports nothing of the tools layer), a CALL whose arguments
    are all constants is checked against the tool's schema too.
    """
    checker = _Checker(program.path, tools)
    checker.check_program(program)
    found = sorted(checker.diagnostics, key=lambda d: (d.line, d.col))
    if source is not None:
        lines = re.split(r"\r\n|\r|\n", source)
        found = [replace(d, source_line=lines[d.line - 1])
                 if 0 < d.line <= len(lines) else d for d in found]
    return found


# --- Flow state ----------------------------------------------------------------


@dataclass
class _Flow:
    """Names set since this flow opened; lookups walk up to the parent.

    ``why`` says, for a name that is only maybe set, which construct made it
    uncertain (for the hint). ``racing`` maps names written by the children of
    an enclosing PARALLEL to the child that writes them; ``lane`` is which
    child this flow belongs to. A name another lane writes may or may not be
    set yet when this lane reads it.
    """

    parent: Union["_Flow", None] = None
    definite: set[str] = field(default_factory=set)
    maybe: set[str] = field(default_factory=set)
    why: dict[str, str] = field(default_factory=dict)
    racing: dict[str, int] | None = None
    lane: int = -1

    def child(self) -> "_Flow":
        return _Flow(parent=self)

    def set(self, name: str) -> None:
        self.definite.add(name)
        self.maybe.add(name)

    def maybe_set(self, names: Iterable[str], why: str) -> None:
        for name in names:
            self.maybe.add(name)
            self.why.setdefault(name, why)

    def status(self, name: str) -> tuple[str, str | None]:
        """('definite' | 'maybe' | 'racing' | 'never', why): 'racing' when
        only another PARALLEL branch sets it; ``why`` for 'maybe'."""
        found, why = "never", None
        flow: _Flow | None = self
        while flow is not None:
            if name in flow.definite:
                return "definite", None
            if name in flow.maybe and found != "maybe":
                found, why = "maybe", flow.why.get(name)
            elif (found == "never" and flow.racing is not None
                  and flow.racing.get(name, flow.lane) != flow.lane):
                found = "racing"
            flow = flow.parent
        return found, why

    def known_names(self) -> set[str]:
        names: set[str] = set()
        flow: _Flow | None = self
        while flow is not None:
            names |= flow.maybe
            flow = flow.parent
        return names

    def absorb(self, branches: list["_Flow"], *, exhaustive: bool, why: str) -> None:
        """Merge alternative branches, exactly one of which ran. When they do not
        cover every path (an IF without ELSE), nothing is definitely set."""
        everywhere: set[str] = set()
        if exhaustive and branches:
            everywhere = set.intersection(*(b.definite for b in branches))
            self.definite |= everywhere
        for branch in branches:
            for name in branch.maybe - everywhere:
                # Uncertain inside the branch already: keep that reason.
                inner = None if name in branch.definite else branch.why.get(name)
                self.why.setdefault(name, inner or why)
            self.maybe |= branch.maybe

    def absorb_all(self, branches: list["_Flow"]) -> None:
        """Merge branches that all ran to completion (PARALLEL)."""
        for branch in branches:
            self.definite |= branch.definite
            self.maybe |= branch.maybe
            for name, why in branch.why.items():
                if name not in branch.definite:
                    self.why.setdefault(name, why)


# --- Which names a piece of plan can set (syntactic) ----------------------------


def _assigned_name(stmt: A.Node) -> str | None:
    if isinstance(stmt, (A.Var, A.Read)):
        return stmt.name
    if isinstance(stmt, A.Run):
        return stmt.alias
    if isinstance(stmt, (A.PromptAgent, A.Call)):
        return stmt.into
    return None


def _assignments(stmts: Iterable[A.Stmt]) -> dict[str, A.Node]:
    """Every name the statements may set (LAST_CALL included), with the first
    statement setting it. ESTIMATE_COST bodies never run, so they set nothing."""
    found: dict[str, A.Node] = {}
    stack = list(reversed(list(stmts)))
    while stack:
        stmt = stack.pop()
        name = _assigned_name(stmt)
        if name is not None:
            found.setdefault(name, stmt)
        if isinstance(stmt, A.Call):
            found.setdefault(LAST_CALL, stmt)
        if isinstance(stmt, A.EstimateCost):
            continue
        for body in reversed(A.blocks(stmt)):
            stack.extend(reversed(body))
    return found


# --- The checker ------------------------------------------------------------------


class _Checker:
    def __init__(self, path: str, tools: Collection[str] | None):
        self.path = path
        self.tools = tools
        self.diagnostics: list[Diagnostic] = []
        self.set_anywhere: set[str] = set()
        self.suggestion_budget = SUGGESTION_BUDGET

    def report(self, span: A.Span, message: str, hint: str | None = None,
               severity: str = "error") -> None:
        self.diagnostics.append(Diagnostic(self.path, span.line, span.col, message,
                                           severity=severity, hint=hint))

    # Structure

    def check_program(self, program: A.Program) -> None:
        self.set_anywhere = set(_assignments(program.body))
        self.check_block(program.body, _Flow())

    def check_block(self, stmts: Iterable[A.Stmt], flow: _Flow) -> None:
        for stmt in stmts:
            self.check_stmt(stmt, flow)

    def check_stmt(self, stmt: A.Stmt, flow: _Flow) -> None:
        CHECKS[type(stmt)](self, stmt, flow)

    def stmt_Task(self, stmt: A.Task, flow: _Flow) -> None:
        self.use_template(stmt.description, flow, stmt.span)
        self.check_block(stmt.body, flow)

    def stmt_Step(self, stmt: A.Step, flow: _Flow) -> None:
        self.use_template(stmt.description, flow, stmt.span)
        self.check_block(stmt.body, flow)

    def stmt_Setup(self, stmt: A.Setup, flow: _Flow) -> None:
        if stmt.description is not None:
            self.use_template(stmt.description, flow, stmt.span)
        self.check_block(stmt.body, flow)

    # Control flow

    def stmt_If(self, stmt: A.If, flow: _Flow) -> None:
        arms = []
        for branch in stmt.branches:
            self.use_expr(branch.condition, flow, branch.span)
            arm = flow.child()
            self.check_block(branch.body, arm)
            arms.append(arm)
        if stmt.orelse is not None:
            arm = flow.child()
            self.check_block(stmt.orelse, arm)
            arms.append(arm)
        flow.absorb(arms, exhaustive=stmt.orelse is not None,
                    why=f"not every branch of the IF on line {stmt.span.line} sets it")

    def stmt_Try(self, stmt: A.Try, flow: _Flow) -> None:
        attempt = flow.child()
        self.check_block(stmt.body, attempt)
        # The failure may come after any statement of TRY, so in CATCH every
        # name TRY sets is "maybe", none is definite.
        handler = flow.child()
        handler.maybe_set(attempt.maybe, f"the TRY on line {stmt.span.line} may fail before "
                                         "setting it")
        handler.set(LAST_ERROR)
        self.check_block(stmt.catch, handler)
        flow.absorb([attempt, handler], exhaustive=True,
                    why=f"the TRY and the CATCH on line {stmt.span.line} do not both set it")

    def stmt_Retry(self, stmt: A.Retry, flow: _Flow) -> None:
        if stmt.count < 1:
            self.report(stmt.span, f"RETRY needs at least 1 attempt, got {stmt.count}",
                        hint="write RETRY 3 { … } to run the body up to three times")
        body = flow.child()
        # From the second attempt on, whatever an earlier attempt set may be set.
        body.maybe_set([*_assignments(stmt.body), LAST_ERROR],
                       f"only an earlier attempt of the RETRY on line {stmt.span.line} sets it")
        self.check_block(stmt.body, body)
        # Going on after RETRY means one attempt ran the whole body.
        flow.absorb_all([body])

    def stmt_Parallel(self, stmt: A.Parallel, flow: _Flow) -> None:
        owners: dict[str, int] = {}
        for lane, child in enumerate(stmt.body):
            for name, setter in _assignments([child]).items():
                if name in BUILTINS:  # the runtime keeps LAST_* per branch
                    continue
                if name in owners and owners[name] != lane:
                    self.report(setter.span,
                                f"two PARALLEL branches set the variable '{name}'",
                                hint="give each branch its own variable name; the order "
                                     "in which parallel branches finish is not fixed")
                else:
                    owners.setdefault(name, lane)
        lanes = []
        for lane, child in enumerate(stmt.body):
            lane_flow = flow.child()
            lane_flow.racing, lane_flow.lane = owners, lane
            self.check_stmt(child, lane_flow)
            lanes.append(lane_flow)
        flow.absorb_all(lanes)

    def stmt_Choose(self, stmt: A.Choose, flow: _Flow) -> None:
        options = [s for s in stmt.body if isinstance(s, A.Step)]
        if len(options) < 2:
            self.report(stmt.span,
                        f"CHOOSE needs at least two options, found {len(options)}",
                        hint='add another STEP "…" { … } (or OPTION) inside CHOOSE, '
                             "or drop CHOOSE and run the step directly")
        arms = []
        for child in stmt.body:
            if isinstance(child, A.Step):
                arm = flow.child()
                self.check_stmt(child, arm)
                arms.append(arm)
            else:
                self.check_stmt(child, flow)
        flow.absorb(arms, exhaustive=True,
                    why=f"not every option of the CHOOSE on line {stmt.span.line} sets it")

    def stmt_EstimateCost(self, stmt: A.EstimateCost, flow: _Flow) -> None:
        # Costed, never executed: check the body, keep none of what it sets.
        self.check_block(stmt.body, flow.child())

    # Commands

    def stmt_Run(self, stmt: A.Run, flow: _Flow) -> None:
        self.use_text(stmt.command, flow, stmt.span)
        if stmt.timeout is not None:
            self.check_duration(stmt.timeout, "RUN TIMEOUT", stmt.span)
        self.assign(stmt.alias, flow, stmt.span)

    def stmt_Write(self, stmt: A.Write, flow: _Flow) -> None:
        self.use_path(stmt.path, flow, stmt.span)
        self.use_text(stmt.content, flow, stmt.span)

    stmt_Append = stmt_Write

    def stmt_Read(self, stmt: A.Read, flow: _Flow) -> None:
        self.use_path(stmt.path, flow, stmt.span)
        self.assign(stmt.name, flow, stmt.span)

    def stmt_Assert(self, stmt: A.Assert, flow: _Flow) -> None:
        self.use_expr(stmt.condition, flow, stmt.span)

    def stmt_PromptAgent(self, stmt: A.PromptAgent, flow: _Flow) -> None:
        self.use_text(stmt.prompt, flow, stmt.span)
        self.assign(stmt.into, flow, stmt.span)

    def stmt_Call(self, stmt: A.Call, flow: _Flow) -> None:
        if self.tools is not None and stmt.tool not in self.tools:
            guess = did_you_mean(stmt.tool, self.tools)
            self.report(stmt.span, f"unknown tool '{stmt.tool}'",
                        hint=f"did you mean {guess}?" if guess else _known_tools(self.tools))
        elif isinstance(self.tools, Mapping):
            self.check_tool_arguments(stmt)
        self.use_expr(stmt.args, flow, stmt.span)
        flow.set(LAST_CALL)
        self.assign(stmt.into, flow, stmt.span)

    def check_tool_arguments(self, stmt: A.Call) -> None:
        checker = getattr(self.tools[stmt.tool], "check_arguments", None)
        arguments = _constant(stmt.args)
        if checker is None or arguments is _NOT_CONSTANT:
            return
        try:
            checker(arguments)
        except Exception as exc:   # the tool's own message: argument, expected, got
            self.report(stmt.span, str(exc), hint=getattr(exc, "hint", None))

    def stmt_Var(self, stmt: A.Var, flow: _Flow) -> None:
        self.use_expr(stmt.value, flow, stmt.span)
        self.assign(stmt.name, flow, stmt.span)

    def stmt_Log(self, stmt: A.Log, flow: _Flow) -> None:
        self.use_template(stmt.message, flow, stmt.span)

    stmt_RequestReview = stmt_Log
    stmt_Pause = stmt_Log

    def stmt_SetBudget(self, stmt: A.SetBudget, flow: _Flow) -> None:
        self.use_expr(stmt.value, flow, stmt.span)
        if stmt.key not in BUDGET_KEYS:
            guess = did_you_mean(stmt.key, BUDGET_KEYS)
            hint = f"did you mean {guess}?" if guess else "known keys: " + ", ".join(BUDGET_KEYS)
            self.report(stmt.span, f"unknown SET_BUDGET key '{stmt.key}'", hint=hint)
        elif stmt.key == DURATION_BUDGET:
            self.check_duration(stmt.value, f"SET_BUDGET {DURATION_BUDGET}", stmt.span)
        else:
            value = stmt.value
            if not (isinstance(value, A.Literal) and type(value.value) is int and value.value > 0):
                self.report(_at(value, stmt.span),
                            f"SET_BUDGET {stmt.key} needs a positive whole number",
                            hint=f"for example: SET_BUDGET {stmt.key} = 10")

    def stmt_Directive(self, stmt: A.Directive, flow: _Flow) -> None:
        self.use_expr(stmt.value, flow, stmt.span)
        if stmt.name not in KNOWN_DIRECTIVES:
            guess = did_you_mean(stmt.name, KNOWN_DIRECTIVES)
            self.report(stmt.span, f"unknown directive '@{stmt.name}' (it has no effect)",
                        hint=f"did you mean @{guess}?" if guess
                        else "known directives: " + ", ".join("@" + d for d in KNOWN_DIRECTIVES),
                        severity="warning")
            return
        self.check_directive_value(stmt)

    def check_directive_value(self, stmt: A.Directive) -> None:
        value, where = stmt.value, _at(stmt.value, stmt.span)
        text = _constant_text(value)
        if stmt.name == "timeout":
            self.check_duration(value, "@timeout", stmt.span)
        elif stmt.name == "env":
            if not isinstance(value, A.ObjectExpr):
                self.report(where, "@env needs an object of variables",
                            hint='for example: @env {PYTHONHASHSEED: "0"}')
        elif stmt.name == "output" and text is not None and text not in ("json", "text"):
            self.report(where, f'@output must be "json" or "text", not "{text}"')
        elif stmt.name == "network" and text is not None and text not in ("on", "off"):
            self.report(where, f'@network must be "on" or "off", not "{text}"')
        elif stmt.name == "max_output" and text is not None and not SIZE_TEXT.fullmatch(text):
            self.report(where, f'invalid size "{text}" for @max_output',
                        hint='write a whole number and a unit B, KB, MB or GB, e.g. "64KB"')
        elif stmt.name == "max_output" and isinstance(value, A.Literal):
            if not (type(value.value) is int and value.value > 0):
                self.report(where, "@max_output needs a size such as \"64KB\" or a number of bytes")
        elif stmt.name == "knowledge" and text is not None and not KNOWLEDGE_NAME.fullmatch(text):
            self.report(where, f'invalid knowledge base name "{text}" for @knowledge', hint=KNOWLEDGE_NAME_HINT)
        elif stmt.name == "tools" and text is not None:
            self.check_tool_names(text, where)
        elif stmt.name in ("persona", "language", "image", "output", "network", "max_output", "knowledge",
                           "tools") \
                and not isinstance(value, A.Template):
            self.report(where, f"@{stmt.name} needs a quoted string")

    def check_tool_names(self, text: str, where: A.Span) -> None:
        """@tools "a, b" (the agent loop's tools): each a registered tool."""
        names = [n.strip() for n in text.split(",") if n.strip()]
        if not names:
            self.report(where, "@tools names no tool", hint='for example: @tools "read_file, write_file"')
        for name in names if self.tools is not None else ():
            if name not in self.tools:
                guess = did_you_mean(name, self.tools)
                self.report(where, f"unknown tool '{name}' in @tools",
                            hint=f"did you mean {guess}?" if guess else _known_tools(self.tools))

    def check_duration(self, value: A.Expr, what: str, span: A.Span) -> None:
        where = _at(value, span)
        hint = "write a number followed by ms, s, m or h, for example 30s or 5m"
        if isinstance(value, A.Duration):
            if value.seconds <= 0:
                self.report(where, f"{what} must be longer than zero, got {value.text}", hint=hint)
            return
        if isinstance(value, A.Literal) and type(value.value) in (int, float):
            self.report(where, f"invalid duration {value.value} for {what}: it has no unit",
                        hint=f"write {value.value}s for seconds or {value.value}m for minutes")
            return
        text = _constant_text(value)
        if text is None:
            if not isinstance(value, A.Template):  # an interpolated string is checked at run time
                self.report(where, f"{what} needs a duration", hint=hint)
            return
        seconds = parse_duration(text)
        if seconds is None:
            self.report(where, f'invalid duration "{text}" for {what}', hint=hint)
        elif seconds <= 0:
            self.report(where, f"{what} must be longer than zero, got {text}", hint=hint)

    # Variables

    def assign(self, name: str | None, flow: _Flow, span: A.Span) -> None:
        if name is None:
            return
        if name in BUILTINS:
            self.report(span, f"'{name}' is built in and cannot be set",
                        hint="choose another name for your variable")
            return
        flow.set(name)

    def use_ref(self, ref: A.Ref, flow: _Flow, span: A.Span) -> None:
        where = _at(ref, span)
        name = ref.name
        if name == LAST_ERROR:
            self.use_last_error(flow.status(name)[0], where)
            self.check_builtin_field(ref, where)
            return
        if name in ALWAYS_DEFINED:
            self.check_builtin_field(ref, where)
            return
        status, why = flow.status(name)
        if status == "definite":
            return
        if status == "maybe":
            self.report(where, f"variable '{name}' may not be set on every path to here",
                        hint=f"{why}; set {name} before it, or on every path" if why
                        else f"set {name} before this point on every path",
                        severity="warning")
            return
        if status == "racing":
            self.report(where, f"variable '{name}' is set by another PARALLEL branch, "
                               "which may not have run yet",
                        hint=f"read {name} after the PARALLEL block, or set it in this branch",
                        severity="warning")
            return
        guess = self.suggest_variable(name, flow)
        if name in self.set_anywhere:
            message = f"variable '{name}' is used before it is set"
        else:
            message = f"variable '{name}' is never set"
        hint = (f"did you mean {guess}?" if guess else
                f"set it first: VAR {name} = …, RUN … AS {name}, READ … AS {name} or … INTO {name}")
        self.report(where, message, hint=hint)

    def suggest_variable(self, name: str, flow: _Flow) -> str | None:
        """A known name close to ``name``. Each suggestion compares ``name`` with
        every known name, so the whole check shares a budget of comparisons:
        a plan with thousands of unknown and known names still checks in
        linear time (its later findings just go without a suggestion)."""
        if self.suggestion_budget <= 0:
            return None
        known = flow.known_names() | ALWAYS_DEFINED
        self.suggestion_budget -= len(known)
        reach = max(1, len(name) // 3)  # did_you_mean's own cut-off
        letters = Counter(name.upper())

        def fewest_edits(other: str) -> int:
            """A cheap lower bound of the edit distance: the letters the longer
            name has that the other lacks."""
            common = sum((Counter(other.upper()) & letters).values())
            return max(len(other), len(name)) - common

        bounds = ((fewest_edits(other), other) for other in known
                  if abs(len(other) - len(name)) <= reach)
        closest = heapq.nsmallest(MAX_CANDIDATES, (b for b in bounds if b[0] <= reach))
        return did_you_mean(name, sorted(other for _, other in closest))

    def use_last_error(self, status: str, where: A.Span) -> None:
        hint = "read LAST_ERROR in TRY { … } CATCH { … here … }"
        if status == "never":
            self.report(where, "LAST_ERROR is only set inside CATCH (and between RETRY attempts)",
                        hint=hint)
        elif status == "maybe":
            self.report(where, "LAST_ERROR may not be set here: only a failure sets it "
                               "(in CATCH, or before a RETRY attempt after the first)",
                        hint=hint, severity="warning")

    def check_builtin_field(self, ref: A.Ref, where: A.Span) -> None:
        known = BUILTIN_FIELDS.get(ref.name)
        if known is None or not ref.fields:
            return
        field_name = ref.fields[0]
        if field_name not in known:
            guess = did_you_mean(field_name, known)
            self.report(where, f"{ref.name} has no field '{field_name}'",
                        hint=f"did you mean {ref.name}.{guess}?" if guess
                        else "fields: " + ", ".join(known))

    def use_template(self, template: A.Template, flow: _Flow, span: A.Span) -> None:
        for part in template.parts:
            if isinstance(part, A.Interpolation):
                self.use_ref(part.ref, flow, _at(part, span))

    def use_text(self, text: Union[A.Template, A.Heredoc], flow: _Flow, span: A.Span) -> None:
        if isinstance(text, A.Heredoc):
            text = text.body
        self.use_template(text, flow, span)

    def use_expr(self, expr: A.Expr, flow: _Flow, span: A.Span) -> None:
        """Check every variable an expression reads (iteratively: deep nesting is fine)."""
        stack: list[A.Node] = [expr]
        while stack:
            node = stack.pop()
            if isinstance(node, A.Ref):
                self.use_ref(node, flow, span)
            elif isinstance(node, A.Template):
                self.use_template(node, flow, span)
            elif isinstance(node, A.FileRef):
                self.use_path(node.path, flow, _at(node, span))
            elif isinstance(node, A.Compare):
                if node.op == "MATCHES":
                    self.check_regex(node.right, _at(node, span))
                stack += [node.right, node.left]
            elif isinstance(node, A.Logical):
                stack += [node.right, node.left]
            elif isinstance(node, (A.Not, A.Predicate)):
                stack.append(node.operand)
            elif isinstance(node, A.ListExpr):
                stack += reversed(node.items)
            elif isinstance(node, A.ObjectExpr):
                stack += reversed([value for _, value in node.entries])

    def use_path(self, path: A.Template, flow: _Flow, span: A.Span) -> None:
        """A WRITE/APPEND/READ/FILE path: its variables, and (when it is
        constant) that it stays inside the workspace, as the runtime demands."""
        self.use_template(path, flow, span)
        text = _constant_text(path)
        if text is None:
            return
        problem = path_problem(text)
        if problem:
            message, hint = problem
            self.report(_at(path, span), message, hint=hint)

    def check_regex(self, pattern: A.Expr, span: A.Span) -> None:
        text = _constant_text(pattern)
        if text is None:
            return
        try:
            re.compile(text)
        except re.error as exc:
            self.report(_at(pattern, span), f"MATCHES pattern does not compile: {exc}",
                        hint="MATCHES uses Python regular expressions; escape special "
                             "characters such as ( [ + * ? with a backslash")


# One entry per statement kind, as the interpreter's HANDLERS and cost.ESTIMATES.
CHECKS = {kind: getattr(_Checker, "stmt_" + kind.__name__) for kind in A.STATEMENTS}


_NOT_CONSTANT = object()


def _constant(expr):
    """The value of an expression made only of literals, or _NOT_CONSTANT."""
    if isinstance(expr, A.Literal):
        return expr.value
    if isinstance(expr, A.Template):
        parts = [p.value for p in expr.parts if isinstance(p, A.Text)]
        return "".join(parts) if len(parts) == len(expr.parts) else _NOT_CONSTANT
    if isinstance(expr, A.ListExpr):
        items = [_constant(item) for item in expr.items]
        return _NOT_CONSTANT if any(i is _NOT_CONSTANT for i in items) else items
    if isinstance(expr, A.ObjectExpr):
        entries = {key: _constant(value) for key, value in expr.entries}
        return _NOT_CONSTANT if any(v is _NOT_CONSTANT for v in entries.values()) else entries
    return _NOT_CONSTANT


def _known_tools(tools: Collection[str], shown: int = 10) -> str:
    """The hint for an unknown tool: the names that are registered."""
    if not tools:
        return "no tools are registered"
    names = sorted(tools)
    more = f" and {len(names) - shown} more" if len(names) > shown else ""
    return "registered tools: " + ", ".join(names[:shown]) + more


def _constant_text(value: A.Expr) -> str | None:
    """The text of a string without interpolation, else None."""
    if isinstance(value, A.Template) and all(isinstance(p, A.Text) for p in value.parts):
        return "".join(p.value for p in value.parts)
    return None


def _at(node: A.Node, fallback: A.Span) -> A.Span:
    """A node's own position when the parser recorded one, else the statement's."""
    return node.span if node.span.line > 0 else fallback
