"""Hypothesis strategies that build random TissLang ASTs.

They build trees the parser could have produced: templates with merged text
parts, heredoc bodies ending in a newline, durations whose seconds are what
the parser computes, names that are not keywords, STEP only where the parser
allows it (never directly inside another STEP), OPTION only inside CHOOSE,
SETUP at task level before every STEP. The round-trip property is then
``parse(format_program(tree)) == tree``.
"""

from __future__ import annotations

from hypothesis import strategies as st

from tisslang import ast as A
from tisslang.keywords import BUDGET_KEYS, KEYWORDS
from tisslang.parser import parse_duration

RESERVED = {word.upper() for word in KEYWORDS} | {"TRUE", "FALSE", "NULL"}

names = st.from_regex(r"[A-Za-z_][A-Za-z0-9_]{0,7}", fullmatch=True).filter(
    lambda name: name.upper() not in RESERVED)

# Any text a quoted string may hold, escapes and braces included (no surrogates:
# a .tiss file is UTF-8).
string_text = st.text(st.characters(exclude_categories=("Cs",)), max_size=12)

# Heredoc lines: no line breaks; no braces in interpolated bodies, where "{{"
# would start an interpolation (the formatter has no way to escape it there).
heredoc_line_text = st.text(
    st.characters(exclude_categories=("Cs",), exclude_characters="\n\r{"), max_size=12)

FILTERS = ("trim", "json", "raw")


def merged(parts: list) -> tuple:
    """Join neighbouring Text parts and drop empty ones, as the parser does."""
    out: list = []
    for part in parts:
        if isinstance(part, A.Text):
            if not part.value:
                continue
            if out and isinstance(out[-1], A.Text):
                out[-1] = A.Text(out[-1].value + part.value)
                continue
        out.append(part)
    return tuple(out)


refs = st.builds(A.Ref, names, st.lists(names, max_size=2).map(tuple))
interpolations = st.builds(
    A.Interpolation, refs, st.lists(st.sampled_from(FILTERS), max_size=2).map(tuple))
templates = st.lists(
    st.one_of(string_text.map(A.Text), interpolations), max_size=4,
).map(lambda parts: A.Template(merged(parts)))


@st.composite
def heredocs(draw):
    raw = draw(st.booleans())
    delimiter = draw(st.sampled_from(["EOF", "PY", "SH", "END"]) | names)
    piece = st.one_of(heredoc_line_text.map(A.Text), interpolations)
    lines = draw(st.lists(st.lists(piece, max_size=3), max_size=4))
    parts: list = []
    for line in lines:
        parts.extend(line)
        parts.append(A.Text("\n"))
    if raw:  # a raw body is plain text
        text = "".join(p.value if isinstance(p, A.Text) else "{{%s}}" % p.ref.name
                       for p in parts)
        parts = [A.Text(text)]
    body = merged(parts)
    body_text = "".join(p.value for p in body if isinstance(p, A.Text))
    # A body line equal to the delimiter would close the heredoc early.
    if any(line.strip() == delimiter for line in body_text.split("\n")):
        delimiter = "END_OF_TEXT_" + str(len(body_text))
    return A.Heredoc(delimiter, raw, A.Template(body))


@st.composite
def durations(draw):
    number = str(draw(st.integers(0, 5000)))
    if draw(st.booleans()):
        number += "." + str(draw(st.integers(0, 99)))
    text = number + draw(st.sampled_from(["ms", "s", "m", "h"]))
    return A.Duration(parse_duration(text), text)


numbers = st.one_of(
    st.integers(-10**9, 10**9),
    st.floats(-1e6, 1e6, allow_nan=False, allow_infinity=False),
)
literals = st.one_of(numbers, st.booleans(), st.none()).map(A.Literal)
file_refs = templates.map(A.FileRef)
object_keys = st.one_of(names, string_text)


def objects(values):
    return st.dictionaries(object_keys, values, max_size=3).map(
        lambda entries: A.ObjectExpr(tuple(entries.items())))


atoms = st.one_of(templates, literals, durations(), refs, file_refs)
values = st.recursive(
    atoms,
    lambda inner: st.one_of(st.lists(inner, max_size=3).map(lambda i: A.ListExpr(tuple(i))),
                            objects(inner)),
    max_leaves=6,
)

