"""The QuantaTissu runtime: interpreter, sandboxes, journal, review, CLI.

Public API (see docs/runtime.md): ``run_plan``, ``resume_run``, ``Session``,
``RunOutcome``; ``run_agent`` (the ReAct loop, docs/agent.md).
"""

__all__ = ["run_plan", "resume_run", "Session", "RunOutcome", "run_agent"]

# Our own `tools` and `model` packages for every runtime module, even in a
# project that has packages of the same names (runtime/ours.py explains).
from .ours import install as _install_our_imports  # noqa: E402

_install_our_imports()


def __getattr__(name):
    # Imported lazily so `tiss --help` does not load the interpreter.
    if name == "run_agent":
        from .agent import run_agent
        return run_agent
    if name in __all__:
        from . import session
        return getattr(session, name)
    raise AttributeError(name)
