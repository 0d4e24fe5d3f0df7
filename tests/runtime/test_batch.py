"""``tiss batch`` on the local process pool: real plans, real worker
processes, real journals; a worker SIGKILLed mid-job and a Ctrl-C'd batch
lose no completed RUN."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from runtime.batch import load_spec, run_job
from runtime.cli import main as tiss
from runtime.journal import RunFolder, list_runs
from tests.waiting import wait_for

TISS = [sys.executable, "-m", "runtime.cli"]

# A job that counts its first RUN in a file outside its workspace, then
# waits (a RUN) until the test lets it finish: killed while it waits, the
# job must not run the first RUN again.
SLOW = """TASK "slow" {
    STEP "side effect" {
        RUN "echo ran >> {{counter}}"
    }
    STEP "wait" {
        RUN "echo $$ > {{shellpid}}; while [ ! -e {{go}} ]; do sleep 0.05; done"
    }
}
"""
QUICK = 'TASK "quick"\nRUN "echo quick >> {{counter}}"\nWRITE "done.txt" "yes"\n'


def slow_spec(tmp_path: Path, *extra: dict) -> Path:
    (tmp_path / "slow.tiss").write_text(SLOW)
    (tmp_path / "quick.tiss").write_text(QUICK)
    paths = {"counter": str(tmp_path / "counter"), "shellpid": str(tmp_path / "shellpid"), "go": str(tmp_path / "go")}
    jobs = [*extra, {"id": "slow", "plan": "slow.tiss", "vars": paths}]
    spec = tmp_path / "jobs.jsonl"
    spec.write_text("".join(json.dumps(job) + "\n" for job in jobs))
    return spec


def start_batch(tmp_path: Path, *args: str) -> subprocess.Popen:
    return subprocess.Popen([*TISS, "batch", *args, "--sandbox", "host", "--json", "--out", str(tmp_path / "out")],
                            cwd=tmp_path, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def parent(pid: int) -> int:
    status = Path(f"/proc/{pid}/status").read_text()
    return int(next(line.split()[1] for line in status.splitlines() if line.startswith("PPid:")))


def ancestor(pid: int, found) -> int:
    """The first of ``pid``'s ancestors (itself included) that ``found`` accepts."""
    while pid > 1:
        if found(pid):
            return pid
        pid = parent(pid)
    pytest.fail("no such ancestor")


def events(workspace: Path) -> list[str]:
    (run,) = list_runs(workspace)
    return [e["event"] for e in RunFolder(run.path).events()]


def batch_json(tmp_path: Path, *args: str, capsys) -> tuple[int, dict]:
    code = tiss(["batch", *args, "--sandbox", "host", "--json", "--out", str(tmp_path / "out")])
    return code, json.loads(capsys.readouterr().out)


# --- the spec --------------------------------------------------------------------------


@pytest.mark.parametrize("line, says", [
    ('{"plan": "a.tiss"', "jobs.jsonl:1: not JSON"),
    ('["a.tiss"]', "jobs.jsonl:1: a job is a JSON object"),
    ('{"plan": "a.tiss", "colour": 1}', "unknown key(s) colour"),
    ('{"plan": "a.tiss", "goal": "x"}', 'either "plan"'),
    ('{"goal": "x", "mode": "dance"}', "mode 'dance' does not fit"),
    ('{"plan": "missing.tiss"}', "cannot read plan"),
    ('{"plan": "a.tiss", "id": "../up"}', "cannot be a job id"),
    ('{"plan": "a.tiss", "vars": {"not a name": 1}}', "is not a variable name"),
    ('{"plan": "a.tiss", "review": "ask"}', "\"review\" is 'ask'"),
    ('{"plan": "a.tiss", "files": {"x": 1}}', '"files" must map'),
    ('{"plan": "a.tiss", "id": "same"}\n{"plan": "a.tiss", "id": "same"}', "two jobs have the id 'same'"),
])
def test_a_bad_spec_is_one_clear_error_and_nothing_runs(tmp_path, capsys, line, says):
    (tmp_path / "a.tiss").write_text('LOG "hi"\n')
    (tmp_path / "jobs.jsonl").write_text(line + "\n")
    assert tiss(["batch", str(tmp_path / "jobs.jsonl"), "--out", str(tmp_path / "out")]) == 2
    err = capsys.readouterr().err
    assert says in err and "hint:" in err and "Traceback" not in err
    assert not (tmp_path / "out").exists() or not any((tmp_path / "out").iterdir())


