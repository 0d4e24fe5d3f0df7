"""Expressions and conditions (docs/reference.md §4), and the words an ASSERT
failure report is made of.

``env`` is whatever the interpreter passes in; it provides
``lookup(ref)`` (a variable, LAST_RUN.FIELD, BUDGET.KEY …),
``render(template)`` (a string with interpolation) and
``read_file(name, line)`` and ``file_exists(name, line)`` (workspace files,
see ``paths.Workspace``).
"""

from __future__ import annotations

import json
import re
from typing import Any

from tisslang import ast
from tisslang.formatter import format_expr as describe

from .errors import RunError
from .interpolate import to_text


def evaluate(expr: ast.Expr, env) -> Any:
    kind = type(expr)
    if kind is ast.Literal:
        return expr.value
    if kind is ast.Template:
        return env.render(expr)
    if kind is ast.Ref:
        return env.lookup(expr)
    if kind is ast.Compare:
        return compare(expr.op, evaluate(expr.left, env), evaluate(expr.right, env), expr.span.line)
    if kind is ast.Logical:
        left = truthy(evaluate(expr.left, env))
        if expr.op == "AND":
            return left and truthy(evaluate(expr.right, env))
        return left or truthy(evaluate(expr.right, env))
    if kind is ast.Not:
        return not truthy(evaluate(expr.operand, env))
    if kind is ast.Predicate:
        return _predicate(expr, env)
    if kind is ast.FileRef:
        name = env.render(expr.path)
        return env.read_file(name, expr.span.line)
    if kind is ast.Duration:
        return expr.seconds
    if kind is ast.ListExpr:
        return [evaluate(item, env) for item in expr.items]
    if kind is ast.ObjectExpr:
        return {key: evaluate(value, env) for key, value in expr.entries}
    raise RunError(f"cannot evaluate a {kind.__name__} here", expr.span.line)


def truthy(value: Any) -> bool:
    """Conditions are usually booleans; other values count as in a shell user's
    head: false, null, 0, "" (or whitespace) and empty lists are false."""
    if isinstance(value, str):
        return bool(value.strip())
    return bool(value)


def _predicate(expr: ast.Predicate, env) -> bool:
    if expr.op in ("EXISTS", "NOT_EXISTS"):
        target = expr.operand
        if not isinstance(target, ast.FileRef):
            raise RunError("EXISTS needs a file: FILE \"path\" EXISTS", expr.span.line)
        name = env.render(target.path)
        exists = env.file_exists(name, expr.span.line)
        return exists if expr.op == "EXISTS" else not exists
    value = evaluate(expr.operand, env)
    empty = value is None or (isinstance(value, str) and not value.strip()) or (
        isinstance(value, (list, dict)) and not value)
    return empty if expr.op == "IS_EMPTY" else not empty


def compare(op: str, left: Any, right: Any, line: int = 0) -> bool:
    if op in ("==", "!="):
        equal = _equal(left, right)
        return equal if op == "==" else not equal
    if op in ("<", "<=", ">", ">="):
        a, b = _ordered(left, right, op, line)
        return {"<": a < b, "<=": a <= b, ">": a > b, ">=": a >= b}[op]
    if op in ("CONTAINS", "NOT_CONTAINS"):
        found = _contains(left, right)
        return found if op == "CONTAINS" else not found
    if op == "MATCHES":
        try:
            return re.search(to_text(right), to_text(left)) is not None
        except re.error as exc:
            raise RunError(f"invalid regular expression {right!r}: {exc}", line) from None
    if op == "STARTS_WITH":
        return to_text(left).startswith(to_text(right))
    if op == "ENDS_WITH":
        return to_text(left).endswith(to_text(right))
    raise RunError(f"unknown operator {op}", line)


