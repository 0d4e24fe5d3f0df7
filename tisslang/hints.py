"""Turning Lark's parse errors into messages a plan author understands.

Lark knows which terminals it expected; a user wants "expected a quoted
string after RUN" and a hint. Everything here is only called once a parse
has failed, so it favours clarity over speed.
"""

from __future__ import annotations

import re

from lark.exceptions import UnexpectedCharacters, UnexpectedInput, UnexpectedToken
from lark.lexer import Token

from .errors import Diagnostic
from .keywords import KEYWORDS, STATEMENT_KEYWORDS

# How each terminal is named in a message.
_TERMINAL_WORDS = {
    "STRING": "a quoted string",
    "HEREDOC": "a heredoc (<<EOF)",
    "NAME": "a name",
    "NUMBER": "a number",
    "DURATION": "a duration such as 30s",
    "LBRACE": "'{'",
    "RBRACE": "'}'",
    "LSQB": "'['",
    "RSQB": "']'",
    "LPAR": "'('",
    "RPAR": "')'",
    "COMMA": "','",
    "COLON": "':'",
    "EQUAL": "'='",
    "DOT": "'.'",
    "CMP_OP": "a comparison such as ==",
    "DIRECTIVE": "a directive such as @persona",
    "_NL": "the end of the line",
    "$END": "the end of the file",
}
_VALUE_STARTS = {"STRING", "NUMBER", "NAME", "LSQB", "LBRACE", "TRUE", "FALSE", "NULL",
                 "FILE", "DURATION", "LPAR", "NOT"}


