"""`tiss report` and `tiss log`: a real run on the host sandbox, read back
from its journal and rendered as HTML (parsed, not grepped, where it matters)
and in the terminal."""

from __future__ import annotations

import json
import subprocess
import sys
from html.parser import HTMLParser

import pytest

from runtime import run_plan
from runtime.journal import RunFolder

TISS = [sys.executable, "-m", "runtime.cli"]

PLAN = '''\
TASK "Build & <ship>" {
    SET_BUDGET RUN_COUNT = 10
    STEP "Build" {
        RUN "echo '<script>window.pwned = 1</script><img src=x onerror=alert(1)>'; echo warn >&2" AS out
        ASSERT out.EXIT_CODE == 0
    }
    STEP "Pick" {
        CHOOSE {
            OPTION "fast" {
                ESTIMATE_COST {
                    RUN "echo a"
                }
                RUN "echo fast"
            }
            OPTION "slow" {
                ESTIMATE_COST {
                    RUN "echo a"
                    RUN "echo b"
                }
                RUN "echo slow"
            }
        }
    }
    STEP "Ask" {
        REQUEST_REVIEW "ship <it>?"
        LOG "shipping"
        RUN "echo failing >&2; exit 3" AS last
        ASSERT last.EXIT_CODE == 0
    }
}
'''


class Tags(HTMLParser):
    """Every element of a page, with its attributes and the text inside it."""

    def __init__(self):
        super().__init__()
        self.tags: list[tuple[str, dict]] = []
        self.text: list[str] = []

    def handle_starttag(self, tag, attrs):
        self.tags.append((tag, dict(attrs)))

    def handle_data(self, data):
        self.text.append(data)


def parse(page: str) -> Tags:
    tags = Tags()
    tags.feed(page)
    return tags


@pytest.fixture(scope="module")
def finished_run(tmp_path_factory):
    workspace = tmp_path_factory.mktemp("ws")
    (workspace / "plan.tiss").write_text(PLAN)
    outcome = run_plan(workspace / "plan.tiss", workspace, sandbox="host", review="approve")
    assert outcome.status == "failed"
    return workspace, outcome.run_id


