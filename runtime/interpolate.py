"""Templates: ``{{name}}``, ``{{name.FIELD}}`` and filters ``trim``, ``json``,
``raw``. Inside a RUN command every value is shell-quoted as one argument, so
data can never become shell syntax; ``| raw`` opts out on purpose."""

from __future__ import annotations

import json
import shlex
from typing import Any, Callable

from tisslang import ast

from .errors import RunError

FILTERS = ("trim", "json", "raw")


def to_text(value: Any) -> str:
    """How a value reads inside text: strings as they are, the rest as JSON
    (``true``, ``null``, ``[1, 2]``), numbers without a spurious ``.0``."""
    if isinstance(value, str):
        return value
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return json.dumps(value, ensure_ascii=False)


def render(template: ast.Template | ast.Heredoc, lookup: Callable[[ast.Ref], Any],
           shell: bool = False) -> str:
    """Fill a template with values from ``lookup``; ``shell`` quotes them."""
    if isinstance(template, ast.Heredoc):
        template = template.body
    pieces = []
    for part in template.parts:
        if isinstance(part, ast.Text):
            pieces.append(part.value)
        else:
            pieces.append(_fill(part, lookup(part.ref), shell))
    return "".join(pieces)


def _fill(part: ast.Interpolation, value: Any, shell: bool) -> str:
    text = to_text(value)
    for name in part.filters:
        if name == "trim":
            text = text.strip()
        elif name == "json":
            text = json.dumps(value, ensure_ascii=False)
        elif name != "raw":
            raise RunError(f"unknown filter {name!r} in {{{{ … | {name} }}}}", part.span.line,
                           hint="the filters are: " + ", ".join(FILTERS))
    if shell and "raw" not in part.filters:
        return shlex.quote(text)
    return text
