"""The REPL's behaviour, driven through prompt-toolkit's pipe input on the
host sandbox (the docker test at the end checks the container lives on)."""

from __future__ import annotations

import io
import os
import signal
import threading
import time
import uuid

import docker
import pytest

import tisslang
from runtime import run_plan
from runtime.cli import main as tiss
from runtime.journal import RunFolder
from runtime.repl import Repl
from tisslang.formatter import format_source

from ..waiting import wait_for
from .conftest import ENTER, lines


# --- a persistent session --------------------------------------------------------


def test_variables_last_run_and_budgets_live_across_entries(drive):
    run = drive(*lines('VAR name = "world"',
                       'SET_BUDGET RUN_COUNT = 2',
                       'RUN "echo hello {{name}}"',
                       'ASSERT LAST_RUN.STDOUT CONTAINS "hello world"',
                       'RUN "echo two"',
                       'RUN "echo three"'))
    assert run.variables["name"] == "world"
    assert run.variables["LAST_RUN"]["STDOUT"] == "two\n"
    assert "│ hello world" in run.text
    assert "failed: budget exceeded: RUN_COUNT would reach 3, the limit is 2" in run.text
    statuses = [e["status"] for e in run.events_named("repl_input")]
    assert statuses == ["succeeded"] * 5 + ["failed"]


def test_every_statement_is_journaled_like_a_run(drive, workspace):
    run = drive(*lines('VAR a = 1', 'STEP "check" {\nASSERT a == 1\n}'))
    kinds = [e["event"] for e in run.events]
    assert kinds[0] == "session_started" and kinds[-1] == "session_ended"
    done = [(e["stmt"], e["key"]) for e in run.events_named("done")]
    assert done == [("Var", "c0.0"), ("Assert", "c1.0.0"), ("Step", "c1.0")]
    assert [e["name"] for e in run.events_named("step_done")] == ["check"]
    summary = RunFolder.open(workspace, run.repl.session.run_id).summary()
    assert (summary["plan"], summary["status"]) == ("(repl)", "ended")


def test_toolbar_shows_workspace_sandbox_budget_and_run_id(drive, workspace):
    run = drive(*lines('SET_BUDGET RUN_COUNT = 5', 'RUN "true"'))
    bar = run.repl.toolbar()
    assert bar.startswith(f" …/{workspace.parent.name}/ws │")
    assert "sandbox: host" in bar
    assert "RUN_COUNT 4 left" in bar
    assert run.repl.session.run_id in bar


# --- multi-line entry -------------------------------------------------------------


@pytest.mark.parametrize("text, complete", [
    ('VAR x = 1', True),
    ('STEP "a" {', False),
    ('STEP "a" {\n  RUN "ls"', False),
    ('STEP "a" {\n  RUN "ls"\n}', True),
    ('STEP "a" { RUN "ls" }', True),
    ('IF x == 1 {\n  LOG "{ not a brace"\n', False),
    ('WRITE "f" <<EOF', False),
    ('WRITE "f" <<EOF\n{ inside the body\n', False),
    ('WRITE "f" <<EOF\n{ inside the body\nEOF', True),
    ('LOG "a } b"', True),
    (':save plan.tiss', True),
])
def test_an_entry_is_complete_when_no_block_or_heredoc_is_open(text, complete):
    from runtime.repl_input import is_complete
    assert is_complete(text) is complete


def test_blocks_and_heredocs_continue_over_several_lines(drive, workspace):
    run = drive(*lines('WRITE "notes/a.txt" <<EOF\nfirst\n{ second\nEOF',
                       'STEP "count" {\nRUN "wc -l < notes/a.txt"\nASSERT LAST_RUN.STDOUT CONTAINS "2"\n}'))
    assert (workspace / "notes/a.txt").read_text() == "first\n{ second\n"
    sources = [e["source"] for e in run.events_named("repl_input")]
    assert len(sources) == 2 and sources[1].count("\n") == 3
    assert "✓ count" in run.text


def test_a_parse_error_shows_the_diagnostic_and_the_session_goes_on(drive):
    run = drive(*lines('RUN ls', 'VAR after = "yes"'))
    assert "<repl>:1:5: error:" in run.text and 'hint: quote it: RUN "ls"' in run.text
    assert run.variables["after"] == "yes"
    assert "Traceback" not in run.text


def test_an_unexpected_exception_does_not_end_the_session(drive, monkeypatch):
    from runtime.session import Session
    real_execute = Session.execute

    def breaks_on_boom(self, statements, source=None, **options):   # the REPL's neighbour misbehaving
        if source and "boom" in source:
            raise RuntimeError("the runtime fell over")
        return real_execute(self, statements, source, **options)

    monkeypatch.setattr(Session, "execute", breaks_on_boom)
    run = drive(*lines('LOG "boom"', 'VAR after = 1'))
    assert "error: RuntimeError: the runtime fell over" in run.text
    assert run.variables["after"] == 1