def did_you_mean(word: str, candidates) -> str | None:
    """The closest candidate within a small edit distance, if any."""
    best, best_distance = None, max(1, len(word) // 3) + 1
    for candidate in candidates:
        distance = edit_distance(word.upper(), candidate.upper())
        if distance < best_distance:
            best, best_distance = candidate, distance
    return best


def edit_distance(a: str, b: str) -> int:
    """Levenshtein distance, with a transposition counted as one edit."""
    previous2, previous = None, list(range(len(b) + 1))
    for i, ca in enumerate(a, 1):
        current = [i]
        for j, cb in enumerate(b, 1):
            cost = min(previous[j] + 1, current[j - 1] + 1, previous[j - 1] + (ca != cb))
            if i > 1 and j > 1 and ca == b[j - 2] and a[i - 2] == cb:
                cost = min(cost, previous2[j - 2] + 1)
            current.append(cost)
        previous2, previous = previous, current
    return previous[-1]


_OPERATORS = {"CMP_OP", "CONTAINS", "MATCHES", "STARTS_WITH", "ENDS_WITH", "IS_EMPTY",
              "IS_NOT_EMPTY", "EXISTS", "NOT", "AND", "OR"}


def describe_expected(expected) -> str:
    """Lark's set of expected terminals, in words, grouped where a list of
    token names would only confuse."""
    expected = set(expected) - {"WS", "COMMENT"}
    words = []
    statements = expected & set(STATEMENT_KEYWORDS)
    if len(statements) > 3:
        # Ending the statement here is allowed: say that once.
        expected -= statements | {"DIRECTIVE", "_NL", "$END"}
        words.append("the end of the statement")
    if len(expected & _VALUE_STARTS) > 4:
        words.append("a value or condition")
        expected -= _VALUE_STARTS
    if len(expected & _OPERATORS) > 3:
        words.append("an operator (==, CONTAINS, AND …)")
        expected -= _OPERATORS
    for name in sorted(expected, key=_order):
        word = _TERMINAL_WORDS.get(name)
        if word is None:
            word = name if name.isupper() else f"'{name}'"
        if word not in words:
            words.append(word)
    if not words:
        return "something else"
    if len(words) == 1:
        return words[0]
    return ", ".join(words[:-1]) + " or " + words[-1]


_FIRST = ("STRING", "HEREDOC", "NAME", "NUMBER", "DURATION")


def _order(name: str):
    # What the user most likely meant first; punctuation and end of line last.
    if name in _FIRST:
        return (0, _FIRST.index(name), name)
    return (1 + (name in ("_NL", "$END")), 0, name)


def describe_token(token: Token) -> str:
    value = token.value if len(token.value) <= 40 else token.value[:39] + "…"
    if token.type == "$END":
        return "the end of the file"
    if token.type == "_NL":
        return "the end of the line"
    if token.type == "STRING":
        return f"the string {value}"
    if token.type == "HEREDOC":
        return f"the heredoc {value}"
    return f"'{value}'"


def statement_keyword(state) -> Token | None:
    """The keyword that began the statement being parsed when the error hit."""
    for value in reversed(getattr(state, "value_stack", ()) or ()):
        if isinstance(value, Token) and value.type in STATEMENT_KEYWORDS:
            return value
        if isinstance(value, Token) and value.type in ("LBRACE", "_NL"):
            return None
    return None


def last_token(state) -> Token | None:
    stack = getattr(state, "value_stack", None) or ()
    if stack and isinstance(stack[-1], Token):
        return stack[-1]
    return None


# --- brackets: where was the block opened that never closed? -------------------

_BRACKET_ITEMS = re.compile(r'''"(?:[^"\\\n]|\\.)*"|'(?:[^'\\\n]|\\.)*'|\#[^\n]*|[{}\[\]()\n]''')
_PAIRS = {"}": "{", "]": "[", ")": "("}


def brace_balance(line: str) -> tuple[int, int]:
    """('}' without a '{', '{' without a '}') on one line."""
    closes, opens = 0, 0
    for match in _BRACKET_ITEMS.finditer(line):
        char = match.group()
        if char == "{":
            opens += 1
        elif char == "}":
            if opens:
                opens -= 1
            else:
                closes += 1
    return closes, opens


def find_unclosed_opener(text: str) -> tuple[int, int, str] | None:
    """(line, col, char) of the bracket most likely left unclosed.

    A closer whose indentation differs from its opener's line betrays the
    real culprit (the `}` of the TASK closed the STEP that lost its own);
    otherwise the innermost opener still open at the end of the file.
    """
    stack = []  # (char, line, col, indent of the opener's line)
    line, line_start = 1, 0
    suspect = None
    for match in _BRACKET_ITEMS.finditer(text):
        char = match.group()
        if char == "\n":
            line, line_start = line + 1, match.end()
            continue
        if char[0] in "\"'#":
            continue
        col = match.start() - line_start + 1
        line_end = text.find("\n", line_start)
        line_text = text[line_start:line_end if line_end >= 0 else len(text)]
        indent = len(line_text) - len(line_text.lstrip())
        if char in "{[(":
            stack.append((char, line, col, indent))
        elif stack and stack[-1][0] == _PAIRS[char]:
            opener = stack.pop()
            closer_starts_line = not line_text[:col - 1].strip()
            if suspect is None and closer_starts_line and indent != opener[3]:
                suspect = opener
    if not stack:
        return None
    chosen = suspect if suspect is not None else stack[-1]
    return chosen[1], chosen[2], chosen[0]


# --- the diagnostic for one Lark error ------------------------------------------


def syntax_diagnostic(error: UnexpectedInput, text: str, lines: list[str], path: str) -> Diagnostic:
    line = max(getattr(error, "line", 1) or 1, 1)
    col = max(getattr(error, "column", 1) or 1, 1)
    if isinstance(error, UnexpectedCharacters):
        message, hint, line, col = _unexpected_character(error, text, lines, line, col)
    elif isinstance(error, UnexpectedToken):
        message, hint, line, col = _unexpected_token(error, text, lines, line, col)
    else:  # pragma: no cover - Lark's LALR raises only the two above
        message, hint = str(error).splitlines()[0], None
    source_line = lines[line - 1] if 0 < line <= len(lines) else None
    return Diagnostic(path, line, col, message, hint=hint, source_line=source_line)


def _unexpected_character(error, text, lines, line, col):
    char = text[error.pos_in_stream] if error.pos_in_stream < len(text) else ""
    if char in "\"'":
        if string_continues_on(text, error.pos_in_stream):
            return ("a quoted string cannot span lines (raw newline in the string)",
                    "close the string on the same line, write \\n for a line break, "
                    "or use a heredoc: WRITE \"file\" <<EOF … EOF", line, col)
        return ("unterminated string: no closing " + char + " on this line",
                f"add the closing {char} at the end of the string", line, col)
    special = {
        "&": ("use the keyword AND", "'&&' is written AND in TissLang"),
        "|": ("use the keyword OR", "'||' is written OR in TissLang"),
        "!": ("use NOT or !=", "negate a condition with NOT; compare with !="),
        "=": ("a single '=' only assigns in VAR and SET_BUDGET", "compare with =="),
        "$": ("shell variables are not TissLang syntax",
              "put shell code inside a quoted RUN command; use {{name}} for TissLang values"),
        "+": ("TissLang has no arithmetic or string concatenation",
              'build text with interpolation: "{{a}}{{b}}"'),
        "@": ("a directive needs a name",
              'write it as @name value, e.g. @persona "a careful reviewer"'),
    }
    if char in special:
        message, hint = special[char]
        return f"unexpected '{char}': {message}", hint, line, col
    if char.isdigit():
        word = re.match(r"[\w.]*", text[error.pos_in_stream:]).group()
        return (f"'{word}' is neither a number nor a duration",
                "numbers look like 12, -3 or 2.5; durations like 500ms, 30s, 5m or 2h", line, col)
    shown = char if char.strip() else repr(char)
    return f"unexpected character '{shown}'", None, line, col


def string_continues_on(text: str, pos: int) -> bool:
    """Does the string opened at ``pos`` look meant to close on the next line
    (its closing quote ends that line, or comes before a clause or brace)?
    That tells "raw newline in a string" from "unterminated string"."""
    quote = text[pos] if pos < len(text) else ""
    first_end = text.find("\n", pos)
    if quote not in ("'", '"') or first_end < 0:
        return False
    next_end = text.find("\n", first_end + 1)
    next_line = text[first_end + 1:next_end if next_end >= 0 else len(text)]
    match = re.match(r"(?:[^%s\\]|\\.)*%s(.*)" % (quote, quote), next_line)
    if match is None:
        return False
    after = match.group(1).strip()
    return not after or after.startswith(("#", "AS", "INTO", "TIMEOUT", "}", "{"))


def _unexpected_token(error: UnexpectedToken, text, lines, line, col):
    token = error.token
    expected = set(error.accepts or error.expected or ())
    keyword = statement_keyword(error.state)
    previous = last_token(error.state)

    if token.type == "$END":
        opener = find_unclosed_opener(text)
        if opener is not None and ("RBRACE" in expected or "RSQB" in expected or "RPAR" in expected):
            o_line, o_col, char = opener
            closer = {"{": "}", "[": "]", "(": ")"}[char]
            what = "block" if char == "{" else ("list" if char == "[" else "parenthesis")
            return (f"unclosed '{char}': this {what} is never closed",
                    f"add the matching '{closer}' (the file ended while it was still open)",
                    o_line, o_col)
        last = len(lines)
        return (f"unexpected end of file: expected {describe_expected(expected)}{_where(keyword, previous)}",
                None, last, len(lines[-1]) + 1 if lines else 1)

    if token.type == "RBRACE" and "RBRACE" not in expected and _at_statement_start(expected):
        return ("unexpected '}': there is no open block to close here",
                "remove it, or check that every '{' above is closed once", line, col)

    if token.type == "NAME":
        word = token.value
        upper = word.upper()
        if upper in KEYWORDS and word != upper and (
                upper in expected or _at_statement_start(expected) and upper in STATEMENT_KEYWORDS):
            return (f"keywords are upper case: '{word}' should be '{upper}'",
                    f"did you mean {upper}?", line, col)
        if _at_statement_start(expected) and _starts_statement(token, text, previous):
            guess = did_you_mean(word, STATEMENT_KEYWORDS)
            hint = (f"did you mean {guess}?" if guess else
                    "a statement starts with a keyword such as RUN, WRITE, ASSERT, STEP or VAR")
            return f"unknown command '{word}'", hint, line, col
        guess = did_you_mean(word, sorted(t for t in expected if t.isupper() and t in KEYWORDS))
        if guess:
            return (f"unexpected '{word}': expected {describe_expected(expected)}",
                    f"did you mean {guess}?", line, col)

    stack = list(getattr(error.state, "value_stack", None) or [])[-3:]
    for keyword_token, brace in zip(stack, stack[1:]):
        if (isinstance(keyword_token, Token) and keyword_token.type in ("IF", "ELSE")
                and isinstance(brace, Token) and brace.type == "LBRACE"):
            return (f"{keyword_token.value} needs a condition before its block",
                    f"write it as {keyword_token.value} x == 1 {{ … }}", brace.line, brace.column)
    if "HEREDOC" in expected and token.value == "<":
        return ("'<<' must be followed by the heredoc's delimiter",
                "name the line that ends it, e.g. <<EOF … EOF", line, col)
    if token.type == "EQUAL" and "CMP_OP" in expected:
        return ("a single '=' only assigns (in VAR and SET_BUDGET)",
                "compare with ==", line, col)
    bracket = _open_bracket_before(text, token, expected)
    if bracket is not None:
        return bracket

    message = f"expected {describe_expected(expected)}{_where(keyword, previous)}, found {describe_token(token)}"
    return message, _hint_for(token, expected, keyword, previous, lines, line, col), line, col


def _where(keyword, previous) -> str:
    """" after RUN" when the error follows a keyword, else " in RUN"."""
    if previous is not None and (previous.type in KEYWORDS or previous.type == "DIRECTIVE"):
        return f" after {previous.value}"
    return f" in {keyword.value}" if keyword is not None else ""


def _hint_for(token, expected, keyword, previous, lines, line, col):
    if token.type == "NUMBER" and "DURATION" in expected:
        return f"give it a unit: {token.value}s, {token.value}m, {token.value}ms or {token.value}h"
    if "STRING" in expected and token.type in ("NAME", "NUMBER") and keyword is not None:
        if keyword.type in ("RUN", "LOG") and previous is keyword:
            rest = lines[line - 1][col - 1:].split("#")[0].strip() if 0 < line <= len(lines) else token.value
            command, *clauses = re.split(r"\s+(?=(?:TIMEOUT|AS)\b)", rest, maxsplit=1)
            return f'quote it: {keyword.value} "{command}"' + "".join(" " + c for c in clauses)
        return f'quote it: "{token.value}"'
    if "STRING" in expected and token.type == "LBRACE" and keyword is not None:
        return f'{keyword.value} needs a description: {keyword.value} "what it does" {{ … }}'
    if token.type == "_NL" and "LBRACE" in expected and len(expected) <= 3:
        return "open the block with '{' on the same line"
    return None


def _open_bracket_before(text, token, expected):
    """A list or parenthesis still open when a new line started: point at
    the opener rather than at the line after it."""
    if not ({"RSQB", "RPAR"} & set(expected)) or token.type == "$END":
        return None
    start = getattr(token, "start_pos", None)
    if start is None or text.rfind("\n", 0, start) < 0:
        return None
    line_start = text.rfind("\n", 0, start) + 1
    if text[line_start:start].strip():
        return None  # not the first token on its line
    opener = find_unclosed_opener(text[:start])
    if opener is None or opener[2] not in "[(":
        return None
    o_line, o_col, char = opener
    closer = "]" if char == "[" else ")"
    what = "list" if char == "[" else "parenthesis"
    return (f"unclosed '{char}': this {what} is never closed",
            f"add the matching '{closer}' before the end of the expression", o_line, o_col)


def _starts_statement(token, text, previous) -> bool:
    """Is ``token`` where a user begins a statement: first on its line, or
    right after a brace? (After `ASSERT a`, a stray `b` is not a command.)"""
    if previous is not None and previous.type in ("LBRACE", "RBRACE"):
        return True
    start = getattr(token, "start_pos", None)
    if start is None:
        return True
    return not text[text.rfind("\n", 0, start) + 1:start].strip()


def _at_statement_start(expected) -> bool:
    return len(set(expected) & set(STATEMENT_KEYWORDS)) > 3
