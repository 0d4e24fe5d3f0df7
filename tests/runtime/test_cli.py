"""`tiss run / resume / runs / log` as a user calls them: exit codes, --json,
messages without tracebacks."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap

import pytest

TISS = [sys.executable, "-m", "runtime.cli"]


def tiss(workspace, *args, stdin=None):
    return subprocess.run([*TISS, *args], cwd=workspace, capture_output=True, text=True,
                          timeout=60, input=stdin)


@pytest.fixture
def plan(tmp_path):
    def write(text, name="plan.tiss"):
        (tmp_path / name).write_text(textwrap.dedent(text))
        return name
    return write


def test_success_json_is_one_object_with_run_id_status_and_steps(tmp_path, plan):
    name = plan('''\
        TASK "t" {
          STEP "hello" { RUN "echo hi" }
        }
        ''')
    result = tiss(tmp_path, "run", name, "--sandbox", "host", "--json")
    assert result.returncode == 0, result.stderr
    summary = json.loads(result.stdout)          # exactly one JSON object
    assert summary["status"] == "succeeded"
    assert summary["steps"] == [{"name": "hello", "status": "succeeded",
                                 "duration": summary["steps"][0]["duration"]}]
    assert (tmp_path / ".tiss" / "runs" / summary["run_id"] / "events.jsonl").exists()


@pytest.mark.parametrize("body, code, words", [
    ('ASSERT 1 == 2', 1, "1 == 2 failed"),
    ('REQUEST_REVIEW "ok?"', 3, "rejected"),
])
def test_exit_codes_for_failure_and_rejection(tmp_path, plan, body, code, words):
    result = tiss(tmp_path, "run", plan(body + "\n"), "--sandbox", "host", "--review", "reject")
    assert result.returncode == code
    assert words in result.stdout


def test_pause_exits_75_and_prints_the_exact_resume_command(tmp_path, plan):
    name = plan('''\
        REQUEST_REVIEW "ship it?"
        WRITE "shipped.txt" "yes"
        ''')
    paused = tiss(tmp_path, "run", name, "--sandbox", "host")      # stdin is not a TTY: pause
    assert paused.returncode == 75
    command = paused.stdout.split("resume with: ")[1].split(" --approve")[0]
    assert command.startswith("tiss resume ")
    run_id = command.split()[2]
    assert not (tmp_path / "shipped.txt").exists()
    resumed = tiss(tmp_path, "resume", run_id, "--approve")
    assert resumed.returncode == 0, resumed.stdout + resumed.stderr
    assert (tmp_path / "shipped.txt").read_text() == "yes"


def test_ask_policy_reads_the_answer_from_the_terminal(tmp_path, plan):
    name = plan('''\
        REQUEST_REVIEW "ship it?"
        VAR said = LAST_REVIEW.COMMENT
        ''')
    result = tiss(tmp_path, "run", name, "--sandbox", "host", "--review", "ask", "--json",
                  stdin="maybe\na fine change\n")
    summary = json.loads(result.stdout)
    assert summary["status"] == "succeeded", result.stderr
    assert summary["variables"]["said"] == "fine change"
    assert "ship it?" in result.stderr


def test_parse_errors_exit_2_with_the_position(tmp_path, plan):
    result = tiss(tmp_path, "run", plan('TASK "t" {\n  run "ls"\n}\n'), "--sandbox", "host")
    assert result.returncode == 2
    assert "plan.tiss:2:" in result.stderr
    assert "Traceback" not in result.stderr
    as_json = tiss(tmp_path, "run", "plan.tiss", "--json")
    summary = json.loads(as_json.stdout)
    assert (as_json.returncode, summary["status"], summary["diagnostics"][0]["line"]) == (2, "invalid", 2)


def test_a_missing_plan_file_exits_2_with_a_hint(tmp_path):
    result = tiss(tmp_path, "run", "nope.tiss")
    assert result.returncode == 2
    assert "cannot read plan 'nope.tiss'" in result.stderr
    assert "Traceback" not in result.stderr


def test_an_unknown_run_id_exits_2(tmp_path):
    for command in (["resume", "nope"], ["log", "nope"]):
        result = tiss(tmp_path, *command)
        assert result.returncode == 2
        assert "no run 'nope'" in result.stderr


def test_runs_and_log_show_what_happened(tmp_path, plan):
    name = plan('LOG "hello from the plan"\n')
    run = json.loads(tiss(tmp_path, "run", name, "--sandbox", "host", "--json").stdout)
    listing = json.loads(tiss(tmp_path, "runs", "--json").stdout)
    assert [(r["run_id"], r["status"], r["plan"]) for r in listing["runs"]] == [
        (run["run_id"], "succeeded", "plan.tiss")]
    log = tiss(tmp_path, "log", run["run_id"])
    assert "hello from the plan" in log.stdout
    events = json.loads(tiss(tmp_path, "log", run["run_id"], "--json").stdout)["events"]
    assert [e["event"] for e in events] == ["run_started", "done", "run_done"]


def test_dry_run_costs_each_step_and_touches_nothing(tmp_path, plan):
    name = plan('''\
        TASK "t" {
          STEP "build" {
            RUN "touch built"
            RUN "touch tested"
          }
          STEP "ask" { PROMPT_AGENT "review this" }
        }
        ''')
    result = tiss(tmp_path, "run", name, "--dry-run", "--json")
    assert result.returncode == 0, result.stderr
    summary = json.loads(result.stdout)
    assert [(s["name"], s["estimate"]["RUN_COUNT"], s["estimate"]["API_CALLS"]) for s in summary["steps"]] == [
        ("build", 2, 0), ("ask", 0, 1)]
    assert not (tmp_path / "built").exists()
    assert not (tmp_path / ".tiss").exists()


def test_dry_run_uses_durations_seen_in_earlier_runs(tmp_path, plan):
    name = plan('RUN "sleep 0.3"\n')
    first = json.loads(tiss(tmp_path, "run", name, "--sandbox", "host", "--json").stdout)
    estimate = json.loads(tiss(tmp_path, "run", name, "--dry-run", "--json").stdout)["total"]
    assert estimate["EXECUTION_TIME"] == pytest.approx(first["variables"]["LAST_RUN"]["DURATION"], abs=0.01)
    assert estimate["UNSEEN_COMMANDS"] == 0


def test_demo_plans_a_goal_with_the_shipped_model_and_runs_it(tmp_path):
    result = subprocess.run([sys.executable, "-m", "runtime.demo", "--sandbox", "host"],
                            capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "01_hello.tiss" in result.stdout and "constructs used:" in result.stdout
    assert "model sees:  write a function «I0» in «F0»" in result.stdout
    assert "constrained by the grammar" in result.stdout
    assert "succeeded in run" in result.stdout
    assert "ASSERT LAST_RUN.EXIT_CODE == 0" in result.stdout and "calc.py" in result.stdout


def test_building_the_command_line_loads_no_numpy():
    """Every `tiss` call builds the whole parser first; the flags of `tiss model
    train` and `plot` must not cost `tiss run` NumPy's import (about 0.15 s)."""
    code = ("import sys; from runtime.cli import build_parser; build_parser(); "
            "sys.exit('numpy' in sys.modules)")
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stderr or "building the parser imported numpy"


