"""One duration rule (``tisslang.parser.parse_duration``) for the checker and
the interpreter: a text one accepts, the other accepts, with the same value."""

import json

import pytest

import tisslang
from runtime import Session
from tisslang.checker import check
from tisslang.parser import parse_duration


@pytest.mark.parametrize("text, seconds", [
    ("500ms", 0.5), ("30s", 30.0), ("5m", 300.0), ("2h", 7200.0), ("1.5s", 1.5), ("0.25h", 900.0),
])
def test_each_unit(text, seconds):
    assert parse_duration(text) == pytest.approx(seconds)


@pytest.mark.parametrize("text", ["30", " 30s", "30s ", "30 s", "30S", "1d", "-1s", "s", "", "1e3s", "30sec"])
def test_texts_that_are_not_durations(text):
    assert parse_duration(text) is None


# Texts both passes must judge alike: "30" is the case they once disagreed on.
TEXTS = ["30", "30s", "500ms", "5m", "2h", " 30s", "30 s", "0s", "1.5s", "ten", "30S"]


def checker_accepts(text: str) -> bool:
    program = tisslang.parse(f'TASK "t" {{\n    @timeout "{text}"\n    LOG "x"\n}}\n', "plan.tiss")
    return not [d for d in check(program) if d.severity == "error"]


def interpreter_accepts(workspace, text: str, statement: str) -> bool:
    """Interpolated, the text reaches the interpreter unchecked."""
    with Session(workspace, journal=False) as session:
        assert session.execute(f'VAR t = "{text}"\n').status == "succeeded"
        outcome = session.execute(statement)
    assert outcome.status in ("succeeded", "failed")
    if outcome.status == "failed":
        assert "duration" in outcome.error or "longer than zero" in outcome.error, outcome.error
    return outcome.status == "succeeded"


@pytest.mark.parametrize("text", TEXTS)
def test_checker_and_interpreter_agree_on_timeout_directive(tmp_path, text):
    assert interpreter_accepts(tmp_path, text, '@timeout "{{t}}"\nLOG "x"\n') == checker_accepts(text)


@pytest.mark.parametrize("text", TEXTS)
def test_checker_and_interpreter_agree_on_execution_time_budget(tmp_path, text):
    assert interpreter_accepts(tmp_path, text, 'SET_BUDGET EXECUTION_TIME = "{{t}}"\n') == checker_accepts(text)


def test_an_interpolated_run_timeout_that_is_no_duration_is_one_clear_error(tmp_path):
    with Session(tmp_path, journal=False) as session:
        session.execute('VAR t = "30"\n')
        outcome = session.execute('RUN "true" TIMEOUT "{{t}}"\n')
    assert outcome.status == "failed"
    assert "RUN TIMEOUT '30' is not a duration" in outcome.error
    assert "hint: write a number followed by ms, s, m or h" in outcome.error


def test_the_interpreter_reads_the_duration_it_was_given(tmp_path):
    with Session(tmp_path, journal=False) as session:
        session.execute('VAR t = "1.5m"\n')
        outcome = session.execute('SET_BUDGET EXECUTION_TIME = "{{t}}"\n')
        assert outcome.status == "succeeded"
        assert session.interp.budget.limit("EXECUTION_TIME") == pytest.approx(90.0)


def test_dry_run_of_an_interpolated_run_timeout_guesses_instead_of_crashing(tmp_path, capsys):
    from runtime.cli import main
    from runtime.cost import UNKNOWN_RUN_SECONDS
    plan = tmp_path / "plan.tiss"
    plan.write_text('TASK "t" {\n    VAR t = "5s"\n    STEP "s" {\n        RUN "true" TIMEOUT "{{t}}"\n'
                    '    }\n}\n', encoding="utf-8")
    assert main(["run", "--dry-run", "--json", str(plan), "--workspace", str(tmp_path)]) == 0
    total = json.loads(capsys.readouterr().out)["total"]
    assert total["EXECUTION_TIME"] == UNKNOWN_RUN_SECONDS and total["UNSEEN_COMMANDS"] == 1
