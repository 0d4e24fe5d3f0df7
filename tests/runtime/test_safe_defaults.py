"""Every public entry point isolates commands unless told otherwise: the
sandbox defaults to ``auto`` (Docker, else bubblewrap, never the host), and
``host`` is only ever explicit, with its warning."""

import inspect

import pytest

import runtime
from runtime.pytest_plugin import PlanRunner
from runtime.repl import Repl
from tests.sandbox.conftest import backend_problem, require_backend

HOST_WARNING = "runs commands directly on this machine, unisolated"


@pytest.mark.parametrize("entry_point", [runtime.Session, runtime.run_plan, Repl, PlanRunner],
                         ids=["Session", "run_plan", "Repl", "PlanRunner"])
def test_the_default_sandbox_is_auto(entry_point):
    assert inspect.signature(entry_point).parameters["sandbox"].default == "auto"


def test_a_session_without_a_sandbox_argument_runs_commands_isolated(tmp_path, capfd):
    require_backend("docker" if backend_problem("docker") is None else "bwrap")
    with runtime.Session(tmp_path, journal=False) as session:
        outcome = session.execute('RUN "true"\n')
        kind = session.sandbox.opened.name
    assert outcome.status == "succeeded", outcome.error
    assert kind in ("docker", "bwrap")
    assert HOST_WARNING not in capfd.readouterr().err


def test_the_host_sandbox_asked_for_explicitly_warns(tmp_path, capfd):
    with runtime.Session(tmp_path, sandbox="host", journal=False) as session:
        assert session.execute('RUN "true"\n').status == "succeeded"
        assert session.sandbox.opened.name == "host"
    assert HOST_WARNING in capfd.readouterr().err