def test_a_plain_run_loads_no_yaml_and_no_thread_pool(tmp_path):
    """PyYAML comes with the first configuration file read, and the thread
    pool with the first PARALLEL: neither with every `tiss run` and every
    batch worker's fork server (about 25 ms of imports between them)."""
    code = ("import sys, pathlib, runtime.session, runtime.batch, runtime.tool_context\n"
            "from runtime.session import run_plan\n"
            "out = run_plan('TASK \"t\"\\nWRITE \"a.txt\" \"hi\"\\nASSERT FILE \"a.txt\" EXISTS\\n', "
            "pathlib.Path(sys.argv[1]), sandbox='host')\n"
            "assert out.status == 'succeeded', out.error\n"
            "sys.exit(' '.join(m for m in ('yaml', 'concurrent.futures') if m in sys.modules) or None)")
    env = {**os.environ, "XDG_CONFIG_HOME": str(tmp_path / "config")}
    result = subprocess.run([sys.executable, "-c", code, str(tmp_path)], capture_output=True, text=True,
                            timeout=60, env=env)
    assert result.returncode == 0, result.stderr or "imported anyway"


def test_a_run_without_mcp_servers_loads_no_asyncio():
    """asyncio (and ssl with it, ~50 ms) comes with the first MCP server, not
    with every `tiss run` and every batch worker's fork server."""
    code = ("import sys, runtime.session, runtime.batch, runtime.tool_context, tools.mcp_client; "
            "sys.exit('asyncio' in sys.modules)")
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stderr or "asyncio was imported"
