"""TissLang source → ``tisslang.ast.Program``.

The pipeline, in the order it runs:

1. ``heredoc.prescan`` normalises newlines, reads the ``#TISS!`` header and
   cuts out heredoc bodies (not context-free, so not the grammar's job).
2. Lark's LALR parser with the contextual lexer runs ``grammar.lark`` and
   calls ``_Builder`` on every reduction, so AST nodes are built directly,
   with no intermediate parse tree. For speed, ``parse`` runs those same
   tables in a tight loop (``fastpath``); Lark's own driver stays the
   reference (``parse(..., fast=False)``), and tests check the two agree.
3. ``_Structure`` walks the finished tree for the rules a context-free grammar
   cannot state well: one TASK, SETUP before the first STEP, no STEP directly
   inside a STEP, OPTION only in CHOOSE.

Syntax errors become ``Diagnostic``s (tisslang/hints.py words them). To report
more than the first one, the parser blanks the offending line (keeping the
file's brackets balanced) and parses again, up to ``MAX_ERRORS`` times
(fewer on very large files, see ``RECOVERY_LINE_BUDGET``).
"""

from __future__ import annotations

import gc
import re
import threading
from dataclasses import replace
from pathlib import Path

from lark import Lark, Transformer
from lark.exceptions import UnexpectedCharacters, UnexpectedInput
from lark.lexer import Token

from . import hints, keywords
from .ast import (
    Append, Assert, Branch, Call, Choose, Comment, Directive, Duration,
    EstimateCost, FileRef, Heredoc, If, ListExpr, Literal, Log, Logical, Not,
    ObjectExpr, Parallel, Pause, Predicate, Program, PromptAgent, Read, Ref,
    RequestReview, Retry, Run, SetBudget, Setup, Span, Step, Task, Template,
    Text, Try, Var, Write, Compare, opening_word,
)
from .errors import Diagnostic, TissSyntaxError
from .depth import too_deep_expression
from .fastpath import MAX_NESTING, FastParser, FastPathFailed, NestingTooDeep
from .heredoc import Prescanned, prescan
from .interpolation import TemplateError, line_parts, merge_text, string_parts

MAX_ERRORS = 20
# Each recovery parses the whole file again; on a huge file, report fewer
# errors rather than keep the user waiting (lines parsed in total, at most).
RECOVERY_LINE_BUDGET = 400_000

_DURATION = re.compile(r"([0-9]+(?:\.[0-9]+)?)(ms|s|m|h)\Z")
_UNIT_SECONDS = {"ms": 0.001, "s": 1.0, "m": 60.0, "h": 3600.0}

# Names the language reserves; using one as a variable is an error.
_RESERVED = keywords.RESERVED


def parse_duration(text: str) -> float | None:
    """Seconds for ``500ms``/``30s``/``5m``/``2h``, None if ``text`` is not one."""
    match = _DURATION.match(text)
    if not match:
        return None
    return float(match.group(1)) * _UNIT_SECONDS[match.group(2)]


# --- span helpers --------------------------------------------------------------


def _span(first, last) -> Span:
    """From the start of ``first`` to the end of ``last`` (tokens or nodes)."""
    if first.__class__ is Token:
        line, col = first.line, first.column
    else:
        line, col = first.span.line, first.span.col
    if last.__class__ is Token:
        return Span(line, col, last.end_line, last.end_column)
    end = last.span
    return Span(line, col, end.end_line, end.end_col)


def _start(item) -> tuple[int, int]:
    if item.__class__ is Token:
        return item.line, item.column
    return item.span.line, item.span.col


def _end(item) -> tuple[int, int]:
    if item.__class__ is Token:
        return item.end_line, item.end_column
    return item.span.end_line, item.span.end_col


# --- the per-parse state the builder writes into -----------------------------------


