"""The run folder against power cuts and tampering: journal.fsync modes,
atomic output files, $file names that leave outputs/, and a run folder that
is not a real directory of the user's."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from runtime import run_plan
from runtime import journal
from runtime.config import ConfigError, load_config
from runtime.errors import RunError
from runtime.journal import RunFolder
from tests.model.test_fileio import fsync_log

TISS = [sys.executable, "-m", "runtime.cli"]

PLAN = textwrap.dedent("""\
    VAR a = 1
    STEP "one" {
      VAR b = 2
      LOG "x"
    }
    STEP "two" {
      VAR c = 3
    }
    """)


def use_config(tmp_path, monkeypatch, text: str) -> Path:
    config = tmp_path / "config.yaml"
    config.write_text(text)
    monkeypatch.setenv("TISS_CONFIG", str(config))
    return config


def run_with_fsync(tmp_path, monkeypatch, mode):
    """Run PLAN with journal.fsync = mode; return (outcome, what was fsynced, in order)."""
    use_config(tmp_path, monkeypatch, f"journal:\n  fsync: {mode}\n")
    # Checkpoints only where they are forced, not also every 0.5 s: exact counts.
    monkeypatch.setattr(journal, "CHECKPOINT_EVERY", float("inf"))
    synced = fsync_log(monkeypatch)
    outcome = run_plan(PLAN, tmp_path / "ws", sandbox="host")
    assert outcome.status == "succeeded", outcome.error
    return outcome, synced


def label(path: str) -> str:
    name = Path(path).name
    if name == "events.jsonl":
        return "events"
    if name.startswith(".checkpoint.json."):
        return "checkpoint"
    return "other"


# --- journal.fsync ------------------------------------------------------------------


def test_fsync_always_syncs_every_event(tmp_path, monkeypatch):
    outcome, synced = run_with_fsync(tmp_path, monkeypatch, "always")
    events = list(RunFolder(outcome.journal).events())
    assert [label(p) for p in synced].count("events") >= len(events) == 12


def test_fsync_step_syncs_once_per_group_commit(tmp_path, monkeypatch):
    """Group commits: step ends and the run's end, and before each checkpoint
    (run start, after each STEP statement, run end), so a checkpoint on disk
    is never ahead of the journal on disk."""
    outcome, synced = run_with_fsync(tmp_path, monkeypatch, "step")
    journal_and_checkpoints = [label(p) for p in synced if label(p) != "other"]
    assert journal_and_checkpoints == [
        "events", "checkpoint",            # run_started (a checkpoint)
        "events",                          # step_done "one"
        "events", "checkpoint",            # the STEP statement done (a checkpoint)
        "events",                          # step_done "two"
        "events", "checkpoint",            # the STEP statement done
        "events", "checkpoint",            # run_done; then its checkpoint, journal already synced
    ]
    assert len(list(RunFolder(outcome.journal).events())) == 12   # 12 events, 6 fsyncs


def test_fsync_step_makes_new_names_in_the_run_folder_durable(tmp_path, monkeypatch):
    outcome, synced = run_with_fsync(tmp_path, monkeypatch, "step")
    runs = tmp_path / "ws" / ".tiss" / "runs"
    for folder in (tmp_path / "ws", runs.parent, runs, outcome.journal):
        assert str(folder) in synced, f"{folder} was never fsynced after a name was created in it"


def test_fsync_never_syncs_nothing(tmp_path, monkeypatch):
    _, synced = run_with_fsync(tmp_path, monkeypatch, "never")
    assert synced == []


def test_fsync_defaults_to_step_and_refuses_other_values(tmp_path, monkeypatch):
    assert load_config(use_config(tmp_path, monkeypatch, "sandbox: {}\n")).journal.fsync == "step"
    with pytest.raises(ConfigError) as error:
        load_config(use_config(tmp_path, monkeypatch, "journal:\n  fsync: sometimes\n"))
    assert "journal.fsync is 'sometimes'" in str(error.value)
    assert error.value.hint == "use one of: always, step, never"


def test_a_bad_fsync_setting_stops_tiss_run_with_one_clear_error(tmp_path, monkeypatch):
    config = use_config(tmp_path, monkeypatch, "journal:\n  fsync: sometimes\n")
    (tmp_path / "plan.tiss").write_text('LOG "hi"\n')
    result = subprocess.run(TISS + ["run", str(tmp_path / "plan.tiss"), "--workspace", str(tmp_path),
                                    "--sandbox", "host"],
                            capture_output=True, text=True, env={**os.environ, "TISS_CONFIG": str(config)})
    assert result.returncode == 2
    assert "journal.fsync is 'sometimes'" in result.stderr and "Traceback" not in result.stderr


# --- outputs/ -------------------------------------------------------------------------


def test_a_large_output_is_fsynced_under_a_temporary_name_then_renamed(tmp_path, monkeypatch):
    folder = RunFolder.create(tmp_path, "", fsync="step")
    synced = fsync_log(monkeypatch)
    folder.append("done", out="a" * 100_000)
    folder.close()
    (output,) = (folder.path / "outputs").iterdir()
    temp = [p for p in synced if Path(p).name.startswith(f".{output.name}.")]
    assert temp and synced.index(temp[0]) < synced.index(str(output.parent))
    assert output.read_text() == "a" * 100_000


def test_an_output_write_that_fails_midway_leaves_no_file_to_trust(tmp_path):
    """A file-size limit makes the write fail halfway for real (EFBIG). A
    half-written outputs/<hash>.txt would be trusted forever after (it is
    named by the hash of what it should hold), so none may be left."""
    code = textwrap.dedent(f"""\
        import resource, signal
        from runtime.journal import RunFolder
        folder = RunFolder.create({str(tmp_path)!r}, "", fsync="never")
        signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
        resource.setrlimit(resource.RLIMIT_FSIZE, (50_000, 50_000))
        try:
            folder.append("done", out="a" * 100_000)
        except OSError as exc:
            print("failed:", exc.strerror)
        """)
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert result.stdout.startswith("failed:"), result.stdout + result.stderr
    (run,) = (tmp_path / ".tiss" / "runs").iterdir()
    assert list((run / "outputs").iterdir()) == []


def forged_run(tmp_path, file_name) -> RunFolder:
    """A run whose journal names ``file_name`` as an output (as an attacker who
    can edit the run folder, or ship one, would)."""
    folder = RunFolder.create(tmp_path / "ws", "", fsync="never")
    folder.append("run_started", pid=0, plan="p")
    folder.close()
    with open(folder.path / "events.jsonl", "a") as events:
        events.write(json.dumps({"seq": 2, "t": 0, "event": "done", "out": {"$file": file_name}}) + "\n")
    return folder


@pytest.fixture
def secret(tmp_path) -> Path:
    path = tmp_path / "secret"
    path.write_text("TOP SECRET")
    return path


@pytest.mark.parametrize("name", ["../../secret", "outputs/../../../secret", "SECRET_ABSOLUTE",
                                  "outputs/0123456789abcdef01234567.txt/../x", 7])
def test_a_file_name_that_leaves_outputs_is_refused(tmp_path, secret, name):
    folder = forged_run(tmp_path, str(secret) if name == "SECRET_ABSOLUTE" else name)
    with pytest.raises(RunError) as error:
        RunFolder.open(tmp_path / "ws", folder.run_id)
    assert "not a file of this run's outputs/ folder" in error.value.message
    assert "TOP SECRET" not in error.value.message


def test_an_output_that_is_a_symlink_out_is_refused(tmp_path, secret):
    name = "outputs/0123456789abcdef01234567.txt"
    folder = forged_run(tmp_path, name)
    (folder.path / "outputs").mkdir()
    (folder.path / name).symlink_to(secret)
    with pytest.raises(RunError) as error:
        list(folder.events())
    assert "cannot read this output" in error.value.message and "TOP SECRET" not in error.value.message


def test_an_outputs_folder_that_is_a_symlink_out_is_refused(tmp_path, secret):
    name = "outputs/0123456789abcdef01234567.txt"
    folder = forged_run(tmp_path, name)
    (tmp_path / "elsewhere").mkdir()
    (tmp_path / "elsewhere" / Path(name).name).write_text("TOP SECRET")
    (folder.path / "outputs").symlink_to(tmp_path / "elsewhere")
    with pytest.raises(RunError, match="cannot read this output"):
        list(folder.events())


def test_tiss_log_of_a_forged_run_is_one_clear_error(tmp_path, secret):
    folder = forged_run(tmp_path, "../../secret")
    result = subprocess.run(TISS + ["log", folder.run_id, "--workspace", str(tmp_path / "ws")],
                            capture_output=True, text=True)
    assert result.returncode == 2
    assert "not a file of this run's outputs/ folder" in result.stderr
    assert "TOP SECRET" not in result.stdout + result.stderr and "Traceback" not in result.stderr


# --- the run folder is a real directory of the user's ------------------------------------


def plant(workspace: Path, what: str, elsewhere: Path) -> Path:
    """Make .tiss (or .tiss/runs) something else than a real directory."""
    workspace.mkdir()
    elsewhere.mkdir()
    if what == ".tiss symlink":
        (workspace / ".tiss").symlink_to(elsewhere)
    elif what == ".tiss file":
        (workspace / ".tiss").write_text("not a folder")
    elif what == "runs symlink":
        (workspace / ".tiss").mkdir()
        (workspace / ".tiss" / "runs").symlink_to(elsewhere)
    return workspace


@pytest.mark.parametrize("what", [".tiss symlink", ".tiss file", "runs symlink"])
def test_a_run_folder_that_is_not_a_real_directory_is_refused(tmp_path, what):
    workspace = plant(tmp_path / "ws", what, tmp_path / "elsewhere")
    with pytest.raises(RunError) as error:
        run_plan('LOG "hi"\n', workspace, sandbox="host")
    assert ("is a symlink" if "symlink" in what else "is not a directory") in error.value.message
    assert "remove it" in error.value.hint
    assert list((tmp_path / "elsewhere").iterdir()) == []


def test_tiss_run_in_a_workspace_with_a_symlinked_run_folder_says_what_to_do(tmp_path):
    workspace = plant(tmp_path / "ws", ".tiss symlink", tmp_path / "elsewhere")
    (tmp_path / "plan.tiss").write_text('LOG "hi"\n')
    result = subprocess.run(TISS + ["run", str(tmp_path / "plan.tiss"), "--workspace", str(workspace),
                                    "--sandbox", "host"], capture_output=True, text=True)
    assert result.returncode == 2
    assert f"{workspace / '.tiss'} is a symlink" in result.stderr
    assert "hint: remove it" in result.stderr and "Traceback" not in result.stderr
    assert list((tmp_path / "elsewhere").iterdir()) == []


def test_resuming_a_run_whose_folder_became_a_symlink_is_refused(tmp_path):
    outcome = run_plan('PAUSE "wait"\n', tmp_path / "ws", sandbox="host", review="pause")
    assert outcome.status == "paused"
    moved = tmp_path / "moved"
    outcome.journal.rename(moved)
    outcome.journal.symlink_to(moved)
    with pytest.raises(RunError, match="is a symlink"):
        RunFolder.open(tmp_path / "ws", outcome.run_id)


def test_tiss_runs_in_a_workspace_with_a_symlinked_run_folder_is_refused(tmp_path):
    other = tmp_path / "other"
    run_plan('LOG "hi"\n', other, sandbox="host")     # runs that are not this workspace's
    workspace = tmp_path / "ws"
    workspace.mkdir()
    (workspace / ".tiss").symlink_to(other / ".tiss")
    result = subprocess.run(TISS + ["runs", "--workspace", str(workspace)], capture_output=True, text=True)
    assert result.returncode == 2
    assert "is a symlink" in result.stderr and "Traceback" not in result.stderr


def test_tiss_runs_lists_a_run_with_a_forged_output_without_reading_it(tmp_path, secret):
    folder = forged_run(tmp_path, "../../secret")
    result = subprocess.run(TISS + ["runs", "--json", "--workspace", str(tmp_path / "ws")],
                            capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
    assert [run["run_id"] for run in json.loads(result.stdout)["runs"]] == [folder.run_id]


@pytest.mark.skipif(os.geteuid() != 0, reason="giving a folder to another user needs root")
def test_a_run_folder_owned_by_someone_else_is_refused(tmp_path):
    workspace = tmp_path / "ws"
    (workspace / ".tiss").mkdir(parents=True)
    os.chown(workspace / ".tiss", 12345, 12345)
    with pytest.raises(RunError) as error:
        run_plan('LOG "hi"\n', workspace, sandbox="host")
    assert "belongs to uid 12345, not to you" in error.value.message
    assert not (workspace / ".tiss" / "runs").exists()