def report(workspace, run_id, *extra):
    out = workspace / "report.html"
    result = subprocess.run([*TISS, "report", run_id, "-o", str(out), *extra], cwd=workspace,
                            capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stderr
    return out.read_text()


def test_the_report_shows_task_steps_commands_assertions_reviews_choices_and_budgets(finished_run):
    workspace, run_id = finished_run
    page = report(workspace, run_id)
    html = parse(page)
    text = "".join(html.text)
    assert "Build & <ship>" in text                                    # the task, unescaped as text
    assert [t for t, a in html.tags if a.get("class") == "bar"] == ["div"] * 4   # Build, Pick, fast, Ask
    assert "echo '<script>window.pwned = 1</script>" in text           # the command, as text
    assert "exit 0" in text and "exit 3" in text
    assert "out.EXIT_CODE == 0" in text and "out.EXIT_CODE was 0" in text   # an assertion and what it saw
    assert "last.EXIT_CODE was 3" in text                              # the failed one, with its value
    assert "ship <it>?" in text and "→ approve: --review approve" in text
    assert "fast" in text and "cheapest estimate" in text              # the CHOOSE and its reason
    assert "RUN_COUNT" in text and "shipping" in text
    budget_cells = [d.strip() for d in html.text if d.strip()]
    assert budget_cells[budget_cells.index("RUN_COUNT") + 1:][:2] == ["4", "10"]
    # outputs are folded; a failed command's output is open
    opened = [a for t, a in html.tags if t == "details"]
    assert {"open": None} in opened and {} in opened


def test_a_plans_output_never_becomes_markup_and_nothing_is_fetched(finished_run):
    workspace, run_id = finished_run
    page = report(workspace, run_id)
    html = parse(page)
    names = [t for t, _ in html.tags]
    assert "script" not in names and "img" not in names
    assert "&lt;script&gt;window.pwned = 1&lt;/script&gt;&lt;img src=x onerror=alert(1)&gt;" in page
    # self-contained: no attribute points anywhere, no CSS import or url()
    assert not [a for _, a in html.tags if {"src", "href"} & set(a)]
    assert "@import" not in page and "url(" not in page
    csp = [a["content"] for t, a in html.tags if a.get("http-equiv") == "Content-Security-Policy"]
    assert csp and "default-src 'none'" in csp[0] and "script-src" not in csp[0]


def test_agent_events_and_unknown_kinds_are_shown_generically(tmp_path):
    folder = RunFolder.create(tmp_path, 'TASK "agent" {\n}\n', fsync="never")
    folder.append("run_started", plan="agent.tiss", pid=0)
    folder.append("thought", text="I should <b>list</b> the files")
    folder.append("action", tool="shell", args={"cmd": "ls"})
    folder.append("observation", text="a.txt")
    folder.append("run_done", status="succeeded")
    folder.close()
    page = report(tmp_path, folder.run_id)
    text = "".join(parse(page).text)
    for kind in ("thought", "action", "observation"):
        assert kind in text
    assert "I should <b>list</b> the files" in text and "<b>" not in page
    assert '{"cmd": "ls"}' in text


def test_tiss_log_renders_the_timeline_in_the_terminal(finished_run):
    workspace, run_id = finished_run
    result = subprocess.run([*TISS, "log", run_id], cwd=workspace, capture_output=True, text=True,
                            timeout=60, env={"COLUMNS": "200", "PATH": "/usr/bin:/bin"})
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    assert lines[0].startswith("TASK Build & <ship>  failed")
    bars = {line.split()[0]: line for line in lines[1:5]}
    assert list(bars) == ["Build", "Pick", "fast", "Ask"] and all("█" in b for b in bars.values())
    assert "$ echo '<script>window.pwned = 1</script>" in result.stdout   # the command as it ran
    assert "ASSERT out.EXIT_CODE == 0 ✓  (out.EXIT_CODE was 0; STDERR: warn)" in result.stdout
    assert "REVIEW ship <it>? → approve — --review approve" in result.stdout
    assert "CHOSE 'fast': cheapest estimate" in result.stdout
    assert "budget RUN_COUNT: used 4 of 10" in result.stdout
    events = subprocess.run([*TISS, "log", run_id, "--events"], cwd=workspace, capture_output=True, text=True)
    assert "review_asked" in events.stdout and "█" not in events.stdout


def test_report_errors_are_one_clear_message(finished_run, tmp_path):
    workspace, run_id = finished_run
    missing = subprocess.run([*TISS, "report", "nope"], cwd=workspace, capture_output=True, text=True)
    assert missing.returncode == 2 and "no run 'nope'" in missing.stderr and "Traceback" not in missing.stderr
    unwritable = subprocess.run([*TISS, "report", run_id, "-o", str(tmp_path / "no" / "such" / "r.html")],
                                cwd=workspace, capture_output=True, text=True)
    assert unwritable.returncode == 2 and "cannot write the report" in unwritable.stderr
    assert "Traceback" not in unwritable.stderr


def test_the_default_output_name_carries_the_run_id(finished_run):
    workspace, run_id = finished_run
    result = subprocess.run([*TISS, "report", run_id], cwd=workspace, capture_output=True, text=True)
    assert result.returncode == 0 and (workspace / f"report-{run_id}.html").exists()
    assert json.dumps(run_id)[1:-1] in result.stdout


def test_a_journal_read_while_it_is_being_written_still_renders(tmp_path):
    """The UI reads a live journal: a step may come before anything else was read."""
    from runtime.report import build_view, render_html
    folder = RunFolder.create(tmp_path, "", fsync="never")
    folder.append("step_started", key="0", name="early")
    view = build_view(folder)
    assert view.steps[0].name == "early" and 'class="bar"' in render_html(view)