class _Context:
    def __init__(self, pre: Prescanned, path: str, recovered_lines: set[int]):
        self.pre = pre
        self.path = path
        self.recovered_lines = recovered_lines
        self.diagnostics: list[Diagnostic] = []
        self.comments: list[Comment] = []

    def error(self, line: int, col: int, message: str, hint: str | None = None):
        source_line = self.pre.lines[line - 1] if 0 < line <= len(self.pre.lines) else None
        self.diagnostics.append(Diagnostic(self.path, line, col, message, hint=hint,
                                           source_line=source_line))


# Placeholders the grammar produces and the statement list resolves.


class _Block:
    """``{ … }``: its statements and the two brace tokens (for spans)."""

    __slots__ = ("body", "open", "close")

    def __init__(self, body, open_, close):
        self.body, self.open, self.close = body, open_, close


class _Else:
    """``ELSE [IF cond] { … }``, waiting to join the IF before it."""

    def __init__(self, condition, block: _Block, keyword: Token):
        self.condition, self.block, self.keyword = condition, block, keyword


class _Catch:
    def __init__(self, block: _Block, keyword: Token):
        self.block, self.keyword = block, keyword


class _PendingTry:
    """A TRY block until its CATCH arrives."""

    def __init__(self, block: _Block, keyword: Token):
        self.block, self.keyword = block, keyword


class _Clause:
    """``TIMEOUT x``, ``AS name`` or ``INTO name`` after a command."""

    __slots__ = ("kind", "value", "item")

    def __init__(self, kind, value, item):
        self.kind, self.value, self.item = kind, value, item


# --- the AST builder: one method per grammar rule ----------------------------------


