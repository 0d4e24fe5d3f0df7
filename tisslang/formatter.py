"""The canonical formatter: one way to lay out every plan.

The style: 4-space indentation, one statement per line, double-quoted strings
(re-escaped as needed), ``} ELSE {`` and ``} CATCH {`` on one line, no ``THEN``,
bare durations, one blank line around every STEP/SETUP/OPTION among its
siblings, and elsewhere at most one blank line where the source had blank
lines. Comments stay where they were: an own-line comment before the next
thing that followed it, a trailing comment at the end of the line it was on.
Heredoc bodies keep their exact text; only their indentation follows the
statement (body and closing delimiter move together, which leaves the parsed
body unchanged).

Guarantees (tested with hypothesis): ``format(format(x)) == format(x)`` and
``parse(format(x)) == parse(x)``.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from decimal import Decimal
from typing import Union

from . import ast as A
from .keywords import RESERVED  # words that cannot be bare object keys

INDENT = "    "

IDENTIFIER = re.compile(r"[A-Za-z_][A-Za-z0-9_]*\Z")

# Operator precedence, loosest first; an operand binding looser than its
# context gets parentheses.
PREC_OR, PREC_AND, PREC_NOT, PREC_COMPARE, PREC_ATOM = 1, 2, 3, 4, 5

OPERATOR_SPELLING = {"NOT_CONTAINS": "NOT CONTAINS"}
PREDICATE_SPELLING = {"IS_EMPTY": "IS_EMPTY", "IS_NOT_EMPTY": "IS_NOT_EMPTY",
                      "EXISTS": "EXISTS", "NOT_EXISTS": "NOT EXISTS"}

ESCAPES = {"\\": "\\\\", '"': '\\"', "\n": "\\n", "\t": "\\t", "\r": "\\r"}
NEEDS_ESCAPE = re.compile(r'[\\"\x00-\x1f\x7f\u2028\u2029]')


def format_source(source: str, path: str = "<input>") -> str:
    """Parse ``source`` and return it in canonical form (raises TissSyntaxError)."""
    from . import parse

    return format_program(parse(source, path), source)


def format_program(program: A.Program, source: str | None = None) -> str:
    """Format a parsed program. ``source`` (the text it was parsed from) lets
    comments around ``} ELSE {`` and ``} CATCH {`` keep their exact line."""
    return _Formatter(program.comments, source).program(program)


# --- Expressions ----------------------------------------------------------------


def quote(text: str) -> str:
    """``text`` as a double-quoted TissLang string."""
    return '"' + _escape_braces(_escape(text), before_hole=False) + '"'


def _escape(text: str) -> str:
    return NEEDS_ESCAPE.sub(
        lambda m: ESCAPES.get(m.group(), "\\u{%04X}" % ord(m.group())), text)


def format_ref(ref: A.Ref) -> str:
    return ".".join((ref.name, *ref.fields))


def format_interpolation(part: A.Interpolation) -> str:
    return "{{" + " | ".join((format_ref(part.ref), *part.filters)) + "}}"


def format_template(template: A.Template) -> str:
    parts = template.parts
    out = []
    for index, part in enumerate(parts):
        if isinstance(part, A.Interpolation):
            out.append(format_interpolation(part))
            continue
        before_hole = index + 1 < len(parts) and isinstance(parts[index + 1], A.Interpolation)
        out.append(_escape_braces(_escape(part.value), before_hole))
    return '"' + "".join(out) + '"'


def _escape_braces(text: str, before_hole: bool) -> str:
    """Literal text must never show ``{{`` (it would open an interpolation):
    a ``{`` followed by another, or by the next part's ``{{``, is written as
    the escape ``\\u{7B}``."""
    if "{" not in text:
        return text
    text = re.sub(r"\{(?=\{)", r"\\u{7B}", text)
    if before_hole and text.endswith("{"):
        text = text[:-1] + "\\u{7B}"
    return text


def format_expr(expr: A.Expr, context: int = PREC_OR) -> str:
    """``expr`` as source, parenthesised if it binds looser than ``context``."""
    text, prec = _expr(expr)
    return f"({text})" if prec < context else text


def _expr(expr: A.Expr) -> tuple[str, int]:
    if isinstance(expr, A.Logical):
        prec = PREC_OR if expr.op == "OR" else PREC_AND
        return f"{_logical_operand(expr.left, expr.op, True)} {expr.op} " \
               f"{_logical_operand(expr.right, expr.op, False)}", prec
    if isinstance(expr, A.Not):
        # NOT binds looser than a comparison; parentheses say so: NOT (a == b).
        return "NOT " + format_expr(expr.operand, PREC_ATOM), PREC_NOT
    if isinstance(expr, A.Compare):
        op = OPERATOR_SPELLING.get(expr.op, expr.op)
        return (f"{format_expr(expr.left, PREC_ATOM)} {op} "
                f"{format_expr(expr.right, PREC_ATOM)}", PREC_COMPARE)
    if isinstance(expr, A.Predicate):
        return (f"{format_expr(expr.operand, PREC_ATOM)} {PREDICATE_SPELLING[expr.op]}",
                PREC_COMPARE)
    return _atom(expr), PREC_ATOM


def _logical_operand(operand: A.Expr, op: str, left: bool) -> str:
    """AND/OR operands: a nested AND/OR is parenthesised unless it is the left
    operand of the same operator (``a AND b AND c``), so ``(a AND b) OR c``
    reads the way it parses."""
    text = format_expr(operand)
    if isinstance(operand, A.Logical) and not (left and operand.op == op):
        return f"({text})"
    return text


def _atom(expr: A.Expr) -> str:
    if isinstance(expr, A.Template):
        return format_template(expr)
    if isinstance(expr, A.Ref):
        return format_ref(expr)
    if isinstance(expr, A.Literal):
        return _literal(expr.value)
    if isinstance(expr, A.Duration):
        return expr.text.strip("\"'")
    if isinstance(expr, A.FileRef):
        return "FILE " + format_template(expr.path)
    if isinstance(expr, A.ListExpr):
        return "[" + ", ".join(format_expr(item) for item in expr.items) + "]"
    if isinstance(expr, A.ObjectExpr):
        return "{" + ", ".join(f"{_key(key)}: {format_expr(value)}"
                               for key, value in expr.entries) + "}"
    raise TypeError(f"cannot format expression node {type(expr).__name__}")


def _literal(value: Union[int, float, bool, None]) -> str:
    if value is True:
        return "true"
    if value is False:
        return "false"
    if value is None:
        return "null"
    if isinstance(value, float):
        # The grammar has no exponent notation: 1e-05 is written 0.00001.
        text = repr(value)
        if "e" in text:
            text = format(Decimal(text), "f")
        return text if "." in text else text + ".0"
    return repr(value)


def _key(key: str) -> str:
    return key if IDENTIFIER.match(key) and key not in RESERVED else quote(key)


# --- Statements ---------------------------------------------------------------


def _text_or_heredoc(value: Union[A.Template, A.Heredoc]) -> str:
    """The inline part: a quoted string, or the heredoc opener ``<<DELIM``."""
    if isinstance(value, A.Heredoc):
        return f"<<'{value.delimiter}'" if value.raw else f"<<{value.delimiter}"
    return format_template(value)


def _heredoc_of(stmt: A.Stmt) -> A.Heredoc | None:
    for name in ("command", "content", "prompt"):
        value = getattr(stmt, name, None)
        if isinstance(value, A.Heredoc):
            return value
    return None


def format_command(stmt: A.Stmt) -> str:
    """A non-block statement on one line (a heredoc's body follows separately)."""
    if isinstance(stmt, A.Run):
        line = "RUN " + _text_or_heredoc(stmt.command)
        if stmt.timeout is not None:
            line += " TIMEOUT " + _atom(stmt.timeout)
        return line + (f" AS {stmt.alias}" if stmt.alias else "")
    if isinstance(stmt, (A.Write, A.Append)):
        return f"{A.opening_word(stmt)} {format_template(stmt.path)} {_text_or_heredoc(stmt.content)}"
    if isinstance(stmt, A.Read):
        return f"READ {format_template(stmt.path)} AS {stmt.name}"
    if isinstance(stmt, A.Assert):
        return "ASSERT " + format_expr(stmt.condition)
    if isinstance(stmt, A.PromptAgent):
        line = "PROMPT_AGENT " + _text_or_heredoc(stmt.prompt)
        return line + (f" INTO {stmt.into}" if stmt.into else "")
    if isinstance(stmt, A.Call):
        line = f"CALL {stmt.tool}" + (f" {_atom(stmt.args)}" if stmt.args.entries else "")
        return line + (f" INTO {stmt.into}" if stmt.into else "")
    if isinstance(stmt, A.Var):
        return f"VAR {stmt.name} = {format_expr(stmt.value)}"
    if isinstance(stmt, A.SetBudget):
        return f"SET_BUDGET {stmt.key} = {format_expr(stmt.value)}"
    if isinstance(stmt, A.Directive):
        return f"@{stmt.name} {format_expr(stmt.value)}"
    if isinstance(stmt, (A.Log, A.RequestReview, A.Pause)):
        return f"{A.opening_word(stmt)} {format_template(stmt.message)}"
    raise TypeError(f"cannot format statement node {type(stmt).__name__}")


def _is_unit(stmt: A.Stmt) -> bool:
    """Statements that always get a blank line around them among siblings."""
    return isinstance(stmt, (A.Step, A.Setup))


class _Formatter:
    """Writes lines while walking the AST, weaving the comments back in by
    source line: ``last_line`` is the source line of the last thing written,
    and ``comments[next_comment]`` the first comment not yet written."""

    def __init__(self, comments: Sequence[A.Comment], source: str | None = None):
        self.lines: list[str] = []
        self.comments = sorted(comments, key=lambda c: (c.span.line, c.span.col))
        self.source_lines = _lines(source) if source is not None else None
        self.comment_cols = {c.span.line: c.span.col for c in self.comments}
        self.next_comment = 0
        self.last_line = 0
        self.block_start = True  # no blank line right after "{" or at the top

    # Low-level output

    def write(self, depth: int, text: str, first: int = 0, last: int = 0) -> None:
        """One output line for source lines ``first..last``; comments written on
        those lines become its trailing comment (extras go just above it)."""
        on_line = []
        if first > 0:
            while self.has_comment_before(last + 1):
                on_line.append(self.take_comment())
        for extra in on_line[:-1]:
            self.lines.append(INDENT * depth + "#" + extra.text.rstrip())
        if on_line:
            text += "  #" + on_line[-1].text.rstrip()
        self.lines.append(INDENT * depth + text)
        self.last_line = max(self.last_line, last)
        self.block_start = False

    def has_comment_before(self, line: int) -> bool:
        return (self.next_comment < len(self.comments)
                and self.comments[self.next_comment].span.line < line)

    def take_comment(self) -> A.Comment:
        comment = self.comments[self.next_comment]
        self.next_comment += 1
        return comment

    def blank_line(self) -> None:
        if not self.block_start and self.lines and self.lines[-1] != "":
            self.lines.append("")

    def gap_before(self, line: int) -> None:
        """Keep one blank line where the source had one or more."""
        if line > 0 and self.last_line > 0 and line > self.last_line + 1:
            self.blank_line()

    def comments_before(self, line: int, depth: int) -> None:
        """Write the own-line comments that come before source line ``line``."""
        while self.has_comment_before(line):
            comment = self.take_comment()
            self.gap_before(comment.span.line)
            self.lines.append(INDENT * depth + "#" + comment.text.rstrip())
            self.last_line = comment.span.line
            self.block_start = False

    # Structure

    def program(self, program: A.Program) -> str:
        if program.header:
            self.lines.append("#TISS! " + " ".join(f"{k}={v}" for k, v in program.header))
            self.last_line = 1
            self.block_start = False
        self.block(program.body, 0)
        self.comments_before(10**12, 0)
        if not program.header and self.lines and self.lines[0].startswith("#TISS!"):
            # A comment reading "#TISS!…" must not become the header line.
            self.lines.insert(0, "")
        return "\n".join(self.lines) + "\n" if self.lines else ""

    def block(self, stmts: Sequence[A.Stmt], depth: int) -> None:
        previous = None
        for stmt in stmts:
            if previous is not None and (_is_unit(stmt) or _is_unit(previous)):
                self.blank_line()
            self.comments_before(stmt.span.line, depth)
            self.gap_before(stmt.span.line)
            self.statement(stmt, depth)
            previous = stmt

    def open_block(self, depth: int, text: str, line: int) -> None:
        self.write(depth, text + " {", line, line)
        self.block_start = True

    def close_block(self, depth: int, line: int, text: str = "}") -> None:
        """Write the comments left inside the block, then ``}`` (or ``} ELSE {``…)
        which was on source line ``line``."""
        self.comments_before(line, depth + 1)
        self.write(depth, text, line, line)
        if text.endswith("{"):
            self.block_start = True

    def body(self, depth: int, header: str, stmts: Sequence[A.Stmt], span: A.Span) -> None:
        self.open_block(depth, header, span.line)
        self.block(stmts, depth + 1)
        self.close_block(depth, span.end_line)

    def statement(self, stmt: A.Stmt, depth: int) -> None:
        span = stmt.span
        if isinstance(stmt, A.Task):
            header = "TASK " + format_template(stmt.description)
            if stmt.leaf:
                self.write(depth, header, span.line, span.line)
                self.block(stmt.body, depth)
            else:
                self.body(depth, header, stmt.body, span)
        elif isinstance(stmt, A.Step):
            self.body(depth, f"{stmt.keyword} {format_template(stmt.description)}", stmt.body, span)
        elif isinstance(stmt, A.Setup):
            header = "SETUP" + ("" if stmt.description is None
                                else " " + format_template(stmt.description))
            self.body(depth, header, stmt.body, span)
        elif isinstance(stmt, A.If):
            self.if_chain(stmt, depth)
        elif isinstance(stmt, A.Try):
            self.try_catch(stmt, depth)
        elif isinstance(stmt, A.Retry):
            self.body(depth, f"RETRY {stmt.count}", stmt.body, span)
        elif isinstance(stmt, (A.Parallel, A.Choose, A.EstimateCost)):
            self.body(depth, A.opening_word(stmt), stmt.body, span)
        else:
            self.command(stmt, depth)

    def if_chain(self, stmt: A.If, depth: int) -> None:
        first = stmt.branches[0]
        self.open_block(depth, "IF " + format_expr(first.condition), stmt.span.line)
        self.block(first.body, depth + 1)
        previous = first
        for branch in stmt.branches[1:]:
            line = self.divider_line(_end_of(previous), _start_of(branch.condition), "ELSE")
            self.close_block(depth, line, "} ELSE IF " + format_expr(branch.condition) + " {")
            self.block(branch.body, depth + 1)
            previous = branch
        if stmt.orelse is not None:
            line = self.divider_line(_end_of(previous), _start_of_block(stmt.orelse, stmt.span),
                                     "ELSE")
            self.close_block(depth, line, "} ELSE {")
            self.block(stmt.orelse, depth + 1)
        self.close_block(depth, stmt.span.end_line)

    def try_catch(self, stmt: A.Try, depth: int) -> None:
        self.open_block(depth, "TRY", stmt.span.line)
        self.block(stmt.body, depth + 1)
        start = (stmt.body[-1].span.end_line, stmt.body[-1].span.end_col) if stmt.body \
            else (stmt.span.line, stmt.span.col)
        line = self.divider_line(start, _start_of_block(stmt.catch, stmt.span), "CATCH")
        self.close_block(depth, line, "} CATCH {")
        self.block(stmt.catch, depth + 1)
        self.close_block(depth, stmt.span.end_line)

    def divider_line(self, start: tuple[int, int], end: tuple[int, int], keyword: str) -> int:
        """The source line of ``keyword`` in a ``} ELSE {`` or ``} CATCH {`` between
        two positions (only braces, keywords and comments lie between them)."""
        if self.source_lines is None or start[0] <= 0 or end[0] < start[0]:
            return max(start[0], 0)
        pattern = re.compile(r"\b%s\b" % keyword)
        for line in range(start[0], end[0] + 1):
            code = self.source_lines[line - 1] if line <= len(self.source_lines) else ""
            stop = self.comment_cols.get(line, len(code) + 1) - 1
            if line == end[0]:
                stop = min(stop, end[1] - 1)
            begin = start[1] - 1 if line == start[0] else 0
            if pattern.search(code, begin, max(begin, stop)):
                return line
        return start[0]

    def command(self, stmt: A.Stmt, depth: int) -> None:
        heredoc = _heredoc_of(stmt)
        if heredoc is None:
            self.write(depth, format_command(stmt), stmt.span.line, stmt.span.end_line)
            return
        # Comments can only sit on the opening line: the rest is body text.
        self.write(depth, format_command(stmt), stmt.span.line, stmt.span.line)
        indent = INDENT * depth
        for line in _heredoc_text(heredoc).split("\n")[:-1]:
            self.lines.append(indent + line if line else "")
        self.lines.append(indent + heredoc.delimiter)
        self.last_line = max(self.last_line, stmt.span.end_line, heredoc.span.end_line)


def _heredoc_text(heredoc: A.Heredoc) -> str:
    """The body as written between the delimiters (before re-indentation)."""
    return "".join(part.value if isinstance(part, A.Text) else format_interpolation(part)
                   for part in heredoc.body.parts)


def _start_of(node: A.Node) -> tuple[int, int]:
    return node.span.line, node.span.col


def _end_of(branch: A.Branch) -> tuple[int, int]:
    """Where the last thing before a branch's closing brace ends."""
    last = branch.body[-1] if branch.body else branch.condition
    return last.span.end_line, last.span.end_col


def _start_of_block(stmts: Sequence[A.Stmt], enclosing: A.Span) -> tuple[int, int]:
    """Where a block's first statement starts, or the end of the enclosing
    statement for an empty block."""
    if stmts:
        return _start_of(stmts[0])
    return enclosing.end_line, enclosing.end_col


def _lines(source: str) -> list[str]:
    """Split on the line endings TissLang knows (not on form feeds and the like)."""
    return re.split(r"\r\n|\r|\n", source)