# --- commands ------------------------------------------------------------------------


def test_vars_and_last(drive):
    run = drive(*lines(':vars', 'VAR count = 3', 'RUN "printf \'a\\nb\\n\'; echo oops >&2; exit 4"',
                       ':vars', ':last'))
    assert "no variables yet" in run.text
    assert "count = 3" in run.text
    assert 'LAST_RUN = {"EXIT_CODE": 4' in run.text
    assert "exit 4 in" in run.text
    assert "--- stdout ---\na\nb\n--- stderr ---\noops" in run.text


def test_save_writes_the_succeeded_statements_as_a_formatted_plan_that_runs(drive, workspace, tmp_path):
    saved = tmp_path / "saved.tiss"
    run = drive(*lines('VAR   who="me"',
                       'ASSERT who == "you"',                       # failed: not saved
                       'STEP "greet" { WRITE "hi.txt" "hi {{who}}" }',
                       'LOG "scratch"',
                       ':undo',                                   # drops the LOG
                       f':save {saved}'))
    text = saved.read_text()
    assert text == format_source('VAR who = "me"\nSTEP "greet" { WRITE "hi.txt" "hi {{who}}" }\n')
    assert "scratch" not in text and '"you"' not in text
    assert "dropped from :save: LOG \"scratch\"" in run.text
    other = tmp_path / "other"
    outcome = run_plan(saved, other, sandbox="host", review="approve")
    assert outcome.status == "succeeded"
    assert (other / "hi.txt").read_text() == "hi me"


def test_save_and_undo_with_nothing_to_do(drive, tmp_path):
    run = drive(*lines(':undo', f':save {tmp_path / "x.tiss"}', ':save'))
    assert "nothing to undo" in run.text
    assert "nothing to save yet" in run.text
    assert "usage: :save FILE" in run.text
    assert not (tmp_path / "x.tiss").exists()


def test_save_says_why_entries_do_not_make_one_plan(drive, tmp_path):
    saved = tmp_path / "two.tiss"
    run = drive(*lines('TASK "one" { VAR a = 1 }', 'TASK "two" { VAR b = 2 }', f':save {saved}',
                       ':undo', f':save {saved}'))
    assert "cannot save: the entries do not make one plan together:" in run.text
    assert "a plan has at most one TASK" in run.text
    assert tisslang.parse(saved.read_text()).body[0].description.parts[0].value == "one"


def test_run_file_in_the_session(drive, tmp_path):
    plan = tmp_path / "plan.tiss"
    plan.write_text('TASK "from a file" {\n  STEP "uses x" {\n    ASSERT x == 7\n    VAR y = "set by the file"\n  }\n}\n')
    run = drive(*lines('VAR x = 7', f':run {plan}', ':run /no/such/file.tiss'))
    assert run.variables["y"] == "set by the file"
    assert "✓ uses x" in run.text
    assert "cannot read /no/such/file.tiss: No such file or directory" in run.text
    assert run.events_named("repl_input")[1]["file"] == str(plan)


def test_reset_starts_a_fresh_session(drive, workspace):
    run = drive(*lines('VAR x = 1', ':reset', ':vars'))
    second = run.repl.session.run_id
    (first,) = {p.name for p in (workspace / ".tiss" / "runs").iterdir()} - {second}
    assert f"new session {second}" in run.text
    assert run.variables == {}
    assert [e["event"] for e in RunFolder.open(workspace, first).events()][-1] == "session_ended"


def test_help_unknown_commands_and_quit(drive):
    run = drive(*lines(':help', ':vras', ':quit', 'VAR never = 1'))
    assert ":save  FILE  write the session" in run.text and "Ctrl-C stops a running RUN" in run.text
    assert "unknown command :vras; did you mean :vars?" in run.text
    assert "never" not in run.variables


# --- :plan -------------------------------------------------------------------------------


def test_plan_without_a_model_says_no_planner_is_configured(drive, monkeypatch, tmp_path):
    from model import backend
    monkeypatch.setattr(backend, "SHIPPED", tmp_path / "no-shipped-planner")  # as if not installed
    monkeypatch.setenv("TISS_CONFIG", os.devnull)  # and no model configured
    run = drive(*lines(':plan build the docs', 'VAR after = 1'))
    assert "no planner model is configured" in run.text
    assert run.variables["after"] == 1


