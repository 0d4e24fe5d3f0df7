"""The state of a run: everything resume must restore, in one JSON-able place.

State is a handful of flat *sections* (dicts). Every change goes through
``set``/``delete`` so the journal can record exactly what a statement changed
(``take_delta``) and ``apply_delta`` can replay it on resume:

- ``vars``      plan variables, plus LAST_RUN, LAST_PROMPT, LAST_ERROR, ...
- ``progress``  block key -> how many of its statements completed
- ``decisions`` statement key -> what a compound statement decided
                (IF arm, CHOOSE option, RETRY attempt, TRY phase, ...)
- ``steps``     step key -> {name, status, duration, ...}
- ``budget``    ``limit.KEY`` / ``spent.KEY`` and ``elapsed`` seconds

Values are plain JSON data and are never mutated in place, only replaced.

Each thread records its own changes, so a PARALLEL branch's journal event
carries what that branch did.
"""

from __future__ import annotations

import threading
from typing import Any

SECTIONS = ("vars", "progress", "decisions", "steps", "budget")

# Variables that each PARALLEL branch keeps for itself (see ``branch_name``).
PER_BRANCH = ("LAST_RUN", "LAST_PROMPT", "LAST_ERROR", "LAST_CALL", "LAST_REVIEW", "LAST_COST")


class State:
    def __init__(self, sections: dict[str, dict] | None = None):
        self.sections: dict[str, dict[str, Any]] = {name: {} for name in SECTIONS}
        for name, values in (sections or {}).items():
            self.sections[name].update(values)
        self.lock = threading.RLock()
        self._local = threading.local()   # each thread records its own changes

    @property
    def _dirty(self) -> dict[tuple[str, str], bool]:
        dirty = getattr(self._local, "dirty", None)
        if dirty is None:
            dirty = self._local.dirty = {}
        return dirty

    # --- changes (recorded for the journal) --------------------------------

    def set(self, section: str, key: str, value: Any) -> None:
        self.sections[section][key] = value
        self._dirty[(section, key)] = True

    def delete(self, section: str, key: str) -> None:
        if self.sections[section].pop(key, _MISSING) is not _MISSING:
            self._dirty[(section, key)] = True

    def delete_prefix(self, section: str, prefix: str) -> None:
        """Forget every entry below a finished statement (its inner blocks)."""
        doomed = [k for k in self.sections[section] if k.startswith(prefix)]
        for key in doomed:
            self.delete(section, key)

    def take_delta(self) -> list:
        """The changes since the last call, as ``[section, key, value]``
        (value omitted for a deletion); clears the record."""
        delta = []
        for section, key in self._dirty:
            values = self.sections[section]
            delta.append([section, key, values[key]] if key in values else [section, key])
        self._local.dirty = {}
        return delta

    def apply_delta(self, delta: list) -> None:
        for change in delta:
            section, key = change[0], change[1]
            if len(change) == 3:
                self.sections[section][key] = change[2]
            else:
                self.sections[section].pop(key, None)

    def snapshot(self) -> dict:
        return {name: dict(values) for name, values in self.sections.items()}

    # --- convenience views ---------------------------------------------------

    @property
    def vars(self) -> dict[str, Any]:
        return self.sections["vars"]

    def user_variables(self) -> dict[str, Any]:
        """Variables as a plan sees them, without per-branch copies."""
        return {k: v for k, v in self.vars.items() if "@" not in k}


def branch_name(name: str, branch: str) -> str:
    """Inside a PARALLEL child, LAST_RUN and friends belong to that child, so
    two concurrent branches never read each other's last command."""
    return f"{name}@{branch}" if branch and name in PER_BRANCH else name


_MISSING = object()
