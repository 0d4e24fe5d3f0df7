"""The typed AST of TissLang: one frozen dataclass per construct.

Every node carries its source ``span``. Spans are excluded from equality
(``compare=False``), so ``parse(format(x)) == parse(x)`` compares meaning, not
positions. Expressions and interpolations are parsed into nodes at parse time;
nothing downstream ever re-parses a raw string.

The section numbers refer to the language reference (docs/reference.md).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Union, get_args


@dataclass(frozen=True)
class Span:
    """1-based line and column of a node's first character, and of the
    character just past its end."""

    line: int
    col: int
    end_line: int
    end_col: int


NO_SPAN = Span(0, 0, 0, 0)


@dataclass(frozen=True, kw_only=True)
class Node:
    span: Span = field(default=NO_SPAN, compare=False, repr=False)


# --- §5 Interpolation: strings and heredoc bodies are templates -------------


@dataclass(frozen=True)
class Ref(Node):
    """A reference to state: ``name`` or ``name.FIELD`` (``LAST_RUN.STDOUT``,
    ``build.EXIT_CODE``, ``BUDGET.RUN_COUNT``)."""

    name: str
    fields: tuple[str, ...] = ()


@dataclass(frozen=True)
class Text(Node):
    """Literal text of a template, escapes already decoded."""

    value: str


@dataclass(frozen=True)
class Interpolation(Node):
    """``{{ ref | filter | filter }}``; filters are ``trim``, ``json``, ``raw``."""

    ref: Ref
    filters: tuple[str, ...] = ()


@dataclass(frozen=True)
class Template(Node):
    """A quoted string: text and interpolations, in order."""

    parts: tuple[Union[Text, Interpolation], ...]


@dataclass(frozen=True)
class Heredoc(Node):
    """``<<DELIM`` … ``DELIM``. ``body`` is the content after the indentation
    rule, each line ending in ``\\n``. A raw heredoc (``<<'DELIM'``) has one
    Text part and no interpolation."""

    delimiter: str
    raw: bool
    body: Template


# --- §4 Expressions and conditions ------------------------------------------


@dataclass(frozen=True)
class Literal(Node):
    """A number, ``true``/``false`` or ``null``."""

    value: Union[int, float, bool, None]


@dataclass(frozen=True)
class Duration(Node):
    """``500ms``, ``30s``, ``5m``, ``2h`` (bare or quoted); ``text`` keeps the
    spelling for the formatter."""

    seconds: float
    text: str


@dataclass(frozen=True)
class ListExpr(Node):
    items: tuple["Expr", ...]


@dataclass(frozen=True)
class ObjectExpr(Node):
    """``{key: value, "k 2": value}``; keys in source order."""

    entries: tuple[tuple[str, "Expr"], ...]


@dataclass(frozen=True)
class FileRef(Node):
    """``FILE "path"``: the text of a workspace file."""

    path: Template


@dataclass(frozen=True)
class Compare(Node):
    """``op`` is one of ``== != < <= > >= CONTAINS NOT_CONTAINS MATCHES
    STARTS_WITH ENDS_WITH``."""

    op: str
    left: "Expr"
    right: "Expr"


@dataclass(frozen=True)
class Predicate(Node):
    """``op`` is one of ``IS_EMPTY IS_NOT_EMPTY EXISTS NOT_EXISTS``."""

    op: str
    operand: "Expr"


@dataclass(frozen=True)
class Not(Node):
    operand: "Expr"


@dataclass(frozen=True)
class Logical(Node):
    """``op`` is ``AND`` or ``OR``."""

    op: str
    left: "Expr"
    right: "Expr"


Expr = Union[
    Template, Literal, Duration, Ref, ListExpr, ObjectExpr, FileRef,
    Compare, Predicate, Not, Logical,
]


# --- §3 Commands -------------------------------------------------------------


@dataclass(frozen=True)
class Run(Node):
    command: Union[Template, Heredoc]
    timeout: Union[Duration, None] = None
    alias: Union[str, None] = None


@dataclass(frozen=True)
class Write(Node):
    path: Template
    content: Union[Template, Heredoc]


@dataclass(frozen=True)
class Append(Node):
    path: Template
    content: Union[Template, Heredoc]


@dataclass(frozen=True)
class Read(Node):
    path: Template
    name: str


@dataclass(frozen=True)
class Assert(Node):
    condition: Expr


@dataclass(frozen=True)
class PromptAgent(Node):
    prompt: Union[Template, Heredoc]
    into: Union[str, None] = None


@dataclass(frozen=True)
class Call(Node):
    tool: str
    args: ObjectExpr
    into: Union[str, None] = None


@dataclass(frozen=True)
class Var(Node):
    name: str
    value: Expr


@dataclass(frozen=True)
class Log(Node):
    message: Template


@dataclass(frozen=True)
class SetBudget(Node):
    """``key`` is one of EXECUTION_TIME, API_CALLS, TOKEN_COUNT, RUN_COUNT
    (the checker rejects others)."""

    key: str
    value: Expr


@dataclass(frozen=True)
class RequestReview(Node):
    message: Template


@dataclass(frozen=True)
class Pause(Node):
    message: Template


# --- §7 Directives -------------------------------------------------------------


@dataclass(frozen=True)
class Directive(Node):
    """``@name value``; applies to the enclosing block (lexical scope)."""

    name: str
    value: Expr


# --- §2 and §6 Structure and control flow ------------------------------------


@dataclass(frozen=True)
class Step(Node):
    """``STEP "description" { … }``; inside CHOOSE ``keyword`` may be OPTION."""

    description: Template
    body: tuple["Stmt", ...]
    keyword: str = "STEP"


@dataclass(frozen=True)
class Setup(Node):
    description: Union[Template, None]
    body: tuple["Stmt", ...]


@dataclass(frozen=True)
class Branch(Node):
    """One ``IF cond { … }`` or ``ELSE IF cond { … }`` arm."""

    condition: Expr
    body: tuple["Stmt", ...]


@dataclass(frozen=True)
class If(Node):
    branches: tuple[Branch, ...]
    orelse: Union[tuple["Stmt", ...], None] = None


@dataclass(frozen=True)
class Parallel(Node):
    body: tuple["Stmt", ...]


@dataclass(frozen=True)
class Choose(Node):
    """Options are the Step children of ``body``."""

    body: tuple["Stmt", ...]


@dataclass(frozen=True)
class EstimateCost(Node):
    body: tuple["Stmt", ...]


@dataclass(frozen=True)
class Try(Node):
    body: tuple["Stmt", ...]
    catch: tuple["Stmt", ...]


@dataclass(frozen=True)
class Retry(Node):
    count: int
    body: tuple["Stmt", ...]


@dataclass(frozen=True)
class Task(Node):
    """``leaf`` is True for the leaf form (``TASK "d"`` and the rest of the file
    is the body), False for ``TASK "d" { … }``."""

    description: Template
    body: tuple["Stmt", ...]
    leaf: bool = False


@dataclass(frozen=True)
class Comment(Node):
    """A ``# …`` comment, kept so the formatter can put it back where it was.
    ``text`` excludes the leading ``#``."""

    text: str


