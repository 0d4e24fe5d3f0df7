"""What `tiss repl` needs to read TissLang from a person: when an entry is
complete, what to offer on Tab, and the key that submits.

The words come from the language's one keyword table (``tisslang.keywords``),
which the highlighter reads too, so the two never disagree on what a keyword is.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Callable, Iterable

from prompt_toolkit.completion import Completer, Completion
from prompt_toolkit.key_binding import KeyBindings

from tisslang.heredoc import prescan
from tisslang.highlight import BUILTINS, FILTERS
from tisslang.hints import find_unclosed_opener
from tisslang.keywords import RESERVED

KEYWORDS = sorted(RESERVED)
# name -> (its argument, what it does)
REPL_COMMANDS = {
    ":help": ("", "what you can type"),
    ":vars": ("", "the variables in scope"),
    ":last": ("", "the last RUN in full (exit code, output, duration)"),
    ":plan": ("GOAL", "a planner model writes a plan; approve, edit or reject it"),
    ":agent": ("GOAL", "the agent loop solves GOAL with the tools; its answer goes in `answer`"),
    ":run": ("FILE", "run a .tiss file in this session"),
    ":save": ("FILE", "write the session's statements as a formatted plan"),
    ":undo": ("", "drop the last statement from what :save writes"),
    ":reset": ("", "a fresh session: no variables, budgets or statements"),
    ":quit": ("", "leave (Ctrl-D does the same)"),
}
HIDDEN_DIRS = {".tiss", ".git", "__pycache__"}

_WORD = re.compile(r"[A-Za-z_][\w.]*$")


def is_complete(text: str) -> bool:
    """True when ``text`` can be run: no heredoc and no block left open.
    A command line (``:save x``) is always complete."""
    if text.lstrip().startswith(":"):
        return True
    scanned = prescan(text, "<repl>")
    if scanned.unclosed_heredoc:
        return False
    return find_unclosed_opener(scanned.text) is None


def submit_on_complete_entry() -> KeyBindings:
    """Enter runs the entry when it is complete, and starts a new line
    while a block or heredoc is still open (Escape, Enter always runs it,
    so a person can see the parse error instead of being stuck)."""
    bindings = KeyBindings()

    @bindings.add("enter")
    def _(event):
        buffer = event.current_buffer
        state = buffer.complete_state
        if state and state.current_completion:
            buffer.apply_completion(state.current_completion)
        elif is_complete(buffer.text):
            buffer.validate_and_handle()
        else:
            buffer.insert_text("\n")

    @bindings.add("escape", "enter")
    def _(event):
        event.current_buffer.validate_and_handle()

    return bindings


class TissCompleter(Completer):
    """Keywords, variables in scope (and their fields), workspace paths
    inside strings, tool names after CALL, and the REPL's own commands.

    ``variables`` and ``tools`` are callables so the completer always sees
    the session as it is now, not as it was when the prompt started."""

    def __init__(self, workspace: Path, variables: Callable[[], dict],
                 tools: Callable[[], Iterable[str]] = lambda: ()):
        self.workspace = Path(workspace)
        self.variables = variables
        self.tools = tools

    def get_completions(self, document, complete_event):
        before = document.text_before_cursor
        line = document.current_line_before_cursor
        where = _where(line)
        if before.lstrip().startswith(":"):
            yield from self._command(before.lstrip())
        elif where == "comment":
            return
        elif where == "string":
            partial = line[max(line.rfind('"'), line.rfind("'")) + 1:]
            if "{{" in partial and "}}" not in partial[partial.rfind("{{"):]:
                yield from self._names(partial[partial.rfind("{{") + 2:].strip(), with_filters=True)
            else:
                yield from _paths(self.workspace, partial)
        elif re.search(r"\bCALL\s+\w*$", line):
            word = re.search(r"\w*$", line).group()
            yield from _matching(word, sorted(self.tools()))
        else:
            match = _WORD.search(line)
            yield from self._names(match.group() if match else "", keywords=True)

    def _command(self, text: str):
        name, space, rest = text.partition(" ")
        if not space:
            yield from _matching(name, REPL_COMMANDS, meta={n: text for n, (_, text) in REPL_COMMANDS.items()})
        elif name in (":run", ":save"):
            yield from _paths(Path.cwd(), rest)

    def _names(self, word: str, keywords: bool = False, with_filters: bool = False):
        variables = self.variables()
        if "." in word:   # LAST_RUN.EX -> the record's fields
            owner, _, field = word.rpartition(".")
            value = variables.get(owner.split(".")[0])
            for part in owner.split(".")[1:]:
                value = value.get(part) if isinstance(value, dict) else None
            if isinstance(value, dict):
                yield from _matching(field, sorted(value))
            return
        if with_filters and "|" in word:
            yield from _matching(word.rpartition("|")[2].strip(), FILTERS)
            return
        names = sorted(set(variables) | set(BUILTINS))
        yield from _matching(word, names, meta={n: "variable" for n in variables})
        if keywords and word:
            yield from _matching(word, KEYWORDS)


def _matching(word: str, candidates, meta=None):
    for candidate in candidates:
        if candidate.startswith(word) and candidate != word:
            yield Completion(candidate, start_position=-len(word),
                             display_meta=(meta or {}).get(candidate, ""))


def _where(line: str) -> str:
    """Is the end of this line in "code", a "string" or a "comment"?"""
    quote = None
    escaped = False
    for char in line:
        if escaped:
            escaped = False
        elif char == "\\" and quote:
            escaped = True
        elif quote and char == quote:
            quote = None
        elif not quote and char in "\"'":
            quote = char
        elif not quote and char == "#":
            return "comment"
    return "string" if quote else "code"


def _paths(root: Path, partial: str):
    """Entries of ``root / dirname(partial)`` starting with its basename;
    directories end with '/'. The run folders under .tiss are not offered."""
    folder, _, stem = partial.rpartition("/")
    base = root / folder if folder else root
    try:
        entries = sorted(base.iterdir())
    except OSError:
        return
    for entry in entries:
        if entry.name in HIDDEN_DIRS or not entry.name.startswith(stem):
            continue
        name = entry.name + ("/" if entry.is_dir() else "")
        yield Completion(name, start_position=-len(stem), display_meta="dir" if entry.is_dir() else "file")
