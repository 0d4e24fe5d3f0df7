"""The AST as plain JSON data (``tiss parse --json``).

Every node becomes an object with ``type`` (the class name in
tisslang/ast.py), its span (``line``, ``col``, ``end_line``, ``end_col``) and
its fields under their Python names. Tuples become lists; an object
expression's entries become ``[{"key": …, "value": …}, …]`` (order kept);
the header becomes ``[{"key": …, "value": …}, …]`` too.
"""

from __future__ import annotations

import dataclasses

from .ast import Node, ObjectExpr, Program


def to_json(node):
    """JSON-ready data for ``node`` (a Node, a tuple of them, or a plain
    value). Works with an explicit stack rather than recursion, so the
    deepest plan the parser accepts converts too."""
    root = {}
    pending = [(node, root, "value")]  # (item, where to put it, under which key)
    while pending:
        item, container, key = pending.pop()
        if isinstance(item, Node):
            container[key] = _node(item, pending)
        elif isinstance(item, (tuple, list)):
            container[key] = out = [None] * len(item)
            pending.extend((child, out, index) for index, child in enumerate(item))
        else:
            container[key] = item
    return root["value"]


def _node(node: Node, pending: list) -> dict:
    """The node's own dict; its child values are queued on ``pending``."""
    span = node.span
    out = {"type": type(node).__name__, "line": span.line, "col": span.col,
           "end_line": span.end_line, "end_col": span.end_col}
    for field in dataclasses.fields(node):
        if field.name == "span":
            continue
        value = getattr(node, field.name)
        if isinstance(node, ObjectExpr) and field.name == "entries":
            out["entries"] = entries = []
            for entry_key, entry_value in value:
                entries.append({"key": entry_key, "value": None})
                pending.append((entry_value, entries[-1], "value"))
        elif isinstance(node, Program) and field.name == "header":
            out["header"] = [{"key": k, "value": v} for k, v in value]
        else:
            out[field.name] = None  # keeps the field order; filled from the stack
            pending.append((value, out, field.name))
    return out
