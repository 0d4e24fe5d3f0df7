"""The QuantaTissu runtime: interpreter, sandboxes, journal, review, CLI.

Public API (see docs/runtime.md): ``run_plan``, ``resume_run``, ``Session``,
``RunOutcome``.
"""

__all__ = ["run_plan", "resume_run", "Session", "RunOutcome"]


def __getattr__(name):
    # Imported lazily so `tiss --help` does not load the interpreter.
    if name in __all__:
        from . import session
        return getattr(session, name)
    raise AttributeError(name)
