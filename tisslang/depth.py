"""How deep a plan's expressions nest, measured without recursion.

The fast path bounds brackets and blocks (fastpath.MAX_NESTING), but some
expressions nest with no bracket at all: ``NOT NOT NOT … x`` and a long
``a AND b AND c …`` (a left-deep tree). Every later pass (checker,
formatter, JSON, interpreter) recurses on expressions, so the parser refuses
those deeper than MAX_NESTING too, with one clear error instead of a
RecursionError.
"""

from __future__ import annotations

from dataclasses import fields

from . import ast as A
from .fastpath import MAX_NESTING

# Expressions that hold other expressions add depth; nodes that can hold no
# expression at all are not visited (most of a plan is text).
COMPOSITE = (A.Not, A.Logical, A.Compare, A.Predicate, A.ListExpr, A.ObjectExpr)
SKIPPED = (A.Template, A.Heredoc, A.Text, A.Interpolation, A.Ref, A.Literal, A.Duration, A.Comment)

_FIELDS: dict[type, tuple[str, ...]] = {}


def too_deep_expression(body) -> A.Node | None:
    """The first expression found nested more than MAX_NESTING composite
    expressions deep, or None. An explicit stack, as deep as the tree."""
    stack: list = []
    _push(stack, body, 0)
    while stack:
        node, depth = stack.pop()
        if isinstance(node, COMPOSITE):
            depth += 1
            if depth > MAX_NESTING:
                return node
        names = _FIELDS.get(node.__class__)
        if names is None:
            names = _FIELDS[node.__class__] = tuple(f.name for f in fields(node) if f.name != "span")
        for name in names:
            _push(stack, getattr(node, name), depth)
    return None


def _push(stack: list, value, depth: int) -> None:
    """Stack the nodes a field holds: a node, or tuples of them (ObjectExpr
    entries are (key, value) pairs)."""
    if isinstance(value, A.Node):
        if not isinstance(value, SKIPPED):
            stack.append((value, depth))
    elif isinstance(value, tuple):
        for item in value:
            _push(stack, item, depth)