def _number(value: Any) -> int | float | None:
    """A number, or a string that is one once trimmed (``"3\\n"`` from a
    command's STDOUT compares with 3 as a shell user expects). Booleans are
    not numbers: ``true == 1`` is false, as in JSON."""
    if isinstance(value, bool):
        return None
    if isinstance(value, (int, float)):
        return value
    if isinstance(value, str):
        for parse in (int, float):   # int first: big integers stay exact
            try:
                return parse(value.strip())
            except ValueError:
                pass
    return None


def _numbers(left: Any, right: Any):
    """Both sides as numbers when one side is a number and the other is one
    or reads as one; otherwise None (two strings compare as strings)."""
    if not (_is_number(left) or _is_number(right)):
        return None
    a, b = _number(left), _number(right)
    return None if a is None or b is None else (a, b)


def _is_number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def _equal(left: Any, right: Any) -> bool:
    if isinstance(left, bool) or isinstance(right, bool):
        return left is right
    if isinstance(left, list) and isinstance(right, list):
        return len(left) == len(right) and all(map(_equal, left, right))
    if isinstance(left, dict) and isinstance(right, dict):
        return left.keys() == right.keys() and all(_equal(left[k], right[k]) for k in left)
    numbers = _numbers(left, right)
    if numbers is not None:
        return numbers[0] == numbers[1]
    return left == right


def _ordered(left: Any, right: Any, op: str, line: int):
    numbers = _numbers(left, right)
    if numbers is not None:
        return numbers
    if isinstance(left, str) and isinstance(right, str):
        return left, right
    raise RunError(f"cannot compare {show(left)} {op} {show(right)}: not two numbers or two strings", line)


def _contains(left: Any, right: Any) -> bool:
    if isinstance(left, list):
        return any(_equal(item, right) for item in left)
    if isinstance(left, dict):
        return to_text(right) in left
    return to_text(right) in to_text(left)


# --- words for reports -----------------------------------------------------


def show(value: Any, limit: int = 200) -> str:
    """A value as a report shows it: short, JSON-quoted."""
    text = json.dumps(value, ensure_ascii=False)
    return text if len(text) <= limit else text[:limit] + "…"


def explain(condition: ast.Expr, env) -> str:
    """``X == 0 failed: X was 1; STDERR: …`` — the condition and the actual
    value of every variable and file it looked at."""
    seen = observed(condition, env)
    text = f"{describe(condition)} failed"
    return text + (": " + "; ".join(seen) if seen else "")


def observed(condition: ast.Expr, env) -> list[str]:
    """``["X was 1", "STDERR: …"]``: what a condition looked at, as a failure
    report says it and as the run report shows a passed ASSERT."""
    seen: list[str] = []
    for ref in _operands(condition):
        try:
            value = evaluate(ref, env)
        except RunError as exc:
            seen.append(f"{describe(ref)} could not be read ({exc.message})")
            continue
        seen.append(f"{describe(ref)} was {show(value)}")
        stderr = _stderr_of(ref, env)
        if stderr:
            seen.append(f"STDERR: {stderr}")
    return list(dict.fromkeys(seen))


def _operands(expr: ast.Expr):
    if isinstance(expr, (ast.Ref, ast.FileRef)):
        yield expr
    for name in ("left", "right", "operand"):
        child = getattr(expr, name, None)
        if child is not None and not (isinstance(expr, ast.Predicate) and expr.op in ("EXISTS", "NOT_EXISTS")):
            yield from _operands(child)


def _stderr_of(ref: ast.Expr, env) -> str:
    """When a command's result is asserted on, its STDERR tail says why."""
    if not isinstance(ref, ast.Ref) or not ref.fields or ref.fields[0] in ("STDERR", "STDOUT"):
        return ""
    try:
        record = env.lookup(ast.Ref(ref.name))
    except RunError:
        return ""
    if isinstance(record, dict) and isinstance(record.get("STDERR"), str):
        tail = record["STDERR"].strip().splitlines()[-5:]
        return " | ".join(tail)
    return ""
