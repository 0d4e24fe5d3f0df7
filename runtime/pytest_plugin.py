"""The ``tisslang`` pytest plugin: test TissLang plans from Gherkin features.

Installed with QuantaTissu (entry point ``pytest11``), so a project only
writes its ``.feature`` files and a test module calling
``pytest_bdd.scenarios(...)``; see docs/bdd.md.

Fixtures:

- ``tiss_workspace``: a fresh, empty workspace directory for each test.
- ``tiss_sandbox`` / ``tiss_review``: where RUN executes and how reviews are
  answered when no answer was given. From ``--tiss-sandbox`` or the ini
  options ``tiss_sandbox`` (default ``auto``) and ``tiss_review`` (default
  ``pause``); override the fixtures in a conftest.py to choose per test.
- ``tiss_runner``: a ``PlanRunner`` that runs plans in that workspace.

When a test that used ``tiss_runner`` fails, its report gets a section with
the run's journal excerpt, so a failing scenario explains itself.

The ready steps are registered when pytest-bdd is installed (the ``test``
extra); without it the fixtures still work.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from runtime.sandbox import BACKENDS as SANDBOXES

REVIEW_POLICIES = ("approve", "reject", "pause")
EXCERPT_EVENTS = 25
_RUNNER = pytest.StashKey["PlanRunner"]()


def pytest_addoption(parser):
    group = parser.getgroup("tisslang", "TissLang plans (the tisslang plugin)")
    group.addoption("--tiss-sandbox", choices=SANDBOXES, default=None,
                    help="where the plans' RUN commands execute (default: the tiss_sandbox ini option, else auto)")
    parser.addini("tiss_sandbox", "sandbox for tiss_runner: auto, docker, bwrap or host", default="auto")
    parser.addini("tiss_review", "answer to reviews nobody answered: approve, reject or pause", default="pause")


# --- fixtures -------------------------------------------------------------------------


@pytest.fixture
def tiss_workspace(tmp_path) -> Path:
    workspace = tmp_path / "workspace"
    workspace.mkdir()
    return workspace


@pytest.fixture
def tiss_sandbox(request) -> str:
    sandbox = request.config.getoption("tiss_sandbox") or request.config.getini("tiss_sandbox")
    if sandbox not in SANDBOXES:
        raise pytest.UsageError(f"tiss_sandbox = {sandbox!r}: use one of {', '.join(SANDBOXES)}")
    return sandbox


@pytest.fixture
def tiss_review(request) -> str:
    policy = request.config.getini("tiss_review")
    if policy not in REVIEW_POLICIES:
        raise pytest.UsageError(f"tiss_review = {policy!r}: use one of {', '.join(REVIEW_POLICIES)}")
    return policy


@pytest.fixture
def tiss_runner(request, tiss_workspace, tiss_sandbox, tiss_review) -> "PlanRunner":
    runner = PlanRunner(tiss_workspace, sandbox=tiss_sandbox, review=tiss_review,
                        search=[request.config.rootpath])
    request.node.stash[_RUNNER] = runner
    return runner


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(item, call):
    report = yield
    runner = item.stash.get(_RUNNER, None)
    if report.failed and runner is not None and runner.outcome is not None:
        report.sections.append((f"TissLang run {runner.outcome.run_id}", runner.journal_excerpt()))
    return report


# --- the runner ---------------------------------------------------------------------------


class PlanRunner:
    """Runs plans in one workspace and remembers the last outcome.

    ``answer("approve"|"reject")`` answers the next review: it resumes the
    last run if that run is paused at one, otherwise the answer waits for
    the next run's review. Reviews nobody answered follow ``review``."""

    def __init__(self, workspace: Path, *, sandbox: str = "auto", review: str = "pause", search=()):
        self.workspace = Path(workspace)
        self.sandbox, self.review = sandbox, review
        self.search = [Path(p) for p in search]
        self.outcome = None
        self.answers: list[str] = []

    def run(self, plan: str | Path):
        """Run a plan to its end; returns the outcome. ``plan`` is a Path or a
        name ending in .tiss (see ``find``), or else TissLang text."""
        from runtime import run_plan
        is_file = isinstance(plan, Path) or (plan.endswith(".tiss") and "\n" not in plan)
        source = self.find(plan) if is_file else plan
        self.outcome = run_plan(source, self.workspace, sandbox=self.sandbox, review=self.reviewer)
        return self.outcome

    def find(self, plan) -> Path:
        """A plan file: as given if absolute, else in the workspace, else
        under the pytest rootdir."""
        places = [Path(plan)] if Path(plan).is_absolute() else [self.workspace / plan, *(p / plan for p in self.search)]
        for place in places:
            if place.is_file():
                return place
        raise LookupError(f"no plan file {str(plan)!r}; looked in: " + ", ".join(str(p) for p in places))

    def answer(self, verdict: str):
        from runtime import resume_run
        if self.outcome is not None and self.outcome.status == "paused":
            self.outcome = resume_run(self.outcome.run_id, self.workspace, verdict=verdict,
                                      sandbox=self.sandbox, review=self.reviewer)
        else:
            self.answers.append(verdict)
        return self.outcome

    def reviewer(self, request):
        from runtime.review import Answer
        if self.answers:
            return Answer(self.answers.pop(0), "answered by the scenario")
        return Answer(self.review, f"tiss_review = {self.review}", 0 if request.kind == "choose" else None)

    # --- what a run left behind ---------------------------------------------

    def events(self) -> list[dict]:
        from runtime.journal import RunFolder
        return list(RunFolder(self.outcome.journal).events()) if self.outcome else []

    def step(self, name: str):
        steps = [s for s in self.last().steps if s.name == name]
        if not steps:
            known = ", ".join(repr(s.name) for s in self.last().steps) or "none"
            pytest.fail(f"no step {name!r} ran (steps that ran: {known})", pytrace=False)
        return steps[-1]

    def step_output(self, name: str) -> str:
        """Everything the step's RUN commands printed (stdout then stderr of
        each, in order), read back from the journal."""
        keys = [e["key"] for e in self.events() if e["event"] == "step_started" and e["name"] == name]
        if not keys:
            self.step(name)   # raises, naming the steps that did run
        output = []
        for event in self.events():
            inside = any(event.get("key", "").startswith(key + ".") for key in keys)
            if event["event"] == "done" and event.get("stmt") == "Run" and inside:
                for change in event.get("delta", ()):
                    if change[0] == "vars" and change[1].split("@")[0] == "LAST_RUN" and len(change) == 3:
                        output.append(change[2]["STDOUT"] + change[2]["STDERR"])
        return "".join(output)

    def variable(self, dotted: str):
        value = self.last().variables
        for depth, part in enumerate(dotted.split(".")):
            if not isinstance(value, dict) or part not in value:
                where = ".".join(dotted.split(".")[:depth]) or "the run"
                known = ", ".join(sorted(value)) if isinstance(value, dict) else "none"
                pytest.fail(f"{where} has no variable {part!r} (it has: {known})", pytrace=False)
            value = value[part]
        return value

    def last(self):
        if self.outcome is None:
            pytest.fail("no plan has run yet in this scenario", pytrace=False)
        return self.outcome

    def journal_excerpt(self, events: int = EXCERPT_EVENTS) -> str:
        from runtime.run_cli import describe_event
        outcome = self.last()
        lines = [f"run {outcome.run_id}: {outcome.status}" + (f"\n{outcome.error}" if outcome.error else ""),
                 f"workspace: {self.workspace}", f"journal: {outcome.journal}/events.jsonl"]
        recorded = self.events()
        if len(recorded) > events:
            lines.append(f"… {len(recorded) - events} earlier events")
        lines += [f"  {e['seq']:>3} {describe_event(e)}" for e in recorded[-events:]]
        return "\n".join(lines)


