"""A faster way to run the same grammar on files without errors.

Lark's LALR parser is generic: a chain of generators between lexer and parser,
a method call per token, and wrapper objects around every reduction. For
TissLang none of that is needed, so this module runs Lark's own analysis of
grammar.lark (its parse table and rules) with

* a one-regex lexer built from the grammar's terminals (TissLang needs no
  lexer context: a keyword is a NAME whose text is a keyword), and
* a single loop that shifts and reduces, calling the AST builder directly.

It is all-or-nothing: on any problem it raises ``FastPathFailed`` and the
parser re-runs the file through Lark proper, whose errors the hints module
knows how to word. So errors never depend on this module, and a test checks
that both paths build equal trees.
"""

from __future__ import annotations

import re

from lark import Lark
from lark.lexer import PatternStr, Token
from lark.parsers.lalr_analysis import Shift

# Regex terminals in the order they are tried; punctuation comes last,
# longest first. A terminal missing here fails loudly when the module loads.
_REGEX_ORDER = ("_NL", "COMMENT", "STRING", "DURATION", "NUMBER", "HEREDOC",
                "DIRECTIVE", "NAME", "CMP_OP")
_SKIPPED = ("WS",)

_new_token = getattr(Token, "_future_new", Token)  # skips a deprecation shim


# Brackets open at once, at most: deeper trees would overflow Python's stack
# in every recursive walk downstream (checker, formatter, interpreter).
MAX_NESTING = 100
_OPENERS = frozenset(("LBRACE", "LSQB", "LPAR"))
_CLOSERS = frozenset(("RBRACE", "RSQB", "RPAR"))


class FastPathFailed(Exception):
    """The fast path met something it does not handle; use Lark instead."""


class NestingTooDeep(Exception):
    """More than MAX_NESTING brackets open at ``line``:``col``."""

    def __init__(self, line: int, col: int):
        super().__init__(f"nesting deeper than {MAX_NESTING} at {line}:{col}")
        self.line, self.col = line, col