class _Builder(Transformer):
    """Called by the LALR parser on every reduction (no parse tree is built).
    ``ctx`` is set by ``parse`` for the duration of one parse."""

    ctx: _Context

    # §1 literals and templates

    def string(self, children):
        token = children[0]
        try:
            parts = string_parts(token.value, token.line, token.column)
        except TemplateError as exc:
            self.ctx.error(token.line, exc.col, exc.message, exc.hint)
            parts = ()
        return Template(parts, span=_span(token, token))

    def heredoc(self, children):
        token = children[0]
        found = self.ctx.pre.heredocs.get((token.line, token.column))
        if found is None:  # its body was unclosed; the prescan reported it
            return Heredoc(token.value.strip("<'"), "'" in token.value, Template(()),
                           span=_span(token, token))
        parts = []
        for line, col, text in found.lines:
            try:
                parts.extend(line_parts(text + "\n", line, col, found.raw))
            except TemplateError as exc:
                self.ctx.error(line, exc.col, exc.message, exc.hint)
        body = Template(merge_text(parts), span=Span(
            token.line + 1, 1, found.end_line, 1))
        span = Span(token.line, token.column, found.end_line, found.end_col)
        return Heredoc(found.delimiter, found.raw, body, span=span)

    def number(self, children):
        token = children[0]
        text = token.value
        value = float(text) if "." in text else int(text)
        return Literal(value, span=_span(token, token))

    def duration(self, children):
        token = children[0]
        return Duration(parse_duration(token.value), token.value, span=_span(token, token))

    def true(self, children):
        return Literal(True, span=_span(children[0], children[0]))

    def false(self, children):
        return Literal(False, span=_span(children[0], children[0]))

    def null(self, children):
        return Literal(None, span=_span(children[0], children[0]))

    def ref(self, children):
        first = children[0]
        if first.value in _RESERVED:
            self.ctx.error(first.line, first.column,
                           f"'{first.value}' is a keyword, not a variable name",
                           "choose another name")
        return Ref(first.value, tuple(t.value for t in children[1:]),
                   span=_span(first, children[-1]))

    def list(self, children):
        return ListExpr(tuple(children[1:-1]), span=_span(children[0], children[-1]))

    def object(self, children):
        entries, seen = [], set()
        for key_token, value in children[1:-1]:
            key = self._key(key_token)
            if key in seen:
                self.ctx.error(key_token.line, key_token.column,
                               f"duplicate key '{key}' in object", "keep only one of them")
            seen.add(key)
            entries.append((key, value))
        return ObjectExpr(tuple(entries), span=_span(children[0], children[-1]))

    def _key(self, token: Token) -> str:
        if token.type == "NAME":
            return token.value
        parts = self.string([token]).parts
        if any(not isinstance(p, Text) for p in parts):
            self.ctx.error(token.line, token.column, "an object key cannot hold {{…}}",
                           "interpolate in the value instead")
        return "".join(p.value for p in parts if isinstance(p, Text))

    def pair(self, children):
        return children[0], children[1]

    def file_ref(self, children):
        return FileRef(children[1], span=_span(children[0], children[1]))

    # §4 conditions

    def compare(self, children):
        left, op, right = children
        return Compare(op.value, left, right, span=_span(left, right))

    def not_contains(self, children):
        left, _not, _contains, right = children
        return Compare("NOT_CONTAINS", left, right, span=_span(left, right))

    def predicate(self, children):
        operand, op = children
        return Predicate(op.value, operand, span=_span(operand, op))

    def not_exists(self, children):
        operand, _not, exists = children
        return Predicate("NOT_EXISTS", operand, span=_span(operand, exists))

    def not_op(self, children):
        return Not(children[1], span=_span(children[0], children[1]))

    def and_expr(self, children):
        return self._fold("AND", children)

    def expr(self, children):
        return self._fold("OR", children)

    @staticmethod
    def _fold(op, operands):
        result = operands[0]
        for right in operands[1:]:
            result = Logical(op, result, right, span=_span(result, right))
        return result

    # §3 commands

    def timeout_clause(self, children):
        value = children[0]
        return _Clause("TIMEOUT", self._as_duration(value), value)

    def as_clause(self, children):
        return _Clause("AS", self._variable_name(children[0]), children[0])

    def into_clause(self, children):
        return _Clause("INTO", self._variable_name(children[0]), children[0])

    def _variable_name(self, token: Token) -> str:
        """A name being set (VAR, AS, INTO): keywords are reserved."""
        if token.value in _RESERVED:
            self.ctx.error(token.line, token.column,
                           f"'{token.value}' is a keyword, not a variable name", "choose another name")
        return token.value

    def _as_duration(self, value):
        """A quoted duration in a duration position becomes a Duration; any
        other string stays a Template for the checker to reject."""
        if isinstance(value, Template) and len(value.parts) == 1 and isinstance(value.parts[0], Text):
            seconds = parse_duration(value.parts[0].value)
            if seconds is not None:
                return Duration(seconds, value.parts[0].value, span=value.span)
        return value

    def _clauses(self, keyword, clauses):
        found = {}
        for clause in clauses:
            if clause.kind in found:
                line, col = _start(clause.item)
                self.ctx.error(line, col, f"{keyword.value} has {clause.kind} twice",
                               f"keep one {clause.kind}")
            found[clause.kind] = clause.value
        return found

    def run(self, children):
        keyword, command, *clauses = children
        found = self._clauses(keyword, clauses)
        last = clauses[-1].item if clauses else command
        return Run(command, found.get("TIMEOUT"), found.get("AS"), span=_span(keyword, last))

    def write(self, children):
        keyword, path, content = children
        return Write(path, content, span=_span(keyword, content))

    def append(self, children):
        keyword, path, content = children
        return Append(path, content, span=_span(keyword, content))

    def read(self, children):
        keyword, path, name = children
        return Read(path, self._variable_name(name), span=_span(keyword, name))

    def assert_stmt(self, children):
        return Assert(children[1], span=_span(children[0], children[1]))

    def prompt_agent(self, children):
        keyword, prompt, *clauses = children
        found = self._clauses(keyword, clauses)
        last = clauses[-1].item if clauses else prompt
        return PromptAgent(prompt, found.get("INTO"), span=_span(keyword, last))

    def call(self, children):
        keyword, tool, *rest = children
        args = ObjectExpr((), span=_span(tool, tool))
        into, last = None, tool
        for item in rest:
            if isinstance(item, _Clause):
                into, last = item.value, item.item
            else:
                args, last = item, item
        return Call(tool.value, args, into, span=_span(keyword, last))

    def var(self, children):
        keyword, name, value = children
        return Var(self._variable_name(name), value, span=_span(keyword, value))

    def log(self, children):
        return Log(children[1], span=_span(children[0], children[1]))

    def set_budget(self, children):
        keyword, key, value = children
        if key.value == "EXECUTION_TIME":
            value = self._as_duration(value)
        return SetBudget(key.value, value, span=_span(keyword, value))

    def request_review(self, children):
        return RequestReview(children[1], span=_span(children[0], children[1]))

    def pause(self, children):
        return Pause(children[1], span=_span(children[0], children[1]))

    def directive(self, children):
        token, value = children
        return Directive(token.value[1:], value, span=_span(token, value))

    # §2 and §6 structure

    def start(self, children):
        return children

    def block(self, children):
        body = self.attach(children[1:-1])
        return _Block(body, children[0], children[-1])

    def task(self, children):
        keyword, description = children[0], children[1]
        if len(children) == 3:
            block = children[2]
            return Task(description, block.body, leaf=False, span=_span(keyword, block.close))
        return Task(description, (), leaf=True, span=_span(keyword, description))

    def setup(self, children):
        keyword, *rest = children
        block = rest[-1]
        description = rest[0] if len(rest) == 2 else None
        return Setup(description, block.body, span=_span(keyword, block.close))

    def step(self, children):
        keyword, description, block = children
        return Step(description, block.body, span=_span(keyword, block.close))

    def option(self, children):
        keyword, description, block = children
        return Step(description, block.body, keyword="OPTION", span=_span(keyword, block.close))

    def if_stmt(self, children):
        keyword, condition, block = children
        branch = Branch(condition, block.body, span=_span(keyword, block.close))
        return If((branch,), None, span=branch.span)

    def else_clause(self, children):
        keyword, *rest = children
        condition = rest[1] if len(rest) == 3 else None
        return _Else(condition, rest[-1], keyword)

    def parallel(self, children):
        return Parallel(children[1].body, span=_span(children[0], children[1].close))

    def choose(self, children):
        return Choose(children[1].body, span=_span(children[0], children[1].close))

    def estimate_cost(self, children):
        return EstimateCost(children[1].body, span=_span(children[0], children[1].close))

    def try_stmt(self, children):
        return _PendingTry(children[1], children[0])

    def catch_clause(self, children):
        return _Catch(children[1], children[0])

    def retry(self, children):
        keyword, count, block = children
        if "." in count.value:
            self.ctx.error(count.line, count.column,
                           f"RETRY needs a whole number of attempts, not {count.value}",
                           "write e.g. RETRY 3 { … }")
        value = int(float(count.value))
        return Retry(value, block.body, span=_span(keyword, block.close))

    # ELSE and CATCH are statements in the grammar; here they join the IF or
    # TRY just before them in the same statement list.

    def attach(self, items) -> tuple:
        out = []
        for item in items:
            kind = type(item)
            if kind is _Else:
                self._attach_else(out, item)
                continue
            if kind is _Catch:
                self._attach_catch(out, item)
                continue
            self._close_pending_try(out)
            out.append(item)
        self._close_pending_try(out)
        return tuple(out)

    def _attach_else(self, out, clause: _Else):
        previous = out[-1] if out else None
        if not isinstance(previous, If) or previous.orelse is not None:
            self._close_pending_try(out)
            hint = ("an IF already has its final ELSE" if isinstance(previous, If)
                    else "ELSE must directly follow the closing '}' of an IF block")
            self.ctx.error(clause.keyword.line, clause.keyword.column, "ELSE without IF", hint)
            return
        block = clause.block
        span = Span(previous.span.line, previous.span.col, *_end(block.close))
        if clause.condition is not None:
            branch = Branch(clause.condition, block.body, span=_span(clause.keyword, block.close))
            out[-1] = replace(previous, branches=previous.branches + (branch,), span=span)
        else:
            out[-1] = replace(previous, orelse=block.body, span=span)

    def _attach_catch(self, out, clause: _Catch):
        previous = out[-1] if out else None
        if not isinstance(previous, _PendingTry):
            self.ctx.error(clause.keyword.line, clause.keyword.column, "CATCH without TRY",
                           "CATCH must directly follow the closing '}' of a TRY block")
            return
        out[-1] = Try(previous.block.body, clause.block.body,
                      span=_span(previous.keyword, clause.block.close))

    def _close_pending_try(self, out):
        if out and isinstance(out[-1], _PendingTry):
            pending = out[-1]
            self.ctx.error(pending.keyword.line, pending.keyword.column, "TRY without CATCH",
                           "add CATCH { … } right after the TRY block")
            out[-1] = Try(pending.block.body, (), span=_span(pending.keyword, pending.block.close))


