"""`tiss ui` over real HTTP on 127.0.0.1, with real runs in other processes:
the token gate, the live stream, answering a waiting run (journaled as a
terminal answer is), resuming a paused one. The browser itself is driven in
test_ui_browser.py."""

from __future__ import annotations

import json
import os
import subprocess
import threading
import urllib.request
from pathlib import Path

import pytest

from runtime.errors import RunError
from runtime.journal import RunFolder
from runtime.ui_review import take_answer, waiting_path, write_answer
from tests.runtime.uiserver import TISS, UI, kill_started, start_run
from tests.waiting import wait_for

PLAN = '''\
TASK "Ask in the browser" {
    STEP "Prepare" {
        RUN "echo preparing" AS prep
    }
    STEP "Ask" {
        REQUEST_REVIEW "ship <b>it</b>?"
        WRITE "shipped.txt" "{{LAST_REVIEW.VERDICT}}: {{LAST_REVIEW.COMMENT}}"
    }
}
'''


@pytest.fixture
def workspace(tmp_path):
    ws = tmp_path / "ws"
    ws.mkdir()
    (ws / "plan.tiss").write_text(PLAN)
    return ws


@pytest.fixture
def ui(workspace):
    server = UI(workspace)
    yield server
    server.close()


@pytest.fixture(autouse=True)
def no_run_left_behind():
    yield
    kill_started()


def waiting_form(ui: UI, run_id: str) -> str:
    return wait_for(lambda: "<form" in (review := ui.state(run_id)["review"]) and review, "the review form")


def done_event(workspace: Path, run_id: str) -> dict:
    events = RunFolder.open(workspace, run_id).events()
    event = next(e for e in events if e.get("stmt") == "RequestReview")
    return {k: v for k, v in event.items() if k not in ("seq", "t")}


def test_requests_without_the_token_are_refused(ui, workspace):
    assert ui.url.startswith("http://127.0.0.1:")
    for path in ("/", "/runs/x", "/runs/x/events", "/runs/x/state", "/runs/x/report"):
        assert ui.request(path, token="")[0] == 403
        assert ui.request(path, token="wrong")[0] == 403
    status, body = ui.request("/runs/x/answer", {"key": "0.1.0", "verdict": "approve"}, token="nope")
    assert status == 403 and "token" in body
    assert ui.request("/")[0] == 200


def test_a_waiting_run_is_answered_from_the_ui_as_at_a_terminal(ui, workspace):
    process, run_id = start_run(workspace)
    form = waiting_form(ui, run_id)
    assert "ship &lt;b&gt;it&lt;/b&gt;?" in form and 'name="verdict" value="approve"' in form
    status, listing = ui.request("/")
    assert run_id in listing and "running" in listing
    status, _ = ui.request(f"/runs/{run_id}/answer", {"key": "0.1.0", "verdict": "approve", "comment": "looks good"})
    assert status == 200   # redirected back to the run's page
    out, err = process.communicate(timeout=60)
    assert process.returncode == 0, out + err
    assert (workspace / "shipped.txt").read_text() == "approve: looks good"
    from_ui = done_event(workspace, run_id)

    # the same answer typed at a terminal
    terminal, terminal_id = start_run(workspace, review="ask", stdin=subprocess.PIPE)
    terminal.communicate("a looks good\n", timeout=60)
    assert terminal.returncode == 0
    assert done_event(workspace, terminal_id) == from_ui
    assert from_ui["verdict"] == "approve" and from_ui["comment"] == "looks good"
    assert ui.state(run_id)["review"] == "" and ui.state(run_id)["status"] == "succeeded"


def test_rejecting_in_the_ui_ends_the_run_as_rejected(ui, workspace):
    process, run_id = start_run(workspace)
    waiting_form(ui, run_id)
    assert ui.request(f"/runs/{run_id}/answer", {"key": "0.1.0", "verdict": "maybe"})[0] == 409
    assert ui.request(f"/runs/{run_id}/answer", {"key": "0.0.0", "verdict": "approve"})[0] == 409
    assert ui.request(f"/runs/{run_id}/answer", {"key": "0.1.0", "verdict": "reject", "comment": "no"})[0] == 200
    process.communicate(timeout=60)
    assert process.returncode == 3
    assert not (workspace / "shipped.txt").exists()
    assert ui.request(f"/runs/{run_id}/answer", {"key": "0.1.0", "verdict": "approve"})[0] == 409


