"""Slots: the goal's literals, kept away from the planner model and put back
into its plan afterwards.

A small model does not learn to copy ``report_2024.csv`` or ``"hello,
world"`` from a goal into a plan, but it learns quickly where *a file name*
or *a text* goes. So before the model sees a goal, every literal in it is cut
out and replaced by a typed marker, numbered by type in order of appearance::

    create notes.txt containing "buy milk"  ->  create «F0» containing «T0»

The model writes its plan with the markers (``WRITE "«F0»" <<EOF … «T0» …``),
and ``fill`` puts the literals back, escaped for where each marker stands:
inside a TissLang string (``\\"``, ``\\\\``, no ``{{``), inside a shell command
(quoted as one argument, except a command the user wrote), inside a quoted
string of code in a heredoc (Python-style escapes), or as plain heredoc text.

The corpus generator (runtime/planner_corpus.py) slots its goals with this
same function, so training and planning agree on every marker.

Types (one letter each, the table ``TYPES``): F a file path, C a shell
command, I an identifier (function, variable, key), N a number, T any other
quoted text; and M, never in a goal: «Mn» is the importable module name of
the Python file «Fn» (``from «M0» import …`` for ``src/calc.py`` is ``src.calc``).
"""

from __future__ import annotations

import re
import shlex
from dataclasses import dataclass, field

OPEN, CLOSE = "«", "»"
TYPES = {"F": "file", "C": "command", "I": "identifier", "N": "number", "T": "text",
         "M": "module"}  # M is derived: «Mn» is the Python module of file «Fn» (a .py)
MARKER = re.compile(rf"{OPEN}([{''.join(TYPES)}])(\d){CLOSE}")
MAX_PER_TYPE = 10  # markers are «X0» … «X9»: one digit keeps each a short token

_EXTENSIONS = ("py|txt|md|json|csv|sh|yaml|yml|toml|cfg|ini|js|ts|html|css|log|rst|c|h|"
               "go|rs|java|xml|sql|tiss|out|dat|conf|env|lock")
_FILE = rf"(?:[\w.-]+/)*[\w-]+(?:\.[\w-]+)*\.(?:{_EXTENSIONS})"
FILE_RE = re.compile(rf"^{_FILE}$")
FILE_IN_TEXT = re.compile(rf"(?<![\w/.-]){_FILE}(?![\w/-]|\.\w)")   # a file path within any text
# Words after which a quoted string is a command to run.
_COMMAND_CUE = re.compile(r"\b(run|runs|running|execute|executes|executing|command|invoke|launch|"
                          r"then|try|trying|and)\W*$", re.I)
_CODE_CUE = re.compile(r"\b(function|method|class|variable|key|field|def|identifier|setting|"
                       r"option|routine|helper|define|tested)\s+(?:(?:named|called)\s+)?$", re.I)
# A word followed by "set to 30", "= 30", "is 30" names a setting.
_SETTING_AFTER = re.compile(r"^\s*(?:set to|=|is|to be|equal to|to|as)\s+-?\d+(?:\.\d+)?"
                            r"(?!\s*(?:times|attempts|tries|retries|lines)\b)", re.I)
# The first word of a quoted string that is a shell command.
COMMANDS = frozenset("""ls pwd date python python3 echo uname whoami env df du id hostname
    true false cat grep rm mv cp mkdir touch make pytest sh bash git wc head tail sort find
    truncate exit sleep pip npm node cargo go tar gzip curl which chmod sed awk tee printf
    test diff ps kill""".split())

# Literal spans, most specific first; each match becomes one slot.
_SPANS = re.compile(
    r"`(?P<tick>[^`\n]+)`"                                    # `a command`
    r'|"(?P<dq>(?:[^"\\\n]|\\.)*)"'                           # "double quoted", \" inside
    r"|(?<![\w'])'(?P<sq>(?:[^'\\\n]|\\.)+)'(?![\w])"            # 'single quoted', \' inside
    r"|“(?P<curly>[^”\n]*)”"                                  # “curly quoted”
    rf"|(?<![\w/.-])(?P<file>{_FILE})(?![\w/-]|\.\w)"          # a bare file path
    r"|(?<![\w.])(?P<ident>[A-Za-z][A-Za-z0-9]*(?:_[A-Za-z0-9]+)+|[A-Za-z_]\w*(?=\(\))"
    r"|[a-z]{2,}(?:[A-Z][a-z0-9]+)+(?![\w]))(?:\(\))?"          # snake_case, name(), camelCase
    r"|(?<![\w.])(?P<num>-?\d+(?:\.\d+)?)(?!\w|\.\d)"        # a number
    r"|(?<![\w.])(?P<word>[A-Za-z_]\w*)"                      # a word (an identifier by cue)
)
# A number that counts attempts stays in the goal: RETRY takes a digit.
_COUNT_AFTER = re.compile(r"^\s*(times|attempts|tries|retries)\b", re.I)


