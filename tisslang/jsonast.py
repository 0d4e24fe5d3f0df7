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
    if isinstance(node, Node):
        return _node(node)
    if isinstance(node, (tuple, list)):
        return [to_json(item) for item in node]
    return node


def _node(node: Node) -> dict:
    span = node.span
    out = {"type": type(node).__name__, "line": span.line, "col": span.col,
           "end_line": span.end_line, "end_col": span.end_col}
    for field in dataclasses.fields(node):
        if field.name == "span":
            continue
        value = getattr(node, field.name)
        if isinstance(node, ObjectExpr) and field.name == "entries":
            value = [{"key": key, "value": to_json(item)} for key, item in value]
        elif isinstance(node, Program) and field.name == "header":
            value = [{"key": key, "value": item} for key, item in value]
        else:
            value = to_json(value)
        out[field.name] = value
    return out