COMPARE_OPS = ("==", "!=", "<", "<=", ">", ">=", "CONTAINS", "NOT_CONTAINS", "MATCHES",
               "STARTS_WITH", "ENDS_WITH")
PREDICATE_OPS = ("IS_EMPTY", "IS_NOT_EMPTY", "EXISTS", "NOT_EXISTS")

conditions = st.recursive(
    st.one_of(
        values,
        st.builds(A.Compare, st.sampled_from(COMPARE_OPS), values, values),
        st.builds(A.Predicate, st.sampled_from(PREDICATE_OPS), values),
    ),
    lambda inner: st.one_of(
        st.builds(A.Not, inner),
        st.builds(A.Logical, st.sampled_from(["AND", "OR"]), inner, inner),
        # Parenthesised comparisons used as operands: (a == b) == c.
        st.builds(A.Compare, st.sampled_from(COMPARE_OPS), inner, inner),
    ),
    max_leaves=6,
)

text_or_heredoc = st.one_of(templates, heredocs())
DIRECTIVE_NAMES = ("persona", "output", "language", "timeout", "image", "env",
                   "max_output", "network")
optional_name = st.none() | names

commands = st.one_of(
    st.builds(A.Run, text_or_heredoc, st.none() | durations(), optional_name),
    st.builds(A.Write, templates, text_or_heredoc),
    st.builds(A.Append, templates, text_or_heredoc),
    st.builds(A.Read, templates, names),
    st.builds(A.Assert, conditions),
    st.builds(A.PromptAgent, text_or_heredoc, optional_name),
    st.builds(A.Call, names, objects(values), optional_name),
    st.builds(A.Var, names, conditions),
    st.builds(A.Log, templates),
    st.builds(A.SetBudget, st.sampled_from(BUDGET_KEYS) | names, values),
    st.builds(A.RequestReview, templates),
    st.builds(A.Pause, templates),
    st.builds(A.Directive, st.sampled_from(DIRECTIVE_NAMES) | names, values),
)


def blocks(depth: int, in_step: bool) -> st.SearchStrategy:
    """A statement list. ``in_step``: directly inside a STEP (no STEP here)."""
    return st.lists(statements(depth, in_step), max_size=3).map(tuple)


def steps(depth: int, keyword: str = "STEP") -> st.SearchStrategy:
    return st.builds(A.Step, templates, blocks(depth - 1, in_step=True), st.just(keyword))


def statements(depth: int, in_step: bool) -> st.SearchStrategy:
    if depth <= 0:
        return commands
    inner = blocks(depth - 1, in_step)
    compound = st.one_of(
        st.builds(A.If, st.lists(st.builds(A.Branch, conditions, inner), min_size=1,
                                 max_size=3).map(tuple), st.none() | inner),
        st.builds(A.Parallel, st.lists(st.one_of(commands, steps(depth - 1)),
                                       max_size=3).map(tuple)),
        st.builds(A.Choose, st.lists(st.one_of(steps(depth - 1), steps(depth - 1, "OPTION")),
                                     max_size=3).map(tuple)),
        st.builds(A.EstimateCost, inner),
        st.builds(A.Try, inner, inner),
        st.builds(A.Retry, st.integers(-2, 20), inner),
    )
    if not in_step:
        compound = compound | steps(depth)
    return commands | compound


@st.composite
def programs(draw, max_depth: int = 3):
    header = tuple(draw(st.lists(st.tuples(
        st.from_regex(r"[A-Za-z][A-Za-z0-9]{0,6}", fullmatch=True),
        st.from_regex(r"[A-Za-z0-9.]{1,6}", fullmatch=True)), max_size=2)))
    body = list(draw(st.lists(
        st.one_of(st.builds(A.Directive, st.sampled_from(DIRECTIVE_NAMES), values),
                  st.builds(A.SetBudget, st.sampled_from(BUDGET_KEYS), values)),
        max_size=2)))
    task_body = list(draw(blocks(max_depth, in_step=False)))
    if draw(st.booleans()):
        setup = draw(st.builds(A.Setup, st.none() | templates, blocks(max_depth - 1, True)))
        task_body.insert(0, setup)
    form = draw(st.sampled_from(["block", "leaf", "fragment"]))
    if form == "fragment":
        body += task_body
    else:
        body.append(A.Task(draw(templates), tuple(task_body), leaf=form == "leaf"))
    return A.Program(header, tuple(body))