@pytest.mark.parametrize("args, says", [
    ([], "give a SPEC"),
    (["x", "--resume", "y"], "give a SPEC"),
    (["x", "--approve"], "use them with --resume"),
    (["x", "--workers", "0"], "--workers must be 1 or more"),
    (["--resume", "nosuchbatch"], "no batch 'nosuchbatch'"),
])
def test_bad_usage_is_one_clear_error(tmp_path, capsys, args, says):
    assert tiss(["batch", *args, "--out", str(tmp_path)]) == 2
    assert says in capsys.readouterr().err


def test_vars_are_set_at_the_start_of_the_task_and_stay_data(tmp_path):
    (tmp_path / "p.tiss").write_text('#TISS! Version=1.1\n# about\nTASK "t" {\n    # first\n'
                                     '    RUN "echo {{who}}" AS said\n    ASSERT said.STDOUT == "{{who}}\\n"\n}\n')
    (tmp_path / "jobs.jsonl").write_text(json.dumps(
        {"id": "v", "plan": "p.tiss", "vars": {"who": "x; touch pwned {{y}}", "n": [1, {"k": None}]}}) + "\n")
    (job,) = load_spec(tmp_path / "jobs.jsonl")
    result = run_job(job, tmp_path / "v", default_sandbox="host")
    assert result["status"] == "succeeded", result
    assert not (tmp_path / "v" / "workspace" / "pwned").exists()
    saved = (list_runs(tmp_path / "v" / "workspace")[0].path / "plan.tiss").read_text()
    assert saved.index("# first") < saved.index("VAR who") < saved.index("RUN")
    assert 'VAR n = [1, {k: null}]' in saved


# --- running ---------------------------------------------------------------------------


def test_a_folder_of_plans_runs_each_in_its_own_workspace(tmp_path, capsys):
    plans = tmp_path / "plans"
    plans.mkdir()
    for name in ("a", "b", "c"):
        (plans / f"{name}.tiss").write_text(f'TASK "{name}"\nRUN "echo {name} > mine.txt"\n'
                                            'ASSERT LAST_RUN.EXIT_CODE == 0\n')
    (plans / "broken.tiss").write_text('LOG "{{never_set}}"\n')
    (plans / "fails.tiss").write_text('RUN "exit 3"\nASSERT LAST_RUN.EXIT_CODE == 0\n')
    code, out = batch_json(tmp_path, str(plans), "--workers", "2", capsys=capsys)
    assert code == 1
    status = {job["job"]: job["status"] for job in out["jobs"]}
    assert status == {"a": "succeeded", "b": "succeeded", "c": "succeeded", "broken": "invalid", "fails": "failed"}
    assert out["summary"]["by_status"] == {"succeeded": 3, "invalid": 1, "failed": 1}
    for job in out["jobs"]:
        folder = Path(job["workspace"]).parent
        assert folder == Path(out["folder"]) / job["job"]
        assert json.loads((folder / "result.json").read_text())["status"] == job["status"]
        if job["job"] in "abc":
            assert (Path(job["workspace"]) / "mine.txt").read_text() == job["job"] + "\n"
            assert events(Path(job["workspace"]))[-1] == "run_done"
    assert "never_set" in next(j["error"] for j in out["jobs"] if j["job"] == "broken")