def _unescape(text: str) -> str:
    """Step arguments write newlines and quotes as \\n and \\"."""
    return text.replace("\\n", "\n").replace('\\"', '"')


def _expect(condition: bool, message: str) -> None:
    """Fail the step with just the message (the journal excerpt follows in
    the report), not a traceback through pytest's fixture machinery."""
    if not condition:
        pytest.fail(message, pytrace=False)


def _run_or_fail(runner: PlanRunner, plan) -> None:
    """Run a plan; a plan that cannot be read or parsed fails the step with
    the diagnostic, not a traceback."""
    from runtime.errors import RunError
    from tisslang.errors import TissSyntaxError
    try:
        runner.run(plan)
    except TissSyntaxError as exc:
        pytest.fail("the plan does not parse:\n" + "\n".join(d.format() for d in exc.diagnostics), pytrace=False)
    except (RunError, LookupError) as exc:
        pytest.fail(getattr(exc, "message", None) or str(exc), pytrace=False)


# --- the ready steps ----------------------------------------------------------------------------

try:
    from pytest_bdd import given, parsers, then, when
except ImportError:   # pytest-bdd is optional: the fixtures work without it
    given = None

if given is not None:
    RUN_STATUS = {"succeeds": "succeeded", "fails": "failed", "is paused": "paused", "is rejected": "rejected"}

    @given(parsers.parse('a workspace with file "{path}" containing:'))
    def workspace_file(tiss_runner, path, docstring):
        target = tiss_runner.workspace / path
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(docstring + "\n" if docstring else "", encoding="utf-8")

    @when(parsers.parse('I run the plan "{path}"'))
    def run_plan_file(tiss_runner, path):
        _run_or_fail(tiss_runner, path)

    @when("I run the plan:")
    def run_plan_text(tiss_runner, docstring):
        _run_or_fail(tiss_runner, docstring + "\n")

    @when(parsers.re(r"the reviewer (?P<verdict>approves|rejects)"))
    def reviewer_answers(tiss_runner, verdict):
        tiss_runner.answer({"approves": "approve", "rejects": "reject"}[verdict])

    @then(parsers.re(r"the run (?P<status>succeeds|fails|is paused|is rejected)"))
    def run_status(tiss_runner, status):
        outcome = tiss_runner.last()
        _expect(outcome.status == RUN_STATUS[status],
                f"expected: the run {status}; but it {outcome.status}" + (f": {outcome.error}" if outcome.error else ""))

    @then(parsers.re(r'the run fails with "(?P<text>.*)"'))
    def run_fails_with(tiss_runner, text):
        outcome = tiss_runner.last()
        _expect(outcome.status == "failed" and _unescape(text) in (outcome.error or ""),
                f"expected: the run fails with {_unescape(text)!r}; but it {outcome.status}"
                + (f": {outcome.error}" if outcome.error else ""))

    @then(parsers.re(r'step "(?P<name>.+)" (?P<status>succeeded|failed)'))
    def step_status(tiss_runner, name, status):
        step = tiss_runner.step(name)
        _expect(step.status == status,
                f"expected: step {name!r} {status}; but it {step.status}" + (f": {step.error}" if step.error else ""))

    @then(parsers.re(r'file "(?P<path>.+)" contains "(?P<text>.*)"'))
    def file_contains(tiss_runner, path, text):
        target = tiss_runner.workspace / path
        _expect(target.is_file(), f"file {path!r} does not exist in the workspace")
        content = target.read_text(encoding="utf-8")
        _expect(_unescape(text) in content, f"file {path!r} does not contain {_unescape(text)!r}; it holds:\n{content}")

    @then(parsers.re(r'file "(?P<path>.+)" (?P<state>exists|does not exist)'))
    def file_exists(tiss_runner, path, state):
        exists = (tiss_runner.workspace / path).exists()
        _expect(exists == (state == "exists"), f"file {path!r} " + ("exists" if exists else "does not exist"))

    @then(parsers.re(r'the output of step "(?P<name>.+)" contains "(?P<text>.*)"'))
    def step_output_contains(tiss_runner, name, text):
        output = tiss_runner.step_output(name)
        _expect(_unescape(text) in output, f"the output of step {name!r} does not contain {_unescape(text)!r}; it was:\n{output}")

    @then(parsers.re(r'variable "(?P<name>[\w.]+)" is "(?P<value>.*)"'))
    def variable_is(tiss_runner, name, value):
        from runtime.interpolate import to_text
        actual = to_text(tiss_runner.variable(name))
        _expect(actual == _unescape(value), f"variable {name} is {json.dumps(actual)}, not {json.dumps(_unescape(value))}")