# --- structure rules over the finished tree ------------------------------------------


class _Structure:
    """Checks where STEP, SETUP, OPTION and TASK may appear (docs/reference.md §2, §6)."""

    def __init__(self, ctx: _Context):
        self.ctx = ctx
        self.step_seen = False
        self.setup_seen = False

    def program(self, items: tuple) -> tuple:
        """Top-level statements → Program.body, folding a leaf TASK's body in."""
        body, task = [], None
        for index, item in enumerate(items):
            if isinstance(item, Task):
                if task is not None:
                    self._error(item, "a plan has at most one TASK",
                                "make this a STEP inside the first TASK")
                    continue
                if item.leaf:
                    rest = items[index + 1:]
                    end = rest[-1] if rest else item
                    item = replace(item, body=tuple(s for s in rest if not isinstance(s, Task)),
                                   span=Span(item.span.line, item.span.col, *_end(end)))
                    for later in rest:
                        if isinstance(later, Task):
                            self._error(later, "a plan has at most one TASK",
                                        "make this a STEP inside the first TASK")
                    task = item
                    body.append(item)
                    break
                task = item
                body.append(item)
                continue
            if task is not None and not isinstance(item, (Directive, SetBudget)):
                self._error(item, "statement after the TASK block",
                            "move it inside the TASK's { … }")
            body.append(item)
        if task is not None:
            for item in body:
                if item is task:
                    break
                if not isinstance(item, (Directive, SetBudget)):
                    self._error(item, f"{opening_word(item)} before TASK",
                                "only directives and SET_BUDGET may come before TASK; "
                                "move it inside the TASK")
            self.walk(task.body, in_step=False, task_level=True, in_choose=False, lenient=False)
        else:
            self.walk(tuple(body), in_step=False, task_level=True, in_choose=False, lenient=False)
        return tuple(body)

    def walk(self, body, in_step, task_level, in_choose, lenient):
        """Visit every statement in source order. An explicit stack instead
        of recursion, so a plan nested MAX_NESTING deep is fine."""
        pending = [(iter(body), (in_step, task_level, in_choose, lenient))]
        while pending:
            statements, flags = pending[-1]
            stmt = next(statements, None)
            if stmt is None:
                pending.pop()
                continue
            # Blocks are pushed last-first so the first is visited first.
            for block, block_flags in reversed(self._visit(stmt, *flags)):
                pending.append((iter(block), block_flags))

    def _visit(self, stmt, in_step, task_level, in_choose, lenient):
        """Check one statement; return its blocks with the flags they get."""
        kind = type(stmt)
        if kind is Task:
            if not lenient:
                self._error(stmt, "TASK inside a block",
                            "a plan has one TASK, at the top of the file; make this a STEP")
            return []
        if kind is Setup:
            self._setup(stmt, task_level, lenient)
            return [(stmt.body, (True, False, False, lenient))]
        if kind is Step:
            self._step(stmt, in_step, in_choose, lenient)
            return [(stmt.body, (True, False, False, lenient))]
        if kind in (Parallel, Choose):
            recovered = stmt.span.line in self.ctx.recovered_lines
            return [(stmt.body, (False, False, kind is Choose, lenient or recovered))]
        inner = (in_step, False, False, lenient)
        if kind is If:
            blocks = [branch.body for branch in stmt.branches] + [stmt.orelse or ()]
            return [(block, inner) for block in blocks]
        if kind is Try:
            return [(stmt.body, inner), (stmt.catch, inner)]
        if kind in (Retry, EstimateCost):
            return [(stmt.body, inner)]
        return []

    def _setup(self, stmt, task_level, lenient):
        if lenient:
            return
        if not task_level:
            self._error(stmt, "SETUP inside a block", "SETUP belongs at task level, before the first STEP")
        elif self.setup_seen:
            self._error(stmt, "a plan has at most one SETUP", "merge the two SETUP blocks")
        elif self.step_seen:
            self._error(stmt, "SETUP after a STEP", "move SETUP above the first STEP; it always runs first")
        self.setup_seen = True

    def _step(self, stmt, in_step, in_choose, lenient):
        self.step_seen = True
        if lenient:
            return
        if in_step:
            self._error(stmt, f"{stmt.keyword} inside a STEP: a STEP cannot directly contain another STEP",
                        "close the first STEP before this one, or group them in PARALLEL { … } or CHOOSE { … }")
        elif stmt.keyword == "OPTION" and not in_choose:
            self._error(stmt, "OPTION outside CHOOSE", "OPTION is a synonym of STEP inside CHOOSE { … }; write STEP here")

    def _error(self, node, message, hint):
        self.ctx.error(node.span.line, node.span.col, message, hint)