def test_files_review_and_agent_jobs_and_answering_the_paused_ones(tmp_path, capsys, monkeypatch):
    from runtime.config import CONFIG_ENV
    (tmp_path / "config.yaml").write_text("model:\n  backend: none\n")   # the agent job's model: one error
    monkeypatch.setenv(CONFIG_ENV, str(tmp_path / "config.yaml"))
    (tmp_path / "input.txt").write_text("copied\n")
    (tmp_path / "gate.tiss").write_text('TASK "gate"\nRUN "echo one >> side.txt"\nREQUEST_REVIEW "go on?"\n'
                                        'RUN "cat given.txt input.txt >> side.txt"\n')
    spec = tmp_path / "jobs.jsonl"
    spec.write_text("\n".join(json.dumps(job) for job in [
        {"id": "gate", "plan": "gate.tiss", "files": {"given.txt": "given\n"}},
        {"id": "gate2", "plan": "gate.tiss", "files": ["input.txt"], "review": "pause"},
        {"id": "agent", "goal": "write a poem", "mode": "agent"},
    ]) + "\n")
    code, out = batch_json(tmp_path, str(spec), "--workers", "2", capsys=capsys)
    assert code == 1   # the agent job could not run
    jobs = {job["job"]: job for job in out["jobs"]}
    assert jobs["gate"]["status"] == jobs["gate2"]["status"] == "paused"
    assert jobs["gate"]["resume"].startswith(f"tiss resume {jobs['gate']['run_id']} --workspace ")
    assert jobs["agent"]["status"] == "failed" and "unknown model backend 'none'" in jobs["agent"]["error"]
    # one job answered by itself with tiss resume, the rest all at once
    assert tiss(["resume", jobs["gate"]["run_id"], "--workspace", jobs["gate"]["workspace"], "--approve"]) == 0
    capsys.readouterr()
    code, again = batch_json(tmp_path, "--resume", out["batch_id"], "--approve", capsys=capsys)
    jobs = {job["job"]: job for job in again["jobs"]}
    assert jobs["gate"]["status"] == jobs["gate2"]["status"] == "succeeded" and again["summary"]["ran"] == 2
    side = Path(jobs["gate2"]["workspace"]) / "side.txt"
    assert side.read_text() == "one\ncopied\n"    # given.txt belongs to the other job
    # gate was answered by tiss resume already: seen as done, not run again
    assert (Path(jobs["gate"]["workspace"]) / "side.txt").read_text() == "one\ngiven\n"


def test_a_worker_killed_mid_job_is_replaced_and_the_job_resumes(tmp_path):
    spec = slow_spec(tmp_path, {"id": "quick", "plan": "quick.tiss", "vars": {"counter": str(tmp_path / "q")}})
    batch = start_batch(tmp_path, str(spec), "--workers", "2")
    try:
        shell = int(wait_for(lambda: (tmp_path / "shellpid").exists() and (tmp_path / "shellpid").read_text().strip(),
                             "the slow job to reach its second RUN"))
        # the job's worker: the first ancestor of the shell above the host
        # sandbox's executor (workers are forked by the pool's fork server)
        worker = ancestor(parent(shell), lambda pid: b"executor.py" not in Path(f"/proc/{pid}/cmdline").read_bytes())
        assert ancestor(worker, lambda pid: pid == batch.pid)
        os.kill(worker, signal.SIGKILL)
        wait_for(lambda: not Path(f"/proc/{worker}").exists() or "Z" in Path(f"/proc/{worker}/stat").read_text().split()[2],
                 "the worker to die")
        (tmp_path / "go").touch()
        out, err = batch.communicate(timeout=120)
    finally:
        batch.kill()
    assert batch.returncode == 0, err
    jobs = {job["job"]: job for job in json.loads(out)["jobs"]}
    assert jobs["slow"]["status"] == "succeeded" and jobs["quick"]["status"] == "succeeded"
    assert f"worker {worker} died (signal SIGKILL)" in err
    assert (tmp_path / "counter").read_text() == "ran\n"      # the completed RUN did not repeat
    assert events(Path(jobs["slow"]["workspace"])).count("run_resumed") == 1


