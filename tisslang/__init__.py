"""TissLang: grammar, typed AST, parser with precise errors, checker, formatter."""

from .errors import Diagnostic, TissSyntaxError

__all__ = ["Diagnostic", "TissSyntaxError", "parse"]


def parse(source: str, path: str = "<input>"):
    """Parse TissLang source into a ``tisslang.ast.Program``; raises
    ``TissSyntaxError`` with line/column diagnostics."""
    from .parser import parse as _parse

    return _parse(source, path)
