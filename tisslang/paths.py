"""The lexical rules of workspace paths (docs/reference.md §8), shared by the
checker (for constant paths, before anything runs) and the runtime (for every
path, before it also resolves symlinks on the real filesystem)."""

from __future__ import annotations

import posixpath
import re

# The run folder in every workspace (docs/runtime.md, "The run folder and resume"), never a plan's file.
RUN_FOLDER = ".tiss"

# A knowledge base's name (@knowledge "name", tiss kb --kb NAME): the name of a
# file in the workspace's .tiss/kb/, never a path (docs/knowledge.md).
KNOWLEDGE_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]{0,63}")
KNOWLEDGE_NAME_HINT = "use letters, digits, '-', '_' or '.', starting with a letter or digit"

RELATIVE_HINT = 'write it relative to the workspace root, e.g. "out/report.txt"'


def path_problem(name: str) -> tuple[str, str] | None:
    """Why ``name`` cannot name a workspace file, as (message, hint), or None
    when it is fine as far as its spelling goes."""
    if not name.strip():
        return "empty file path", RELATIVE_HINT
    quoted = f'path "{name}"'
    if "\0" in name:       # no file name can hold one (the OS refuses it)
        return f"path {name!r} contains a NUL character", "remove the NUL from the path"
    if name.startswith(("/", "~")):
        return f"{quoted} is absolute; files must be inside the workspace", RELATIVE_HINT
    normal = posixpath.normpath(name)
    first = normal.split("/")[0]
    if first == "..":
        return (f"{quoted} leaves the workspace through '..'",
                "paths are relative to the workspace root and cannot go above it")
    if normal == ".":
        return f"{quoted} is the workspace itself, not a file", RELATIVE_HINT
    if first == RUN_FOLDER:
        return (f"{quoted} is inside {RUN_FOLDER}/, the run folder, which plans cannot use",
                f"choose another folder than {RUN_FOLDER}/")
    return None