Stmt = Union[
    Run, Write, Append, Read, Assert, PromptAgent, Call, Var, Log, SetBudget,
    RequestReview, Pause, Directive, Step, Setup, If, Parallel, Choose,
    EstimateCost, Try, Retry, Task,
]
# Every statement class. Each pass (checker, formatter, interpreter, cost,
# dry run) handles all of them; tests/lang/test_statement_passes.py checks it.
STATEMENTS: tuple[type, ...] = get_args(Stmt)

# The word that opens each kind of statement in source.
OPENING_WORDS = {
    Run: "RUN", Write: "WRITE", Append: "APPEND", Read: "READ", Assert: "ASSERT",
    PromptAgent: "PROMPT_AGENT", Call: "CALL", Var: "VAR", Log: "LOG", SetBudget: "SET_BUDGET",
    RequestReview: "REQUEST_REVIEW", Pause: "PAUSE", Directive: "@", Step: "STEP", Setup: "SETUP",
    If: "IF", Parallel: "PARALLEL", Choose: "CHOOSE", EstimateCost: "ESTIMATE_COST", Try: "TRY",
    Retry: "RETRY", Task: "TASK",
}


def opening_word(stmt: Node) -> str:
    """``RUN``, ``STEP`` or ``OPTION`` (a Step says which), ``@timeout`` …"""
    if isinstance(stmt, Step):
        return stmt.keyword
    if isinstance(stmt, Directive):
        return "@" + stmt.name
    return OPENING_WORDS[type(stmt)]


def blocks(stmt: Node) -> tuple[tuple["Stmt", ...], ...]:
    """The statement lists nested directly in ``stmt``, in source order
    (none for a one-line statement). Walks that only need to reach every
    statement use this instead of knowing each compound statement."""
    if isinstance(stmt, If):
        return (*(branch.body for branch in stmt.branches),
                *(() if stmt.orelse is None else (stmt.orelse,)))
    if isinstance(stmt, Try):
        return stmt.body, stmt.catch
    body = getattr(stmt, "body", None)
    return (body,) if isinstance(body, tuple) else ()


@dataclass(frozen=True)
class Program(Node):
    """A whole file. ``header`` holds the ``#TISS!`` Key=Value pairs; ``body``
    holds top-level directives, SET_BUDGET lines, at most one Task, or, for a
    fragment without TASK, the statements themselves. ``comments`` are every
    comment in source order (positions matter to the formatter only)."""

    header: tuple[tuple[str, str], ...]
    body: tuple[Stmt, ...]
    comments: tuple[Comment, ...] = field(default=(), compare=False)
    path: str = field(default="<input>", compare=False)