class SlotError(ValueError):
    """The goal has more literals of one type than the markers can hold."""


@dataclass
class Slotted:
    text: str                                   # the goal with markers
    values: dict[str, str] = field(default_factory=dict)   # "«F0»" -> "notes.txt"


def slot(goal: str) -> Slotted:
    """``goal`` with its literals replaced by typed markers (see the module)."""
    goal = " ".join(goal.split())
    out, values, counts, seen = [], {}, {}, {}
    last = 0
    for match in _SPANS.finditer(goal):
        kind, literal = _classify(match, goal)
        if kind is None:
            continue
        key = (kind, literal)
        if key not in seen:  # the same literal twice is one slot
            n = counts.get(kind, 0)
            if n >= MAX_PER_TYPE:
                raise SlotError(f"the goal names more than {MAX_PER_TYPE} {TYPES[kind]}s; "
                                "split it into smaller goals")
            counts[kind] = n + 1
            seen[key] = f"{OPEN}{kind}{n}{CLOSE}"
            values[seen[key]] = literal
        out.append(goal[last:match.start()] + seen[key])
        last = match.end()
    out.append(goal[last:])
    for marker, literal in list(values.items()):
        if marker[1] == "F" and literal.endswith(".py"):
            values[f"{OPEN}M{marker[2:]}"] = literal[:-3].replace("/", ".")
    return Slotted("".join(out), values)


def _classify(match: re.Match, goal: str) -> tuple[str | None, str]:
    before = goal[:match.start()]
    if match["tick"] is not None:
        return "C", match["tick"]
    quoted = next((match[g] for g in ("dq", "sq", "curly") if match[g] is not None), None)
    if quoted is not None:
        quoted = _unescaped(quoted)
        if FILE_RE.match(quoted):
            return "F", quoted
        if quoted.split(" ", 1)[0] in COMMANDS or (" -" in quoted and _COMMAND_CUE.search(before)):
            return "C", quoted
        if re.fullmatch(r"[A-Za-z_]\w*", quoted) and (
                _CODE_CUE.search(before) or goal[match.end():].startswith("()")
                or _SETTING_AFTER.match(goal[match.end():])):
            return "I", quoted
        return "T", quoted
    if match["file"]:
        return "F", match["file"]
    if match["ident"]:
        return "I", match["ident"]
    if match["num"]:
        if _COUNT_AFTER.match(goal[match.end():]) and re.fullmatch(r"[1-9]", match["num"]):
            return None, ""
        return "N", match["num"]
    word = match["word"]
    if word and word.lower() not in _NOT_NAMES and (
            _CODE_CUE.search(before) or _SETTING_AFTER.match(goal[match.end():])):
        return "I", word
    return None, ""


def _unescaped(quoted: str) -> str:
    """A quoted literal as the user meant it: ``\\"`` is a quote, ``\\\\`` a
    backslash; any other backslash stays as written (a Windows path)."""
    return re.sub(r"\\([\"'\\])", r"\1", quoted)


# Words a cue such as "function" is often followed by that are not its name.
_NOT_NAMES = frozenset("""a an the that which to in of and or with for named called
    returns return returning takes taking computes computing adds adding file files
    test tests it is this file line lines count number value up down code status result exit""".split())


# --- putting the literals back ----------------------------------------------------