# --- Lark set-up ----------------------------------------------------------------------


class _NamesEverywhere:
    """A no-op post-lexer whose only job is ``always_accept``: with NAME in
    every lexer state, a mistyped keyword (``run``, ``RUNN``) is read as a
    name and reported as such, instead of being split into pieces."""

    always_accept = ("NAME",)

    def process(self, stream):
        return stream


_builder = _Builder()
_lock = threading.Lock()
_lark: Lark | None = None
_fast: FastParser | None = None
# How many parses each path finished (tests check valid files stay on the fast path).
path_counts = {"fast": 0, "lark": 0}


def _on_comment(token: Token) -> Token:
    _builder.ctx.comments.append(Comment(token.value[1:], span=_span(token, token)))
    return token


def _parsers() -> tuple[Lark, FastParser]:
    global _lark, _fast
    if _lark is None:
        _lark = Lark(
            Path(__file__).with_name("grammar.lark").read_text(encoding="utf-8"),
            parser="lalr",
            lexer="contextual",
            postlex=_NamesEverywhere(),
            transformer=_builder,
            lexer_callbacks={"COMMENT": _on_comment},
            propagate_positions=False,
            maybe_placeholders=False,
            cache=True,
        )
        _fast = FastParser(_lark, _builder, _on_comment)
    return _lark, _fast


