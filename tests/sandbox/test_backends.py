"""What every backend does the same way: the Sandbox contract of base.py."""

from __future__ import annotations

import os
import signal
import threading

import pytest

from runtime.sandbox import SandboxError
from runtime.sandbox.base import CANCELLED_EXIT_CODE
from runtime.sandbox.client import explain_executor_death

from .conftest import ISOLATED, make_sandbox, processes_with, wait_for


def test_exit_code_stdout_and_stderr_are_kept_apart(sandbox):
    result = sandbox.run("echo out; echo err >&2; exit 3", timeout=20)
    assert (result.exit_code, result.stdout, result.stderr) == (3, "out\n", "err\n")
    assert not (result.timed_out or result.oom_killed or result.stdout_truncated)
    assert result.started_at <= result.ended_at and result.duration >= 0


def test_a_signal_death_reads_as_128_plus_the_signal(sandbox):
    assert sandbox.run("kill -TERM $$", timeout=20).exit_code == 128 + signal.SIGTERM


def test_commands_run_in_the_workspace_and_their_files_stay_usable(sandbox, workspace):
    (workspace / "given.txt").write_text("from the host\n")
    result = sandbox.run("cat given.txt && mkdir -p out && echo made > out/new.txt", timeout=20)
    assert result.stdout == "from the host\n"
    sandbox.close()  # gives a root-owned workspace back (Docker)
    made = workspace / "out" / "new.txt"
    assert made.read_text() == "made\n"
    assert made.stat().st_uid == os.getuid()  # the host user owns what commands wrote
    made.write_text("still writable\n")


def test_each_run_is_a_fresh_shell(sandbox):
    sandbox.run("cd /tmp; export LEFT=over; x=1", timeout=20)
    result = sandbox.run('pwd; echo "[$LEFT][$x]"', timeout=20)
    assert result.stdout.splitlines()[1] == "[][]"
    assert result.stdout.splitlines()[0].endswith(("/workspace", "/ws"))


@pytest.mark.parametrize("backend", ISOLATED)  # the host backend cannot hide anything
def test_the_run_folder_is_hidden_from_isolated_commands(backend, workspace):
    journal = workspace / ".tiss" / "runs" / "r1" / "events.jsonl"
    journal.parent.mkdir(parents=True)
    journal.write_text('{"event": "started"}\n')
    with make_sandbox(backend, workspace) as box:
        result = box.run("cat .tiss/runs/r1/events.jsonl; echo forged > .tiss/evil && echo WROTE",
                         timeout=20)
    assert "started" not in result.stdout and "WROTE" not in result.stdout
    assert journal.read_text() == '{"event": "started"}\n'
    assert not (workspace / ".tiss" / "evil").exists()


@pytest.mark.parametrize("backend", ISOLATED)  # the sandboxes the project builds
def test_python_is_python3_in_isolated_sandboxes(backend, workspace):
    # Upstream TissLang's hello_world.tiss runs `python main.py`.
    (workspace / "main.py").write_text("import sys\nprint('hello', sys.version_info[0])\n")
    with make_sandbox(backend, workspace) as box:
        version = box.run("python -c 'import sys; print(sys.version_info[0])'", timeout=20)
        hello = box.run("python main.py", timeout=20)
    assert (version.exit_code, version.stdout, version.stderr) == (0, "3\n", "")
    assert hello.stdout == "hello 3\n"


def test_parallel_commands_overlap(sandbox):
    results = []

    def one(i):
        results.append(sandbox.run(f"echo {i}; sleep 1", timeout=30))

    threads = [threading.Thread(target=one, args=(i,)) for i in range(3)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sorted(r.stdout for r in results) == ["0\n", "1\n", "2\n"]
    latest_start = max(r.started_at for r in results)
    earliest_end = min(r.ended_at for r in results)
    assert latest_start < earliest_end  # all three were running at the same moment


def test_cancel_all_kills_running_commands(sandbox, marker):
    results = []
    worker = threading.Thread(target=lambda: results.append(
        sandbox.run(f"python3 -c 'import time; time.sleep(300)' {marker}", timeout=600)))
    worker.start()
    wait_for(lambda: processes_with(marker), "the command to start")
    sandbox.cancel_all()
    worker.join(timeout=20)
    assert not worker.is_alive()
    assert results[0].exit_code == CANCELLED_EXIT_CODE
    wait_for(lambda: not processes_with(marker), "the cancelled command to end")
    assert sandbox.run("echo next", timeout=20).stdout == "next\n"  # still usable


def test_ctrl_c_in_the_calling_thread_kills_the_command(sandbox, marker):
    def press_ctrl_c_once_it_runs():   # SIGINT to the main thread, as a terminal sends it
        wait_for(lambda: processes_with(marker), "the command to start")
        signal.pthread_kill(threading.main_thread().ident, signal.SIGINT)

    pressing = threading.Thread(target=press_ctrl_c_once_it_runs)
    pressing.start()
    try:
        with pytest.raises(KeyboardInterrupt):
            sandbox.run(f"python3 -c 'import time; time.sleep(300)' {marker}", timeout=600)
    finally:
        pressing.join()
    wait_for(lambda: not processes_with(marker), "the interrupted command to end")


@pytest.mark.parametrize("backend", ISOLATED)
def test_a_sandbox_killed_by_its_own_command_says_so(backend, workspace):
    with make_sandbox(backend, workspace) as box:
        with pytest.raises(SandboxError) as caught:
            box.run("kill -KILL -1", timeout=30)
    message = str(caught.value)
    assert "killed by signal 9 (SIGKILL)" in message
    assert "a command in the sandbox killed" in message
    assert "memory" not in (caught.value.hint or "")  # it was not an OOM kill


def test_only_a_kernel_reported_oom_is_blamed_on_memory():
    what, hint = explain_executor_death(137, oom_killed=True)
    assert "OOM killer" in what and "sandbox.memory_mb" in hint
    for oom in (False, None):  # no OOM, or no way to tell (bubblewrap without cgroup)
        what, hint = explain_executor_death(137, oom_killed=oom)
        assert "SIGKILL" in what and "memory_mb" not in (hint or "")
    assert "unknown" in explain_executor_death(None, None)[0]


def test_close_is_idempotent_and_run_after_close_is_a_clear_error(backend, workspace):
    box = make_sandbox(backend, workspace)
    box.start()
    box.close()
    box.close()
    with pytest.raises(SandboxError, match="not started"):
        box.run("true")

