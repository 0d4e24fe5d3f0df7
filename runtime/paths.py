"""Workspace confinement for WRITE, APPEND, READ and FILE.

A plan names files relative to the workspace. Refused, with nothing written:
absolute paths, ``..`` that climbs out, symlinks (anywhere on the path) that
lead outside, and the run folder ``.tiss/`` which is not a plan's to touch.
"""

from __future__ import annotations

import os
import threading
from pathlib import Path, PurePosixPath

from tisslang.paths import RELATIVE_HINT, RUN_FOLDER, path_problem

from .errors import RunError


def confine(workspace: Path, name: str, line: int = 0) -> Path:
    """Return the real path of workspace file ``name`` or raise RunError."""
    problem = path_problem(name)
    if problem:
        message, hint = problem
        raise RunError(message, line, hint=hint)
    parts = [p for p in PurePosixPath(name).parts if p not in ("", ".")]
    root = Path(os.path.realpath(workspace))
    target = Path(os.path.realpath(root.joinpath(*parts))) if parts else root
    if target != root and root not in target.parents:
        raise RunError(f'path "{name}" leads outside the workspace through a symlink', line,
                       hint="copy the file into the workspace instead of linking to it")
    relative = target.relative_to(root).parts
    if relative and relative[0] == RUN_FOLDER:
        raise RunError(f'path "{name}" is inside {RUN_FOLDER}/, the run folder, which plans cannot use', line,
                       hint=f"choose another folder than {RUN_FOLDER}/")
    if target == root:
        raise RunError(f'path "{name}" is the workspace itself, not a file', line, hint=RELATIVE_HINT)
    return target


def write_atomic(path: Path, text: str, append: bool = False) -> None:
    """Write (or append) via a temporary file and a rename, so a reader or a
    crash never sees half a file. Parent folders are created."""
    path.parent.mkdir(parents=True, exist_ok=True)
    if append and path.exists():
        text = path.read_text(encoding="utf-8") + text
    temp = path.with_name(f".{path.name}.tiss-tmp-{os.getpid()}-{threading.get_ident()}")
    temp.write_text(text, encoding="utf-8")
    os.replace(temp, path)


def read_text(path: Path, name: str, line: int = 0) -> str:
    try:
        return path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise RunError(f"file {name!r} does not exist", line) from None
    except IsADirectoryError:
        raise RunError(f"{name!r} is a folder, not a file", line) from None
    except UnicodeDecodeError:
        raise RunError(f"file {name!r} is not UTF-8 text", line) from None