# --- the entry point ---------------------------------------------------------------------


def parse(source: str, path: str = "<input>", *, fast: bool = True) -> Program:
    """Parse TissLang ``source``; raise ``TissSyntaxError`` listing every
    problem found (several when recovery could go on). ``fast=False`` skips
    the fast path (tests use it to compare both paths)."""
    if not isinstance(source, str):
        raise TypeError("tisslang.parse expects the source text as str")
    pre = prescan(source, path)
    # A parse allocates many small objects and frees none of them; the cyclic
    # garbage collector would rescan them again and again (cost grows faster
    # than the file), so it waits until the tree is built.
    # (Inside the lock, so two threads cannot leave it switched off.)
    with _lock:
        collecting = gc.isenabled()
        gc.disable()
        try:
            body, comments, diagnostics = _parse_locked(pre, path, fast)
        except (NestingTooDeep, RecursionError) as exc:
            line, col = (exc.line, exc.col) if isinstance(exc, NestingTooDeep) else (1, 1)
            diagnostics = [Diagnostic(
                path, line, col, f"the plan nests blocks or brackets more than {MAX_NESTING} deep",
                hint="move deep parts into separate STEPs or variables",
                source_line=pre.lines[line - 1] if line <= len(pre.lines) else None)]
        finally:
            if collecting:
                gc.enable()
    if not diagnostics:
        diagnostics = _too_deep_expression(body, pre, path)
    if diagnostics:
        raise TissSyntaxError(_unique_in_order(diagnostics))
    return Program(pre.header, body, comments=comments, path=path,
                   span=Span(1, 1, len(pre.lines), len(pre.lines[-1]) + 1))


