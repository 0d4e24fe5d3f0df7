"""The QuantaTissu runtime: interpreter, sandboxes, journal, review, CLI.

Public API (see docs/runtime.md): ``run_plan``, ``resume_run``, ``Session``,
``RunOutcome``.
"""

__all__ = ["run_plan", "resume_run", "Session", "RunOutcome"]

# Our own `tools` and `model` packages for every runtime module, even in a
# project that has packages of the same names (runtime/ours.py explains).
from .ours import install as _install_our_imports  # noqa: E402

_install_our_imports()


def __getattr__(name):
    # Imported lazily so `tiss --help` does not load the interpreter.
    if name in __all__:
        from . import session
        return getattr(session, name)
    raise AttributeError(name)