def test_workers_take_the_drivers_environment_of_the_moment(tmp_path, monkeypatch):
    """Workers are forked by a fork server that may have started for an
    earlier batch, with the environment of then: each worker takes the
    driver's current one, as a freshly started process would."""
    from runtime.batch import BatchFolder, Events, Job, Task
    from runtime.batch_pool import run_local
    from runtime.config import CONFIG_ENV

    def run_one(name: str) -> dict:
        job = Job(id=name, plan='RUN "true"\n')
        folder = BatchFolder.create(tmp_path / "out", [job])
        (result,) = run_local([Task(job, folder.job_dir(job), sandbox="host")], 1, Events())
        return result

    (tmp_path / "good.yaml").write_text("{}\n")
    monkeypatch.setenv(CONFIG_ENV, str(tmp_path / "good.yaml"))
    assert run_one("before")["status"] == "succeeded"      # the fork server runs from here on
    (tmp_path / "bad.yaml").write_text("mcp_servers: 5\n")
    monkeypatch.setenv(CONFIG_ENV, str(tmp_path / "bad.yaml"))
    after = run_one("after")
    assert after["status"] != "succeeded" and "`mcp_servers` must map" in (after["error"] or ""), after


def test_ctrl_c_then_resume_finishes_the_batch_without_rerunning_finished_jobs(tmp_path):
    spec = slow_spec(tmp_path, {"id": "quick", "plan": "quick.tiss", "vars": {"counter": str(tmp_path / "q")}})
    batch = start_batch(tmp_path, str(spec), "--workers", "1")
    try:
        wait_for(lambda: (tmp_path / "shellpid").exists() and (tmp_path / "shellpid").read_text().strip(),
                 "the slow job to reach its second RUN")
        batch.send_signal(signal.SIGINT)
        out, err = batch.communicate(timeout=60)
    finally:
        batch.kill()
    assert batch.returncode == 130, err
    first = json.loads(out)
    assert {j["job"]: j["status"] for j in first["jobs"]} == {"quick": "succeeded", "slow": "interrupted"}
    assert f"tiss batch --resume {first['batch_id']}" in err
    (tmp_path / "go").touch()
    again = start_batch(tmp_path, "--resume", first["batch_id"])
    out, err = again.communicate(timeout=120)
    assert again.returncode == 0, err
    second = json.loads(out)
    assert second["summary"]["ran"] == 1 and second["summary"]["by_status"] == {"succeeded": 2}
    assert (tmp_path / "q").read_text() == "quick\n" and (tmp_path / "counter").read_text() == "ran\n"


def test_a_goal_is_planned_by_the_model_and_runs_once_approved(tmp_path, capsys, monkeypatch, bpe_model_dir):
    """mode "plan": the real (tiny) TissLM writes a checked plan, kept in
    planned.tiss; like tiss plan --run it waits for review, then runs."""
    from runtime.config import CONFIG_ENV
    (tmp_path / "config.yaml").write_text(f"model:\n  path: {bpe_model_dir}\n")
    monkeypatch.setenv(CONFIG_ENV, str(tmp_path / "config.yaml"))
    (tmp_path / "jobs.jsonl").write_text('{"id": "g1", "goal": "make a file"}\n'
                                         '{"id": "g2", "goal": "make a file", "review": "approve", "sandbox": "auto"}\n')
    code, out = batch_json(tmp_path, str(tmp_path / "jobs.jsonl"), capsys=capsys)
    jobs = {j["job"]: j for j in out["jobs"]}
    assert jobs["g1"]["status"] == "paused" and jobs["g2"]["status"] in ("succeeded", "failed"), jobs
    folder = Path(out["folder"])
    (ran,) = list_runs(folder / "g2" / "workspace")     # the approved plan ran, in an isolated sandbox
    assert (ran.path / "plan.tiss").read_text() == (folder / "g2" / "planned.tiss").read_text()
    import tisslang
    from runtime.session import check_program
    planned = (folder / "g1" / "planned.tiss").read_text()
    assert not [d for d in check_program(tisslang.parse(planned)) if d.severity == "error"]
    assert tiss(["batch", "--resume", out["batch_id"], "--reject", "--out", str(tmp_path / "out")]) == 1   # rejected
    capsys.readouterr()
    assert json.loads((folder / "g1" / "result.json").read_text())["status"] == "rejected"
    assert not (folder / "g1" / "workspace").exists()     # nothing ran