class PlannerModel:
    """A scripted model backend (the REPL's neighbour): always the same plan."""

    def __init__(self, plan: str):
        self.plan, self.prompts = plan, []

    def generate(self, prompt, *, system=None, max_tokens=256):
        self.prompts.append(prompt)
        return self.plan

    def score(self, options, context):
        return [0.0] * len(options)


def test_plan_runs_only_after_approval_and_can_be_edited(drive, workspace):
    model = PlannerModel('WRITE "planned.txt" "from the model"\n')
    run = drive(':plan make a file' + ENTER, 'r',
                ':plan make a file again' + ENTER, 'e', ENTER + 'LOG "edited"', "\x1b" + ENTER, 'a',
                model=model)
    assert model.prompts[0].startswith("GOAL: make a file\n")
    assert "plan discarded; nothing ran" in run.text
    assert (workspace / "planned.txt").read_text() == "from the model"
    assert [e["verdict"] for e in run.events_named("plan_answered")] == ["reject", "edit", "approve"]
    assert [e["message"] for e in run.events if e.get("stmt") == "Log"] == ["edited"]


# --- human review ----------------------------------------------------------------------


def test_review_answers_are_single_keys_and_journaled(drive):
    run = drive(*lines('REQUEST_REVIEW "ship it?"'), 'c', 'looks good' + ENTER, 'a',
                *lines('PAUSE "coffee"'), 'a',
                *lines('REQUEST_REVIEW "really?"'), 'x', 'r',       # x is ignored
                *lines('VAR after = 1'))
    assert "? REVIEW (line 1): ship it?" in run.text and "? PAUSED (line 1): coffee" in run.text
    answers = [(e["kind"], e["verdict"], e["comment"]) for e in run.events_named("review_answered")]
    assert answers == [("review", "approve", "looks good"), ("pause", "approve", ""),
                       ("review", "reject", "")]
    assert "rejected: rejected in review: really?" in run.text
    assert run.variables["after"] == 1


def test_ctrl_c_at_a_review_stops_the_entry_not_the_session(drive):
    run = drive(*lines('REQUEST_REVIEW "ship?"'), '\x03', *lines('VAR after = 1'))
    assert "interrupted: what was running was stopped" in run.text
    assert [e["status"] for e in run.events_named("repl_input")] == ["interrupted", "succeeded"]
    assert run.variables["after"] == 1


def test_choose_ask_takes_the_option_number(drive):
    run = drive(*lines('CHOOSE {\nSTEP "fast" { VAR way = "fast" }\nSTEP "thorough" { VAR way = "thorough" }\n}'),
                '2', choose="ask")
    assert "1) fast" in run.text and "2) thorough" in run.text
    assert run.variables["way"] == "thorough"
    assert [(e["kind"], e["choice"]) for e in run.events_named("review_answered")] == [("choose", "thorough")]


def test_choose_among_more_than_nine_options_takes_a_typed_number(drive):
    options = "\n".join(f'STEP "way {n}" {{ VAR way = {n} }}' for n in range(1, 12))
    run = drive(*lines(f"CHOOSE {{\n{options}\n}}"), "12" + ENTER, "10" + ENTER, choose="ask")
    assert "11) way 11" in run.text
    assert run.variables["way"] == 10


def test_a_review_inside_parallel_is_asked_too(drive):
    run = drive(*lines('PARALLEL {\nSTEP "a" { REQUEST_REVIEW "from a branch" }\nSTEP "b" { VAR b = 1 }\n}'), 'a')
    assert [e["verdict"] for e in run.events_named("review_answered")] == ["approve"]
    assert run.events_named("repl_input")[0]["status"] == "succeeded"


# --- Ctrl-C, Ctrl-D, history, resume ----------------------------------------------------


def test_ctrl_c_stops_the_running_command_and_returns_to_the_prompt(drive, workspace):
    threading.Thread(target=interrupt_when_created, args=(workspace / "started",), daemon=True).start()
    run = drive(*lines('RUN "touch started; sleep 30"', 'RUN "echo after"'))
    assert "interrupted: what was running was stopped" in run.text
    assert run.variables["LAST_RUN"]["STDOUT"] == "after\n"


def test_ctrl_c_at_the_prompt_drops_the_entry(drive):
    run = drive('VAR dropped = 1', '\x03', *lines('VAR kept = 1'))
    assert "dropped" not in run.variables and run.variables["kept"] == 1


def test_history_is_kept_between_sessions(drive, tmp_path, workspace):
    drive(*lines('VAR remembered = 1'))
    again = Repl(workspace, sandbox="host", history=tmp_path / "history", stdout=io.StringIO())
    assert "VAR remembered = 1" in list(again.prompt.history.load_history_strings())
    again.close()