def fill(plan: str, values: dict[str, str]) -> str:
    """``plan`` with every marker replaced by its literal, escaped for where it
    stands. A marker the goal did not have is left for the checker to see.

    A heredoc body has no escapes: a literal holding ``{{`` would open an
    interpolation there, so such a body is made raw (``<<'EOF'``), or, if the
    plan interpolates in it too, the literal is refused (SlotError)."""
    lines = plan.split("\n")
    heredoc_end: str | None = None
    opener, own_holes, braces = 0, False, False
    for i, line in enumerate(lines):
        if heredoc_end is not None:
            if line.strip() == heredoc_end:
                if braces:
                    lines[opener] = _made_raw(lines[opener], heredoc_end, own_holes)
                heredoc_end = None
            elif MARKER.search(line):
                own_holes = own_holes or "{{" in MARKER.sub("", line)
                braces = braces or any("{{" in values.get(m.group(), "") for m in MARKER.finditer(line))
                lines[i] = _fill_heredoc_line(line, values)
            else:
                own_holes = own_holes or "{{" in line
            continue
        lines[i] = _fill_plan_line(line, values)
        found = re.search(r"<<'?([A-Za-z_]\w*)'?", _outside_strings(line))
        if found:
            heredoc_end, opener, braces, own_holes = found.group(1), i, False, False
    return "\n".join(lines)


def _made_raw(line: str, delimiter: str, interpolates: bool) -> str:
    if f"<<'{delimiter}'" in line:
        return line
    if interpolates:
        raise SlotError("a literal holding '{{' cannot go into a heredoc that also "
                        "interpolates; write it without '{{'")
    return line.replace(f"<<{delimiter}", f"<<'{delimiter}'", 1)


def _outside_strings(line: str) -> str:
    """``line`` with its TissLang strings blanked (a ``<<`` inside one is text)."""
    return re.sub(r'"(?:[^"\\]|\\.)*"?', lambda m: " " * len(m.group()), line)


def _fill_plan_line(line: str, values: dict[str, str]) -> str:
    """Markers inside TissLang strings on a statement line."""
    def string(m: re.Match) -> str:
        body = m.group(1)
        shell = re.match(r"\s*(RUN|\})?\s*(RUN)\s*$", line[:m.start()]) is not None
        return '"' + MARKER.sub(lambda k: _for_string(k, values, shell, body), body) + '"'
    return re.sub(r'"((?:[^"\\]|\\.)*)"', string, line)


def _for_string(marker: re.Match, values: dict[str, str], shell: bool, body: str) -> str:
    literal = values.get(marker.group())
    if literal is None:
        return marker.group()
    if shell and marker.group(1) != "C":
        # a value in a command is one argument, never shell syntax
        if body[:marker.start()].count("'") % 2:       # already inside '…'
            literal = literal.replace("'", "'\\''")
        else:
            literal = shell_word(literal)
    return tiss_string(literal)


def shell_word(literal: str) -> str:
    """``literal`` as one shell argument (quoted only when it needs it)."""
    return literal if re.fullmatch(r"[\w./@%+=:,-]+", literal) else shlex.quote(literal)


def tiss_string(literal: str) -> str:
    """``literal`` as the inside of a TissLang "…" string: text, never an
    escape or interpolation of its own."""
    text = literal.replace("\\", "\\\\").replace('"', '\\"')
    return re.sub(r"\{(?=\{)", r"\\u{7B}", text)   # no `{` opens a `{{`


def _fill_heredoc_line(line: str, values: dict[str, str]) -> str:
    """A heredoc body line: a marker inside a "…" or '…' of the code there is
    escaped as a string of that code; elsewhere the literal goes in as it is."""
    out, last = [], 0
    for m in MARKER.finditer(line):
        literal = values.get(m.group())
        out.append(line[last:m.start()])
        if literal is None:
            out.append(m.group())
        else:
            before = line[:m.start()]
            quote = _open_quote(before)
            out.append(_code_escape(literal, quote) if quote else literal)
        last = m.end()
    out.append(line[last:])
    return "".join(out)


def _open_quote(before: str) -> str | None:
    """The quote character left open at the end of ``before``, if any."""
    quote = None
    i = 0
    while i < len(before):
        c = before[i]
        if quote and c == "\\":
            i += 2
            continue
        if c in "\"'":
            quote = None if quote == c else (quote or c)
        i += 1
    return quote


def _code_escape(literal: str, quote: str) -> str:
    return literal.replace("\\", "\\\\").replace(quote, "\\" + quote).replace("\n", "\\n")
