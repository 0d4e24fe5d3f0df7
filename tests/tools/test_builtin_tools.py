"""The built-in tools through CALL: a real workspace, a real sandbox,
the run's journal, budgets and review policy."""

from __future__ import annotations

import json
import os

import pytest

from runtime import Session, resume_run, run_plan
from runtime.journal import RunFolder
from tests.sandbox.conftest import require_backend


def run(workspace, source, **options):
    options.setdefault("sandbox", "host")
    options.setdefault("review", "approve")
    with Session(workspace, **options) as session:
        outcome = session.execute(source)
        return outcome, session


def test_file_tools_work_in_the_workspace(tmp_path):
    outcome, session = run(tmp_path, '''
CALL write_file {path: "src/a.py", content: "def one():\\n    return 1\\n"}
CALL write_file {path: "src/a.py", content: "def two(): pass\\n", append: true}
CALL write_file {path: "notes.txt", content: "nothing"}
CALL read_file {path: "src/a.py"} INTO text
CALL list_files {} INTO every
CALL list_files {path: "src", pattern: "*.py"} INTO python
CALL search_files {regex: "^def (one|two)"} INTO defs
''')
    assert outcome.status == "succeeded", outcome.error
    found = session.variables
    assert found["text"] == "def one():\n    return 1\ndef two(): pass\n"
    assert found["every"] == ["notes.txt", "src/a.py"]     # .tiss/ (the run folder) is never listed
    assert found["python"] == ["src/a.py"]
    assert found["defs"] == [{"path": "src/a.py", "line": 1, "text": "def one():"},
                             {"path": "src/a.py", "line": 3, "text": "def two(): pass"}]


def test_replace_in_file_replaces_every_occurrence_and_refuses_a_missing_text(tmp_path):
    (tmp_path / "notes.txt").write_text("one two one\nthree\n")
    outcome, session = run(tmp_path, 'CALL replace_in_file {path: "notes.txt", old: "one", new: "1"} INTO done\n')
    assert outcome.status == "succeeded", outcome.error
    assert session.variables["done"] == {"path": "notes.txt", "replaced": 2}
    assert (tmp_path / "notes.txt").read_text() == "1 two 1\nthree\n"
    outcome, _ = run(tmp_path, 'CALL replace_in_file {path: "notes.txt", old: "four", new: "4"}\n')
    assert outcome.status == "failed" and "does not contain 'four'" in outcome.error
    assert (tmp_path / "notes.txt").read_text() == "1 two 1\nthree\n"   # nothing written


@pytest.mark.parametrize("call, message", [
    ('CALL read_file {path: "../outside.txt"}', "leaves the workspace"),
    ('CALL write_file {path: "/tmp/x", content: "x"}', "absolute"),
    ('CALL replace_in_file {path: "link/secret.txt", old: "secret", new: "x"}', "symlink"),
    ('CALL read_file {path: ".tiss/runs"}', "run folder"),
    ('CALL read_file {path: "link/secret.txt"}', "symlink"),
    ('CALL list_files {path: "link"}', "not a folder inside the workspace"),
])
def test_file_tools_are_confined_to_the_workspace(tmp_path, call, message):
    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / "secret.txt").write_text("secret")
    workspace = tmp_path / "ws"
    workspace.mkdir()
    os.symlink(outside, workspace / "link")
    outcome, _ = run(workspace, call)
    assert outcome.status == "failed"
    assert message in outcome.error


def test_list_files_does_not_follow_a_symlink_out(tmp_path):
    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / "secret.txt").write_text("secret")
    workspace = tmp_path / "ws"
    workspace.mkdir()
    (workspace / "mine.txt").write_text("mine")
    os.symlink(outside, workspace / "link")
    os.symlink(outside / "secret.txt", workspace / "secret-link.txt")
    outcome, session = run(workspace, 'CALL list_files {} INTO every\nCALL search_files {regex: "secret"} INTO hits\n')
    assert outcome.status == "succeeded", outcome.error
    assert session.variables["every"] == ["mine.txt"]
    assert session.variables["hits"] == []