def _too_deep_expression(body, pre: Prescanned, path: str) -> list[Diagnostic]:
    """Operators nest without brackets too (NOT NOT …, a AND b AND …)."""
    deep = too_deep_expression(body)
    if deep is None:
        return []
    line, col = deep.span.line, deep.span.col
    return [Diagnostic(
        path, line, col, f"the expression nests operators more than {MAX_NESTING} deep",
        hint="compute parts of it into VAR variables first",
        source_line=pre.lines[line - 1] if 0 < line <= len(pre.lines) else None)]


def _parse_locked(pre: Prescanned, path: str, fast: bool):
    lark, fast_parser = _parsers()
    diagnostics = list(pre.diagnostics)
    try:
        if fast and not diagnostics:
            ctx = _builder.ctx = _Context(pre, path, set())
            try:
                items = fast_parser.parse(pre.text)
            except FastPathFailed:
                pass  # Lark below finds and words the error
            else:
                path_counts["fast"] += 1
                body = _Structure(ctx).program(_builder.attach(items))
                return body, tuple(ctx.comments), ctx.diagnostics

        lines = pre.text.split("\n")
        recovered: set[int] = set()
        attempts = max(1, min(MAX_ERRORS, RECOVERY_LINE_BUDGET // len(lines)))
        for _attempt in range(attempts):
            ctx = _builder.ctx = _Context(pre, path, recovered)
            text = "\n".join(lines)
            try:
                items = fast_parser.parse(text, explain=True) if fast else lark.parse(text)
            except UnexpectedInput as error:
                diagnostic = hints.syntax_diagnostic(error, text, pre.lines, path)
                at_end = getattr(error, "token", None) is not None and error.token.type == "$END"
                if not (pre.unclosed_heredoc and at_end):
                    diagnostics.append(diagnostic)
                if not _blank_for_recovery(lines, error, recovered):
                    break
                continue
            path_counts["lark"] += 1
            body = _Structure(ctx).program(_builder.attach(items))
            return body, tuple(ctx.comments), diagnostics + ctx.diagnostics
        return (), (), diagnostics
    finally:
        _builder.ctx = None


def _blank_for_recovery(lines: list[str], error: UnexpectedInput, recovered: set[int]) -> bool:
    """Replace the failing line by one with the same bracket balance, so the
    next attempt can report the errors after it. False when that cannot help."""
    token = getattr(error, "token", None)
    if token is not None and token.type == "$END":
        return False
    line = getattr(error, "line", 0) or 0
    if not 0 < line <= len(lines) or line in recovered:
        return False
    last = line
    if isinstance(error, UnexpectedCharacters) and hints.string_continues_on(
            "\n".join(lines), error.pos_in_stream):
        last = line + 1  # the string's second line goes too
    closes, opens = hints.brace_balance("\n".join(lines[line - 1:last]))
    if token is not None and token.type == "RBRACE" and "RBRACE" not in (error.expected or ()):
        closes = max(0, closes - 1)  # the stray '}' itself goes
    for number in range(line, last + 1):
        lines[number - 1] = ""
        recovered.add(number)
    lines[line - 1] = "} " * closes + "PARALLEL { " * opens
    following = lines[last] if last < len(lines) else ""
    if token is not None and token.type == "_NL" and following.lstrip().startswith("{"):
        # `STEP "a"` with its `{` on the next line: keep that block balanced too.
        lines[last] = following.replace("{", "PARALLEL {", 1)
        recovered.add(last + 1)
    return True


def _unique_in_order(diagnostics: list[Diagnostic]) -> list[Diagnostic]:
    seen, out = set(), []
    for d in diagnostics:
        key = (d.line, d.col, d.message)
        if key not in seen:
            seen.add(key)
            out.append(d)
    out.sort(key=lambda d: (d.line, d.col))
    return out
