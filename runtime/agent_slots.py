"""Slots for the agent loop: what our own small TissLM never has to copy.

The planner's lesson (runtime/slots.py) holds for the agent too: a 1M-
parameter model learns *where* a file name or a text goes, not how to copy
one letter by letter. So, for our own TissLM only (the loop's compact mode):

- the goal's literals become typed markers, as for the planner::

      Create "notes.txt" containing "buy milk".  ->  Create «F0» containing «T0».

- each observation's content gets a marker of its own, ``«On»`` for the
  observation of step n (the text of a file read, the output of a command),
  so an answer that reports it is ``{"answer": "«O1»"}``; the model still
  sees the text, with the literals it already has written as their markers
  and any new file path given the next «F» marker (so "which file mentions
  X?" is answered by the marker of the path the search found);
- the action the model writes holds markers, and ``fill`` puts the literals
  back before the tool runs: as they are in JSON strings (they are data
  there), and as one shell argument each inside a ``shell`` command (a goal's
  command, «C», as the user wrote it). A file in the workspace can hold
  anything: its text never becomes shell syntax.

Markers are one digit (runtime/slots.py), so steps from 10 on get no «O».
"""

from __future__ import annotations

import re

from .slots import CLOSE, FILE_IN_TEXT, MAX_PER_TYPE, OPEN, TYPES, SlotError, shell_word, slot

MARKER = re.compile(rf"{OPEN}([{''.join(TYPES)}O])(\d){CLOSE}")   # the goal's types, and O: an observation
SHELL_ARGUMENTS = {("shell", "command")}   # tool arguments that are shell command lines


class AgentSlots:
    """The marker table of one agent run: the goal's, then each observation's."""

    def __init__(self, goal: str):
        try:
            slotted = slot(goal)
            self.goal, self.values = slotted.text, dict(slotted.values)
        except SlotError:   # too many literals: the goal as written, no markers
            self.goal, self.values = goal, {}

    def add(self, values: dict[str, str]) -> None:
        """Markers a step introduced (read back from the run's state on resume)."""
        self.values.update(values)

    def markers(self) -> tuple[str, ...]:
        return tuple(self.values)

    # --- observations -----------------------------------------------------------

    def observe(self, n: int, result, text: str) -> tuple[str, dict[str, str]]:
        """(what the model reads of step ``n``'s result, the markers it adds).
        ``text`` is what the model is shown of it, already cut (``listing``
        gives the compact form of lists)."""
        new: dict[str, str] = {}
        content = _content(result)
        visible = self._marked(text, new)
        if content and n < MAX_PER_TYPE:
            marker = f"{OPEN}O{n}{CLOSE}"
            new[marker] = content
            visible = f"{marker} = {visible}"
        self.values.update(new)
        return visible, new

    def _marked(self, text: str, new: dict[str, str]) -> str:
        """``text`` with known literals as their markers, new file paths as new «F»s."""
        known = sorted(((v, m) for m, v in self.values.items() if m[1] in "FTICN" and len(v) > 1),
                       key=lambda pair: -len(pair[0]))
        for value, marker in known:
            text = re.sub(rf"(?<!\w){re.escape(value)}(?!\w)", marker, text)

        def path(match: re.Match) -> str:
            files = [m for m in (*self.values, *new) if m[1] == "F"]
            if len(files) >= MAX_PER_TYPE:
                return match.group()
            marker = f"{OPEN}F{len(files)}{CLOSE}"
            new[marker] = match.group()
            if match.group().endswith(".py"):
                new[f"{OPEN}M{len(files)}{CLOSE}"] = match.group()[:-3].replace("/", ".")
            return marker
        return FILE_IN_TEXT.sub(path, text)

    # --- actions ----------------------------------------------------------------

    def fill(self, tool: str, arguments: dict) -> dict:
        """The action's arguments with every marker replaced by its literal."""
        return {name: self._filled(value, (tool, name) in SHELL_ARGUMENTS) for name, value in arguments.items()}

    def _filled(self, value, shell: bool):
        if isinstance(value, str):
            return MARKER.sub(lambda m: self._literal(m, value, shell), value) if OPEN in value else value
        if isinstance(value, list):
            return [self._filled(v, False) for v in value]
        if isinstance(value, dict):
            return {k: self._filled(v, False) for k, v in value.items()}
        return value

    def _literal(self, marker: re.Match, text: str, shell: bool) -> str:
        literal = self.values.get(marker.group())
        if literal is None or not shell or marker.group(1) == "C":
            return marker.group() if literal is None else literal
        if text[:marker.start()].count("'") % 2:      # inside '…' already
            return literal.replace("'", "'\\''")
        return shell_word(literal)


def _content(result) -> str | None:
    """What «On» stands for: a text's text, a command's output; else nothing."""
    if isinstance(result, str):
        return result.rstrip("\n") or None
    if isinstance(result, dict) and {"exit_code", "stdout"} <= set(result):
        return (result["stdout"] or "").rstrip("\n") or None
    return None


def listing(result) -> str | None:
    """Search hits and file lists one per line, as grep and ls print them
    (shorter than their JSON for a small context); None for anything else."""
    if isinstance(result, list) and result and all(isinstance(r, dict) and {"path", "line", "text"} <= set(r)
                                                   for r in result):
        return "\n".join(f"{r['path']}:{r['line']}: {r['text']}" for r in result)
    if isinstance(result, list) and all(isinstance(r, str) for r in result):
        return "\n".join(result) or "(none)"
    return None


def pattern_for(markers) -> str:
    """A JSON-schema pattern for a string argument: any text, but « and » only
    as one of ``markers`` (the constraint holds the model to it)."""
    known = "|".join(re.escape(m) for m in sorted(markers))
    return f"^(?:[^{OPEN}{CLOSE}]{'|' + known if known else ''})*$"