def test_shell_runs_in_the_run_sandbox_and_counts_as_a_run(tmp_path):
    require_backend("bwrap")
    marker = tmp_path.parent / f"host-only-{tmp_path.name}"
    marker.write_text("on the host")
    outcome, session = run(tmp_path, f'''
SET_BUDGET RUN_COUNT = 1
CALL shell {{command: "echo made > made.txt; cat {marker} || echo unseen"}} INTO out
VAR left = BUDGET.RUN_COUNT
''', sandbox="bwrap")
    assert outcome.status == "succeeded", outcome.error
    out = session.variables["out"]
    assert out["exit_code"] == 0 and "unseen" in out["stdout"] and "on the host" not in out["stdout"]
    assert (tmp_path / "made.txt").read_text() == "made\n"
    assert session.variables["left"] == 0
    outcome, _ = run(tmp_path, 'SET_BUDGET RUN_COUNT = 0\nCALL shell {command: "true"}\n', sandbox="bwrap")
    assert outcome.status == "failed" and "budget exceeded: RUN_COUNT" in outcome.error


def test_every_call_counts_against_api_calls(tmp_path):
    outcome, _ = run(tmp_path, 'SET_BUDGET API_CALLS = 1\nCALL list_files {}\nCALL list_files {}\n')
    assert outcome.status == "failed" and "budget exceeded: API_CALLS" in outcome.error


def test_shell_is_reviewed_rejected_and_paused_then_resumed(tmp_path):
    outcome, _ = run(tmp_path, 'CALL shell {command: "echo hi > hi.txt"}\n', review="reject")
    assert outcome.status == "rejected"
    assert "tool 'shell' wants to run the command: echo hi > hi.txt" in outcome.error
    assert not (tmp_path / "hi.txt").exists()
    paused = run_plan('CALL shell {command: "echo hi > hi.txt"} INTO out\n', tmp_path, sandbox="host", review="pause")
    assert paused.status == "paused" and not (tmp_path / "hi.txt").exists()
    resumed = resume_run(paused.run_id, tmp_path, verdict="approve", review="pause")
    assert resumed.status == "succeeded", resumed.error
    assert (tmp_path / "hi.txt").read_text() == "hi\n"


def test_run_plan_runs_a_fragment_in_the_current_run(tmp_path):
    outcome, session = run(tmp_path, '''
VAR name = "tiss"
CALL run_plan {source: "WRITE \\"out.txt\\" \\"hello {{name}}\\"\\nVAR inner = 7"} INTO result
''')
    assert outcome.status == "succeeded", outcome.error
    assert (tmp_path / "out.txt").read_text() == "hello tiss"
    assert session.variables["inner"] == 7
    assert session.variables["result"]["status"] == "succeeded"
    outcome, _ = run(tmp_path, 'CALL run_plan {source: "ASSERT 1 == 2"}\n')
    assert outcome.status == "failed" and "1 == 2" in outcome.error
    outcome, _ = run(tmp_path, 'CALL run_plan {source: "RUN"}\n')
    assert outcome.status == "failed" and "tool 'run_plan' failed: the fragment does not parse" in outcome.error


def test_calls_are_journaled_with_their_source(tmp_path):
    outcome, session = run(tmp_path, 'CALL final_answer {answer: "42"} INTO done\n')
    assert outcome.status == "succeeded" and session.variables["done"] == "42"
    events = list(RunFolder(session.folder.path).events())
    assert {"event": "tool_event", "tool": "final_answer", "final_answer": "42"}.items() <= \
        next(e for e in events if e["event"] == "tool_event").items()
    done = next(e for e in events if e.get("stmt") == "Call")
    assert done["tool"] == "final_answer" and done["source"] == "built-in"


def test_a_bad_argument_fails_at_the_call_line(tmp_path):
    outcome, _ = run(tmp_path, 'VAR n = 3\nCALL read_file {path: n}\n')
    assert outcome.status == "failed"
    assert outcome.error.startswith("<session>:2:1: error: tool 'read_file' refused its arguments: "
                                    "argument 'path': expected a string, got 3 (integer)")


def test_tiss_tools_lists_every_tool_as_json(capsys):
    from runtime.cli import main
    assert main(["tools", "--json"]) == 0
    listed = json.loads(capsys.readouterr().out)
    shell = next(t for t in listed["tools"] if t["name"] == "shell")
    assert shell["source"] == "built-in" and shell["risky"] is True
    assert shell["parameters"]["required"] == ["command"]
    assert main(["tools"]) == 0
    assert "read_file  (built-in)\n    Read a UTF-8 text file of the workspace.\n    path: a string" in \
        capsys.readouterr().out