class FastParser:
    def __init__(self, lark: Lark, builder, on_comment):
        self._on_comment = on_comment
        self._build_lexer(lark)
        self._build_reductions(lark, builder)

    # --- lexer ----------------------------------------------------------------

    def _build_lexer(self, lark: Lark) -> None:
        keywords, punctuation, regexes = {}, {}, {}
        for terminal in lark.terminals:
            pattern = terminal.pattern
            if isinstance(pattern, PatternStr):
                if re.fullmatch(r"\w+", pattern.value):
                    keywords[pattern.value] = terminal.name
                else:
                    punctuation[pattern.value] = terminal.name
            elif terminal.name not in _SKIPPED:
                regexes[terminal.name] = pattern.to_regexp()
        unknown = set(regexes) - set(_REGEX_ORDER)
        if unknown:
            raise RuntimeError(f"fastpath: place terminals {sorted(unknown)} in _REGEX_ORDER")
        alternatives = [f"(?P<{name}>{regexes[name]})" for name in _REGEX_ORDER]
        alternatives.append("(?P<PUNCT>" + "|".join(
            re.escape(p) for p in sorted(punctuation, key=len, reverse=True)) + ")")
        self._token_re = re.compile(r"[ \t\f]*(?:" + "|".join(alternatives) + ")")
        self._keywords = keywords
        self._punctuation = punctuation

    # --- reductions -------------------------------------------------------------

    def _build_reductions(self, lark: Lark, builder) -> None:
        """The parse table with each action made cheap to run: a shift is the
        next state (an int); a reduction is (number of symbols, rule name,
        function of the popped values, or None when one value passes through)."""
        table = lark.parser.parser.parser.parse_table
        reductions = {rule: (len(rule.expansion), rule.origin.name, _reduction(rule, builder))
                      for rule in lark.rules}
        self._states = {
            state: {symbol: (target if action is Shift else reductions[target])
                    for symbol, (action, target) in row.items()}
            for state, row in table.states.items()
        }
        self._start_state = table.start_states["start"]
        self._end_state = table.end_states["start"]
        # Terminals no rule keeps (`_NL`, `AS`, `=` …) need no Token object.
        kept = {symbol.name for rule in lark.rules for symbol in rule.expansion
                if symbol.is_term and (not symbol.filter_out or rule.options.keep_all_tokens)}
        self._dropped = frozenset(t.name for t in lark.terminals) - kept

    # --- the loop -----------------------------------------------------------------

    def parse(self, text: str):
        states = self._states
        end_state = self._end_state
        match = self._token_re.match
        keywords_get = self._keywords.get
        punctuation = self._punctuation
        dropped = self._dropped
        on_comment = self._on_comment
        new_token = _new_token

        state_stack = [self._start_state]
        value_stack = []
        pos, line, line_start, depth = 0, 1, 0, 0
        while True:
            found = match(text, pos)
            if found is None:
                if text[pos:].strip(" \t\f"):
                    raise FastPathFailed(pos)
                kind, token = "$END", None
            else:
                kind = found.lastgroup
                start = found.start(kind)
                pos = found.end()
                if kind == "_NL":
                    line += 1
                    line_start = pos
                    token = None
                elif kind == "COMMENT":
                    col = start - line_start + 1
                    on_comment(new_token(kind, found.group(kind), start, line, col,
                                         line, pos - line_start + 1, pos))
                    continue
                else:
                    value = found.group(kind)
                    if kind == "NAME":
                        kind = keywords_get(value, "NAME")
                    elif kind == "PUNCT":
                        kind = punctuation[value]
                    if kind in dropped:
                        token = None
                    else:
                        token = new_token(kind, value, start, line, start - line_start + 1,
                                          line, pos - line_start + 1, pos)
            while True:
                action = states[state_stack[-1]].get(kind)
                if action.__class__ is int:  # shift
                    state_stack.append(action)
                    value_stack.append(token)
                    if kind in _OPENERS:
                        depth += 1
                        if depth > MAX_NESTING:
                            raise NestingTooDeep(token.line, token.column)
                    elif kind in _CLOSERS:
                        depth -= 1
                    break
                if action is None:
                    raise FastPathFailed(pos)
                count, name, reduce = action
                if reduce is None:  # a single value passes through unchanged
                    state_stack.pop()
                    value = value_stack[-1]
                else:
                    if count:
                        children = value_stack[-count:]
                        del state_stack[-count:]
                        del value_stack[-count:]
                    else:
                        children = []
                    value = reduce(children)
                    value_stack.append(value)
                state_stack.append(states[state_stack[-1]][name])
                if kind == "$END" and state_stack[-1] == end_state:
                    return value
            if found is None:
                raise FastPathFailed(pos)


def _reduction(rule, builder):
    """The function Lark's tree builder would call for ``rule``, without its
    wrappers: drop anonymous tokens, splice `_inlined` rules (which produce
    lists), collapse `?rules` with one child, then call the builder."""
    keep = []
    for index, symbol in enumerate(rule.expansion):
        if not symbol.is_term:
            keep.append((index, symbol.name.startswith("_")))
        elif rule.options.keep_all_tokens or not symbol.filter_out:
            keep.append((index, False))
    name = rule.alias or rule.origin.name
    method = getattr(builder, name, None) if not name.startswith("_") else None
    expand_single = rule.options.expand1 and not rule.alias
    plain = len(keep) == len(rule.expansion) and not any(expand for _, expand in keep)

    if expand_single and plain and len(keep) == 1:
        return None  # `?rule: x` with one child: the child is the result
    if method is None and not (name.startswith("_") or expand_single):
        raise RuntimeError(f"fastpath: no builder method for rule {name!r}")

    def select(children):
        if plain:
            return children
        selected = []
        for index, expand in keep:
            if expand:
                if selected:
                    selected += children[index]
                else:  # reuse the list: left recursion stays linear
                    selected = children[index]
            else:
                selected.append(children[index])
        return selected

    if method is None and not expand_single:
        return select  # an inlined helper rule: hand its children up as a list
    if expand_single:
        def reduce_expand(children):
            selected = select(children)
            return selected[0] if len(selected) == 1 else method(selected)
        return reduce_expand
    if plain:
        return method
    return lambda children: method(select(children))