def test_the_live_stream_follows_the_journal_until_the_run_ends(ui, workspace):
    process, run_id = start_run(workspace)
    seen: list[str] = []

    def listen():
        url = f"{ui.base}/runs/{run_id}/events?token={ui.token}"
        with urllib.request.urlopen(url, timeout=60) as stream:
            for raw in stream:
                seen.append(raw.decode().rstrip("\n"))

    listener = threading.Thread(target=listen)
    listener.start()
    wait_for(lambda: any('"review_asked"' in line for line in seen), "review_asked on the stream")
    wait_for(lambda: any('"waiting"' in line for line in seen), "the waiting marker on the stream")
    ui.request(f"/runs/{run_id}/answer", {"key": "0.1.0", "verdict": "approve"})
    listener.join(timeout=60)
    assert not listener.is_alive()   # the stream ended with the run
    process.communicate(timeout=60)
    kinds = [json.loads(line[6:]).get("event") for line in seen if line.startswith("data: {\"seq\"")]
    assert kinds[0] == "run_started" and kinds[-1] == "run_done" and "review_asked" in kinds
    assert seen[-3:-1] == ["event: end", 'data: {"status": "succeeded"}']


def test_a_paused_run_is_answered_by_resuming_it(ui, workspace):
    process, run_id = start_run(workspace, review="pause")
    process.communicate(timeout=60)
    assert process.returncode == 75
    review = ui.state(run_id)["review"]
    assert f"/runs/{run_id}/resume" in review and "ship &lt;b&gt;it&lt;/b&gt;?" in review
    assert ui.request(f"/runs/{run_id}/resume", {"verdict": "approve"})[0] == 200
    folder = RunFolder.open(workspace, run_id)
    wait_for(lambda: folder.summary()["status"] == "succeeded", "the resumed run to finish")
    assert (workspace / "shipped.txt").read_text() == "approve: given to tiss resume"
    assert ui.request(f"/runs/{run_id}/resume", {"verdict": "approve"})[0] == 409   # not paused any more


def test_a_run_asking_at_its_terminal_gets_no_form(ui, workspace):
    process, run_id = start_run(workspace, review="ask", stdin=subprocess.PIPE)
    wait_for(lambda: "asked at the terminal" in ui.state(run_id)["review"], "the pending review")
    assert ui.request(f"/runs/{run_id}/answer", {"key": "0.1.0", "verdict": "approve"})[0] == 409
    process.communicate("r\n", timeout=60)
    assert process.returncode == 3


def test_ui_usage_errors_are_one_clear_message(tmp_path):
    bad = subprocess.run([*TISS, "ui", "--port", "70000"], cwd=tmp_path, capture_output=True, text=True)
    assert bad.returncode == 2 and "not a TCP port" in bad.stderr and "Traceback" not in bad.stderr
    (tmp_path / ".tiss").symlink_to(tmp_path)
    linked = subprocess.run([*TISS, "ui", "--port", "0"], cwd=tmp_path, capture_output=True, text=True, timeout=60)
    assert linked.returncode == 2 and "is a symlink" in linked.stderr and "Traceback" not in linked.stderr


# --- the answer files (runtime/ui_review.py) ------------------------------------------


def test_an_answer_is_taken_once_and_only_for_its_statement(tmp_path):
    write_answer(tmp_path, "0.1.0", "approve", "ok")
    assert take_answer(tmp_path, "0.2.0") is None
    answer = take_answer(tmp_path, "0.1.0")
    assert (answer.verdict, answer.comment) == ("approve", "ok")
    assert take_answer(tmp_path, "0.1.0") is None


def test_answer_files_refuse_bad_keys_bad_verdicts_garbage_and_symlinks(tmp_path):
    for key in ("../escape", "", "a/b", "0.1\n"):
        with pytest.raises(RunError):
            write_answer(tmp_path, key, "approve")
    with pytest.raises(RunError):
        write_answer(tmp_path, "0.1", "pause")
    (tmp_path / "answers").mkdir(exist_ok=True)
    (tmp_path / "answers" / "0.2.json").write_text("{not json")
    assert take_answer(tmp_path, "0.2") is None and not (tmp_path / "answers" / "0.2.json").exists()
    (tmp_path / "elsewhere.json").write_text('{"verdict": "approve"}')
    os.symlink(tmp_path / "elsewhere.json", tmp_path / "answers" / "0.3.json")
    assert take_answer(tmp_path, "0.3") is None
    assert waiting_path(tmp_path, "0.3").name == "0.3.waiting"
