"""Durability for real: `tiss run` in a subprocess, killed (SIGKILL) or
interrupted (SIGINT) in the middle of a long RUN, then `tiss resume`.
Side-effect counter files prove each completed RUN ran exactly once."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

from runtime.journal import RunFolder, list_runs

TISS = [sys.executable, "-m", "runtime.cli"]

# The long command writes its pid (= its process group: the host sandbox starts
# each command in a new session) and sleeps the first time only.
LONG = 'echo $$ > long.pid; echo x >> count_long; [ $(wc -l < count_long) -gt 1 ] || sleep 60'

PLAN = textwrap.dedent(f"""\
    TASK "durable" {{
      STEP "first" {{
        RUN "echo x >> count_a"
        VAR greeting = "hello"
      }}
      STEP "second" {{
        RUN "echo x >> count_b"
        RETRY 3 {{
          RUN "echo x >> count_c"
          RUN "{LONG}"
        }}
        RUN "echo x >> count_d"
      }}
      ASSERT greeting == "hello"
    }}
    """)

PARALLEL_PLAN = textwrap.dedent(f"""\
    TASK "durable parallel" {{
      PARALLEL {{
        STEP "quick" {{
          RUN "echo x >> count_quick"
        }}
        STEP "slow" {{
          RUN "echo x >> count_slow_before"
          RUN "{LONG}"
        }}
      }}
      RUN "echo x >> count_after"
    }}
    """)


def start(workspace: Path, plan: str, sandbox: str = "host") -> subprocess.Popen:
    (workspace / "plan.tiss").write_text(plan)
    return subprocess.Popen([*TISS, "run", "plan.tiss", "--sandbox", sandbox],
                            cwd=workspace, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)


def wait_for(path: Path, seconds: float = 30) -> None:
    deadline = time.monotonic() + seconds
    while not (path.exists() and path.read_text().strip()):
        assert time.monotonic() < deadline, f"{path.name} never appeared"
        time.sleep(0.05)


def wait_for_step_done(workspace: Path, step: str, seconds: float = 30) -> None:
    """Wait until the journal records that ``step`` completed."""
    deadline = time.monotonic() + seconds
    while not any(event["event"] == "step_done" and event.get("name") == step
                  for folder in list_runs(workspace) for event in folder.events()):
        assert time.monotonic() < deadline, f"step {step!r} never completed"
        time.sleep(0.05)


def kill_leftover(workspace: Path) -> None:
    """SIGKILL of tiss leaves the host command running (no isolation): end it."""
    try:
        os.killpg(int((workspace / "long.pid").read_text()), signal.SIGKILL)
    except (ProcessLookupError, ValueError, FileNotFoundError):
        pass


def group_alive(pgid: int) -> bool:
    """Is any non-zombie process left in this process group?"""
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if int(fields[2]) == pgid and fields[0] != "Z":
            return True
    return False


def counts(workspace: Path) -> dict[str, int]:
    return {p.name: len(p.read_text().splitlines()) for p in sorted(workspace.glob("count_*"))}


def resume(workspace: Path, run_id: str, *extra) -> subprocess.CompletedProcess:
    return subprocess.run([*TISS, "resume", run_id, "--json", *extra], cwd=workspace,
                          capture_output=True, text=True, timeout=60)


@pytest.mark.parametrize("plan, expected", [
    (PLAN, {"count_a": 1, "count_b": 1, "count_c": 1, "count_d": 1, "count_long": 2}),
    (PARALLEL_PLAN, {"count_quick": 1, "count_slow_before": 1, "count_after": 1, "count_long": 2}),
], ids=["nested-retry", "parallel"])
def test_sigkill_during_a_long_run_then_resume_runs_every_completed_run_once(tmp_path, plan, expected):
    process = start(tmp_path, plan)
    try:
        wait_for(tmp_path / "long.pid")
        if plan is PARALLEL_PLAN:
            wait_for_step_done(tmp_path, "quick")
        process.send_signal(signal.SIGKILL)
        process.wait(timeout=10)
    finally:
        kill_leftover(tmp_path)
    (folder,) = list_runs(tmp_path)
    assert folder.summary()["status"] == "crashed"

    finished = resume(tmp_path, folder.run_id)

    summary = json.loads(finished.stdout)
    assert finished.returncode == 0, finished.stdout + finished.stderr
    assert summary["status"] == "succeeded"
    # The interrupted RUN ran again (it never completed); every other RUN once.
    assert counts(tmp_path) == expected
    assert all(step["status"] == "succeeded" for step in summary["steps"])


@pytest.mark.parametrize("plan, expected", [
    (PLAN, {"count_a": 1, "count_b": 1, "count_c": 1, "count_d": 1, "count_long": 2}),
    (PARALLEL_PLAN, {"count_quick": 1, "count_slow_before": 1, "count_after": 1, "count_long": 2}),
], ids=["nested-retry", "parallel"])
def test_sigint_stops_the_run_keeps_the_checkpoint_and_says_how_to_resume(tmp_path, plan, expected):
    process = start(tmp_path, plan)
    try:
        wait_for(tmp_path / "long.pid")
        if plan is PARALLEL_PLAN:
            wait_for_step_done(tmp_path, "quick")
        process.send_signal(signal.SIGINT)
        output, _ = process.communicate(timeout=20)
        stopped = not group_alive(int((tmp_path / "long.pid").read_text()))
    finally:
        kill_leftover(tmp_path)
    assert process.returncode == 130, output
    assert stopped, "the interrupted command is still running"
    (folder,) = list_runs(tmp_path)
    assert f"resume with: tiss resume {folder.run_id}" in output
    assert "Traceback" not in output
    assert folder.summary()["status"] == "interrupted"

    finished = resume(tmp_path, folder.run_id)
    assert json.loads(finished.stdout)["status"] == "succeeded", finished.stdout + finished.stderr
    assert counts(tmp_path) == expected


def test_a_finished_run_cannot_be_resumed(tmp_path):
    (tmp_path / "plan.tiss").write_text('VAR x = 1\n')
    subprocess.run([*TISS, "run", "plan.tiss", "--sandbox", "host"], cwd=tmp_path, check=True,
                   capture_output=True)
    (folder,) = list_runs(tmp_path)
    again = resume(tmp_path, folder.run_id)
    assert again.returncode == 2
    assert "already ended: succeeded" in again.stderr
    assert "Traceback" not in again.stderr


def test_restored_state_equals_the_state_at_the_end(tmp_path):
    """Replay (checkpoint + later deltas) rebuilds exactly the final state."""
    from runtime import run_plan
    outcome = run_plan(textwrap.dedent("""\
        TASK "t" {
          VAR a = 1
          RUN "echo hi" AS greet
          STEP "s" { VAR b = [1, {k: "v"}] }
          IF a == 1 { VAR c = "yes" }
        }
        """), tmp_path, sandbox="host")
    restored = RunFolder(outcome.journal).restore()
    assert restored.user_variables() == outcome.variables


def test_large_outputs_are_files_and_come_back_whole(tmp_path):
    from runtime import run_plan
    outcome = run_plan('RUN "head -c 100000 /dev/zero | tr \'\\\\0\' a"\n', tmp_path, sandbox="host")
    assert outcome.status == "succeeded", outcome.error
    folder = RunFolder(outcome.journal)
    assert list((folder.path / "outputs").glob("*.txt"))
    assert all(len(line) < 20_000 for line in (folder.path / "events.jsonl").read_text().splitlines())
    assert folder.restore().vars["LAST_RUN"]["STDOUT"] == "a" * 100000


def test_a_line_cut_short_by_a_kill_is_skipped_and_sealed(tmp_path):
    folder = RunFolder.create(tmp_path, "VAR x = 1\n")
    folder.append("done", delta=[["vars", "x", 1]])
    folder.close()
    with open(folder.path / "events.jsonl", "a") as events:
        events.write('{"seq": 2, "event": "done", "delta": [["vars", "x", 2')   # killed mid-write
    reopened = RunFolder.open(tmp_path, folder.run_id)
    assert reopened.restore().vars == {"x": 1}
    reopened.append("done", delta=[["vars", "y", 3]])
    reopened.close()
    assert RunFolder(folder.path).restore().vars == {"x": 1, "y": 3}


def test_sigkill_then_resume_in_docker(tmp_path):
    """The same in the default backend: the killed run's container is reaped
    and the resumed run gets a fresh one."""
    from .test_examples import docker_or_skip
    docker_or_skip()
    process = start(tmp_path, PLAN, sandbox="docker")
    wait_for(tmp_path / "long.pid", seconds=60)
    process.send_signal(signal.SIGKILL)
    process.wait(timeout=10)
    (folder,) = list_runs(tmp_path)

    finished = resume(tmp_path, folder.run_id)

    assert json.loads(finished.stdout)["status"] == "succeeded", finished.stdout + finished.stderr
    assert counts(tmp_path) == {"count_a": 1, "count_b": 1, "count_c": 1, "count_d": 1, "count_long": 2}