def test_resume_continues_variables_and_statements(drive, workspace, tmp_path):
    first = drive(*lines('VAR x = "kept"', 'WRITE "a.txt" "a"', '@env {GREETING: "hi"}'))
    run_id = first.repl.session.run_id
    saved = tmp_path / "all.tiss"
    second = drive(*lines('ASSERT x == "kept"', 'VAR y = "new"', 'RUN "echo $GREETING"', f':save {saved}'),
                   resume=run_id)
    assert second.repl.session.run_id == run_id
    assert "resumed: 3 statements so far; variables: x" in second.text
    assert second.variables["y"] == "new"
    assert second.variables["LAST_RUN"]["STDOUT"] == "hi\n"     # the @env of the first session
    assert tisslang.parse(saved.read_text()).body[0].name == "x"
    assert len(tisslang.parse(saved.read_text()).body) == 6
    kinds = [e["event"] for e in RunFolder.open(workspace, run_id).events()]
    assert kinds.count("session_resumed") == 1 and kinds.count("session_ended") == 2


def test_resume_refuses_a_session_still_open(workspace, tmp_path):
    from runtime.errors import RunError
    open_repl = Repl(workspace, sandbox="host", history=tmp_path / "history", stdout=io.StringIO())
    open_repl.handle('VAR x = 1')
    assert RunFolder.open(workspace, open_repl.session.run_id).summary()["status"] == "running"
    with pytest.raises(RunError, match="is still open in another tiss repl"):
        Repl(workspace, sandbox="host", resume=open_repl.session.run_id, history=tmp_path / "history")
    open_repl.close()
    resumed = Repl(workspace, sandbox="host", resume=open_repl.session.run_id, history=tmp_path / "history",
                   stdout=io.StringIO())
    resumed.close()


def test_tiss_repl_needs_a_terminal(workspace, capsys):
    assert tiss(["repl", "--workspace", str(workspace)]) == 2    # pytest's stdin is not a terminal
    assert "error: tiss repl needs a terminal" in capsys.readouterr().err


def test_resume_refuses_what_is_not_a_finished_repl_session(workspace, capsys, monkeypatch):
    monkeypatch.setattr("sys.stdin.isatty", lambda: True)   # as if at a terminal
    assert tiss(["repl", "--workspace", str(workspace), "--resume", "nope"]) == 2
    assert "error: no run 'nope'" in capsys.readouterr().err
    outcome = run_plan('VAR x = 1\n', workspace, sandbox="host")
    assert tiss(["repl", "--workspace", str(workspace), "--resume", outcome.run_id]) == 2
    err = capsys.readouterr().err
    assert "is a plan run, not a REPL session" in err and f"tiss resume {outcome.run_id}" in err
    (workspace / "file.txt").write_text("")
    assert tiss(["repl", "--workspace", str(workspace / "file.txt" / "below")]) == 2
    assert "error: cannot use the workspace" in capsys.readouterr().err


# --- the docker sandbox -------------------------------------------------------------------


def test_the_docker_container_lives_across_entries_and_goes_at_ctrl_d(drive, workspace):
    client = docker.from_env()
    marker = f"/tmp/tiss-repl-{uuid.uuid4().hex}"

    def containers_of(run_id):
        return client.containers.list(all=True, sparse=True, filters={"label": f"org.quanta-tissu.run-id={run_id}"})

    seen = []

    def look():   # a tool, so it runs in the middle of the session
        (run_id,) = [p.name for p in (workspace / ".tiss" / "runs").iterdir()]
        seen.append(len(containers_of(run_id)))

    threading.Thread(target=interrupt_when_created, args=(workspace / "started",), daemon=True).start()
    run = drive(*lines(f'RUN "echo kept > {marker}"', 'CALL look {}',
                       'RUN "touch started; sleep 30"',               # Ctrl-C stops it ...
                       f'RUN "cat {marker}"'),                         # ... not the container
                sandbox="docker", tools={"look": look})
    assert seen == [1]                                        # one container while the session is open
    assert "interrupted: what was running was stopped" in run.text
    assert run.variables["LAST_RUN"]["STDOUT"] == "kept\n"    # written by the first entry
    assert not os.path.exists(marker)                         # ... inside the container, not on the host
    # removed at Ctrl-D (Docker may still be finishing the removal)
    wait_for(lambda: containers_of(run.repl.session.run_id) == [], "the container's removal")


def interrupt_when_created(marker, deadline: float = 30.0):
    """Ctrl-C (SIGINT to this process) once ``marker`` exists: the RUN
    that creates it is running then. If it never shows up, no Ctrl-C comes
    and the test fails on the missing "interrupted"."""
    end = time.monotonic() + deadline
    while not marker.exists():
        if time.monotonic() > end:
            return
        time.sleep(0.02)
    os.kill(os.getpid(), signal.SIGINT)
