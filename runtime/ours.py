"""QuantaTissu's own ``tools`` and ``model`` packages, even inside a user's
project that has top-level packages of the same names.

The problem: ``python -m pytest`` (and ``python -m anything``) puts the
project's root first on ``sys.path``, so ``import tools`` finds the user's
package. Our pytest plugin and CALL run in that process and need ours,
while the user's tests must keep getting theirs.

The design: ``sys.modules`` can hold one module per name, so while our code
imports, ``our_names()`` puts our packages under the shared names (loaded
from the folder this file is installed in) and afterwards puts the user's
back; our modules stay alive through the references that were bound. Every
``runtime.*`` module is loaded inside ``our_names()`` by a path finder that
``install()`` adds (runtime/__init__.py calls it), so module-level
``from model.fileio import …`` in the runtime is always ours. Plugins are
imported inside it too (``from tools import tool`` is ours there). When no
name is shadowed (the usual case) ``our_names()`` does nothing.

Limits: a function-level ``import model…`` that runs later, outside
``our_names()``, gets the user's package; keep our imports at module level
or wrap them. The swap is process-wide while it lasts (an import lock keeps
our swaps apart, not a user's thread importing at that instant).
"""

from __future__ import annotations

import importlib
import importlib.abc
import importlib.machinery
import importlib.util
import sys
import threading
from contextlib import contextmanager
from pathlib import Path
from types import ModuleType

HOME = Path(__file__).resolve().parent.parent    # the folder that holds our packages
SHARED_NAMES = ("tools", "model")                # ours, and common in users' projects
_kept: dict[str, ModuleType] = {}                # our modules while the user's hold the names
_lock = threading.RLock()


def _top(dotted: str) -> str:
    return dotted.partition(".")[0]


def _is_ours(path: str | None, name: str) -> bool:
    return path is not None and Path(path).resolve().is_relative_to(HOME / name)


def shadowed(name: str) -> bool:
    """True when ``import name`` would not give QuantaTissu's package."""
    module = sys.modules.get(name)
    if module is not None:
        return not _is_ours(getattr(module, "__file__", None), name)
    try:
        spec = importlib.machinery.PathFinder.find_spec(name)
    except (ImportError, ValueError):
        return True
    return spec is None or not _is_ours(spec.origin, name)


@contextmanager
def our_names():
    """Inside: ``tools``, ``model`` and their submodules are ours. After:
    whatever the process had under those names before."""
    with _lock:
        names = [name for name in SHARED_NAMES if shadowed(name)]
        if not names:
            yield
            return
        theirs = {k: sys.modules.pop(k) for k in list(sys.modules) if _top(k) in names}
        sys.modules.update({k: m for k, m in _kept.items() if _top(k) in names})
        try:
            for name in names:
                if name not in sys.modules:
                    _load_package(name)
            yield
        finally:
            for key in [k for k in sys.modules if _top(k) in names]:
                _kept[key] = sys.modules.pop(key)
            sys.modules.update(theirs)


def _load_package(name: str) -> None:
    spec = importlib.util.spec_from_file_location(name, HOME / name / "__init__.py",
                                                  submodule_search_locations=[str(HOME / name)])
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    try:
        spec.loader.exec_module(module)
    except BaseException:
        del sys.modules[name]
        raise


def ours(dotted: str) -> ModuleType:
    """Our module ``dotted`` (e.g. "tools.registry"), whoever owns the name."""
    with our_names():
        return importlib.import_module(dotted)


class _Guarded(importlib.abc.Loader):
    """Runs a runtime module's top level inside ``our_names()``."""

    def __init__(self, loader):
        self.loader = loader

    def create_module(self, spec):
        return self.loader.create_module(spec)

    def exec_module(self, module):
        with our_names():
            self.loader.exec_module(module)

    def __getattr__(self, name):   # get_source, is_package, … for tracebacks and tools
        return getattr(self.loader, name)


class _RuntimeFinder(importlib.abc.MetaPathFinder):
    """Finds ``runtime.*`` as usual and guards its loader."""

    def find_spec(self, fullname, path=None, target=None):
        if not fullname.startswith("runtime.") or path is None:
            return None
        spec = importlib.machinery.PathFinder.find_spec(fullname, path, target)
        if spec is not None and spec.loader is not None and _is_ours(spec.origin, "runtime"):
            spec.loader = _Guarded(spec.loader)
        return spec


def install() -> None:
    """Guard every later ``runtime.*`` import (idempotent)."""
    if not any(isinstance(finder, _RuntimeFinder) for finder in sys.meta_path):
        sys.meta_path.insert(0, _RuntimeFinder())
