"""``tiss batch``: many runs at once, each in its own workspace, sandbox and journal.

A batch lives in ``<out>/<batch-id>/`` (``out`` defaults to ``.tiss/batch``):

- ``batch.json``             the jobs as loaded from the spec (plan text copied,
                             so the spec may change afterwards), written once
- ``<job-id>/workspace/``    the job's workspace: the files it was given and
                             wrote, and its run folder ``.tiss/runs/<run_id>/``
- ``<job-id>/result.json``   how the job ended, written by the driver
- ``<job-id>/planned.tiss``  for a goal: the plan the planner wrote

Nothing is lost: ``run_job`` looks at the job's journal first, so a job that
is run again (a worker died, or ``tiss batch --resume``) resumes its run after
the last completed statement instead of starting over. The executors (the
local process pool in runtime/batch_pool.py, Ray in runtime/batch_ray.py) only decide where
``run_job`` runs.
"""

from __future__ import annotations

import contextlib
import dataclasses
import json
import re
import time
from dataclasses import dataclass, field
from pathlib import Path

from model.fileio import write_atomic

from .errors import RunError
from .journal import new_run_id, require_real_dir

MODES = ("run", "plan", "agent")           # run: a .tiss plan; plan/agent: a goal
JOB_KEYS = {"id", "plan", "goal", "mode", "files", "vars", "sandbox", "review"}
BATCH_REVIEW = ("approve", "reject", "pause")   # nobody is at a terminal to "ask"
JOB_ID = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,99}")
VAR_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
# Statuses that end a job for good; a paused job waits for a verdict, any
# other (interrupted, a worker that died) is run again by --resume.
FINAL = ("succeeded", "failed", "rejected", "invalid", "error")
# "died": its worker (or node) died more often than --retries allows; like
# "interrupted", --resume runs it again from its journal.
EXIT_CODES = {"succeeded": 0, "failed": 1, "died": 1, "invalid": 2, "error": 2, "rejected": 3,
              "paused": 75, "interrupted": 130}
DEFAULT_RETRIES = 2      # a job whose worker dies is run again this many times


class SpecError(RunError):
    """A spec (or a batch folder) that cannot be used: nothing ran."""


@dataclass(frozen=True)
class Job:
    id: str
    mode: str = "run"
    plan: str | None = None          # the plan's text (mode run)
    plan_path: str | None = None     # where it came from, for messages
    goal: str | None = None          # modes plan and agent
    files: dict = field(default_factory=dict)   # workspace path -> text
    vars: dict = field(default_factory=dict)
    sandbox: str | None = None
    review: str | None = None


# --- the spec ----------------------------------------------------------------------


def load_spec(spec: Path) -> list[Job]:
    """Jobs from a folder of .tiss plans or a JSONL file of jobs; SpecError
    (where, what, how to fix) for anything that cannot be run."""
    spec = Path(spec)
    if spec.is_dir():
        plans = sorted(spec.glob("*.tiss"))
        if not plans:
            raise SpecError(f"{spec} holds no .tiss plans", hint="give a folder of .tiss files or a .jsonl file of jobs")
        return [Job(id=_job_id(p.stem, str(p)), plan=_read_plan(p, str(p)), plan_path=str(p)) for p in plans]
    try:
        lines = spec.read_text(encoding="utf-8").splitlines()
    except (OSError, UnicodeDecodeError) as exc:
        why = exc.strerror if isinstance(exc, OSError) else "not UTF-8 text"
        raise SpecError(f"cannot read the batch spec {spec}: {why}",
                        hint="give a folder of .tiss files or a .jsonl file (one JSON job per line)") from None
    jobs = [_job_from_line(line, f"{spec}:{number}", spec.parent, number)
            for number, line in enumerate(lines, 1) if line.strip()]
    if not jobs:
        raise SpecError(f"{spec} holds no jobs", hint='one JSON object per line, e.g. {"plan": "hello.tiss"}')
    seen: dict[str, int] = {}
    for job in jobs:
        if job.id in seen:
            raise SpecError(f"{spec}: two jobs have the id {job.id!r}", hint='give each job its own "id"')
        seen[job.id] = 1
    return jobs


def _job_from_line(line: str, where: str, base: Path, number: int) -> Job:
    try:
        entry = json.loads(line)
    except ValueError as exc:
        raise SpecError(f"{where}: not JSON ({exc})", hint='one JSON object per line, e.g. {"plan": "a.tiss"}') from None
    if not isinstance(entry, dict):
        raise SpecError(f"{where}: a job is a JSON object", hint='e.g. {"plan": "a.tiss"} or {"goal": "…", "mode": "plan"}')
    unknown = sorted(set(entry) - JOB_KEYS)
    if unknown:
        raise SpecError(f"{where}: unknown key(s) {', '.join(unknown)}", hint="a job's keys: " + ", ".join(sorted(JOB_KEYS)))
    if ("plan" in entry) == ("goal" in entry):
        raise SpecError(f"{where}: a job has either \"plan\" (a .tiss path) or \"goal\" (words)",
                        hint='e.g. {"plan": "a.tiss"} or {"goal": "count the lines", "mode": "plan"}')
    mode = entry.get("mode", "run" if "plan" in entry else "plan")
    if mode not in MODES or (mode == "run") != ("plan" in entry):
        raise SpecError(f"{where}: mode {mode!r} does not fit the job",
                        hint='a "plan" job needs no mode; a "goal" job has mode "plan" or "agent"')
    fields = {k: _checked(k, entry[k], where) for k in ("goal", "vars", "sandbox", "review") if k in entry}
    files = _files(entry.get("files", {}), where, base)
    if "plan" in entry:
        path = _checked("plan", entry["plan"], where)
        full = base / path
        fields.update(plan=_read_plan(full, where), plan_path=str(full))
        default_id = f"{number:03d}-{Path(path).stem}"
    else:
        default_id = f"{number:03d}-goal"
    job_id = _job_id(_checked("id", entry["id"], where), where) if "id" in entry else _job_id(default_id, where)
    return Job(id=job_id, mode=mode, files=files, **fields)


def _checked(key: str, value, where: str):
    """One job field, of the type it must have."""
    from .sandbox import BACKENDS
    kinds = {"plan": str, "goal": str, "id": str, "vars": dict, "sandbox": str, "review": str}
    if not isinstance(value, kinds[key]) or (kinds[key] is str and not value.strip()):
        raise SpecError(f"{where}: \"{key}\" must be a {'non-empty string' if kinds[key] is str else 'JSON object'}",
                        hint='e.g. {"plan": "a.tiss", "vars": {"name": "x"}}')
    choices = {"sandbox": BACKENDS, "review": BATCH_REVIEW}.get(key)
    if choices and value not in choices:
        raise SpecError(f"{where}: \"{key}\" is {value!r}", hint=f"use one of: {', '.join(choices)}")
    if key == "vars":
        for name in value:
            if not VAR_NAME.fullmatch(name):
                raise SpecError(f"{where}: {name!r} is not a variable name",
                                hint="a name is letters, digits and _, not starting with a digit")
    return value


def _files(value, where: str, base: Path) -> dict:
    """``files``: {"workspace/path": "text"}, or ["path", …] of files next to
    the spec, copied under the same relative path."""
    if isinstance(value, dict) and all(isinstance(v, str) for v in value.values()):
        return dict(value)
    if isinstance(value, list) and all(isinstance(v, str) for v in value):
        copied = {}
        for name in value:
            try:
                copied[name] = (base / name).read_text(encoding="utf-8")
            except (OSError, UnicodeDecodeError) as exc:
                why = exc.strerror if isinstance(exc, OSError) else "not UTF-8 text"
                raise SpecError(f"{where}: cannot read file {name!r}: {why}",
                                hint="list text files relative to the spec's folder") from None
        return copied
    raise SpecError(f"{where}: \"files\" must map workspace paths to text, or list files to copy",
                    hint='e.g. "files": {"input.txt": "hello"} or "files": ["data/input.txt"]')


def _read_plan(path: Path, where: str) -> str:
    from tisslang.source import UnreadableSource, read_source
    try:
        return read_source(path)
    except UnreadableSource as exc:
        raise SpecError(f"{where}: cannot read plan {str(path)!r}: {exc.reason}",
                        hint="give the path of a .tiss file, relative to the spec's folder") from None


def _job_id(text: str, where: str) -> str:
    if not JOB_ID.fullmatch(text):
        raise SpecError(f"{where}: {text!r} cannot be a job id (it names the job's folder)",
                        hint="letters, digits, '.', '_' and '-', starting with a letter or digit")
    return text


# --- the batch folder -----------------------------------------------------------------


class BatchFolder:
    """``<out>/<batch-id>/``: the manifest, and one folder per job."""

    def __init__(self, path: Path, jobs: list[Job]):
        self.path, self.jobs = Path(path), jobs
        self.batch_id = self.path.name

    @classmethod
    def create(cls, out: Path, jobs: list[Job]) -> "BatchFolder":
        out = _real_dirs(Path(out))
        while True:
            path = out / new_run_id()
            try:
                path.mkdir()
                break
            except FileExistsError:
                continue
        write_atomic(path / "batch.json", json.dumps(
            {"batch_id": path.name, "created": time.time(), "jobs": [dataclasses.asdict(j) for j in jobs]}, indent=1))
        return cls(path, jobs)

    @classmethod
    def open(cls, out: Path, batch_id: str) -> "BatchFolder":
        path = Path(out).resolve() / batch_id
        if not JOB_ID.fullmatch(batch_id) or not (path / "batch.json").is_file():
            raise SpecError(f"no batch {batch_id!r} in {Path(out).resolve()}",
                            hint="give the id `tiss batch` printed, and the same --out as then")
        for folder in (path.parent, path):
            require_real_dir(folder)
        manifest = json.loads((path / "batch.json").read_text(encoding="utf-8"))
        return cls(path, [Job(**entry) for entry in manifest["jobs"]])

    def job_dir(self, job: Job) -> Path:
        return self.path / job.id

    def result(self, job: Job) -> dict | None:
        try:
            return json.loads((self.job_dir(job) / "result.json").read_text(encoding="utf-8"))
        except (FileNotFoundError, ValueError):
            return None

    def save_result(self, job: Job, result: dict) -> None:
        self.job_dir(job).mkdir(exist_ok=True)
        write_atomic(self.job_dir(job) / "result.json", json.dumps(result, indent=1))

    def todo(self, verdict: str | None) -> list[Job]:
        """The jobs still to run: never finished, interrupted, or paused
        when a verdict is given."""
        def pending(result):
            if result is None:
                return True
            return result["status"] not in FINAL and (result["status"] != "paused" or verdict is not None)
        return [job for job in self.jobs if pending(self.result(job))]


def _real_dirs(out: Path) -> Path:
    """Create ``out`` (and parents) and refuse it unless a real directory of ours."""
    try:
        out.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise SpecError(f"cannot create the batch folder {out}: {exc.strerror}",
                        hint="give --out a folder you can write") from None
    require_real_dir(out)
    return out.resolve()


# --- one job (in a worker) ---------------------------------------------------------------


def run_job(job: Job, job_dir: Path, verdict: str | None = None, default_sandbox: str = "auto",
            default_review: str = "pause") -> dict:
    """Run ``job`` in ``job_dir``, or resume its run from the journal; the
    result as ``result.json`` holds it. What the run prints goes to
    ``job_dir/output.log``."""
    started = time.time()
    job_dir.mkdir(parents=True, exist_ok=True)
    with open(job_dir / "output.log", "a", encoding="utf-8") as log, \
            contextlib.redirect_stdout(log), contextlib.redirect_stderr(log):
        try:
            result = _run_or_resume(job, job_dir, verdict, job.sandbox or default_sandbox,
                                    job.review or default_review)
        except KeyboardInterrupt:
            result = {"status": "interrupted", "error": "interrupted"}
        except Exception as exc:
            result = {"status": "error", "error": _message(exc)}
    result.setdefault("run_id", None)
    workspace = job_dir / "workspace"
    return {"job": job.id, **result, "exit_code": EXIT_CODES[result["status"]],
            "duration": round(time.time() - started, 3),
            "workspace": str(workspace), "resume": resume_hint(result, workspace)}


def _run_or_resume(job: Job, job_dir: Path, verdict, sandbox: str, review: str) -> dict:
    from .journal import list_runs
    from .session import resume_run, run_plan

    workspace = job_dir / "workspace"
    runs = list_runs(workspace) if workspace.exists() else []
    if runs:
        info = runs[-1].summary()
        if info["status"] in FINAL or (info["status"] == "paused" and verdict is None):
            return {"status": info["status"], "run_id": info["run_id"], "error": _last_error(runs[-1])}
        return _outcome(resume_run(info["run_id"], workspace, verdict=verdict, review=review))
    if job.mode == "agent":   # the ReAct loop on the goal (runtime/agent.py), the model of the config
        from .agent import run_agent
        _put_files(workspace, job.files)
        return _outcome(run_agent(job.goal, workspace, sandbox=sandbox, review=review))
    text, path = (job.plan, job.plan_path or "plan.tiss") if job.mode == "run" else \
        _planned(job, job_dir, verdict, review)
    if text is None:
        return path   # the goal's plan waits for a verdict, or was rejected
    try:
        program, source = _with_vars(text, path, job.vars)
    except Exception as exc:   # the plan does not parse or check
        return {"status": "invalid", "error": _message(exc)}
    _put_files(workspace, job.files)
    return _outcome(run_plan(program, workspace, source=source, sandbox=sandbox, review=review))


def _planned(job: Job, job_dir: Path, verdict, review: str):
    """A goal's plan, written once by the planner and kept in planned.tiss;
    like ``tiss plan --run``, it runs only once the review approves it."""
    saved = job_dir / "planned.tiss"
    if not saved.exists():
        from .models import load_default_backend
        from .planner import plan
        write_atomic(saved, plan(job.goal, load_default_backend()).source)
    answer = verdict or review
    if answer == "approve":
        return saved.read_text(encoding="utf-8"), str(saved)
    if answer == "reject":
        return None, {"status": "rejected", "error": "the planned plan was rejected: nothing ran"}
    return None, {"status": "paused", "error": f"review the planned plan {saved}, then answer with "
                  "tiss batch --resume BATCH_ID --approve (or --reject)"}


def _with_vars(text: str, path: str, variables: dict):
    """The plan, checked, with a job's ``vars`` set by VAR statements at the
    start of its task (so the checker and the journal see them like the
    plan's own)."""
    import tisslang
    from tisslang import ast
    from tisslang.formatter import format_program

    from .session import load_plan
    if not variables:
        program, _ = load_plan(tisslang.parse(text, path))
        return program, text
    program = tisslang.parse(text, path)
    body, owner = list(program.body), None
    for index, stmt in enumerate(body):
        if type(stmt) is ast.Task:
            owner = index
    stmts = body[owner].body if owner is not None else [s for s in body if type(s) is not ast.Directive]
    first = stmts[0].span if stmts else program.body[-1].span if program.body else ast.NO_SPAN
    at = ast.Span(first.line, first.col, first.line, first.col)   # comments stay where they were
    new = tuple(ast.Var(name, _expr(value), span=at) for name, value in variables.items())
    if owner is not None:
        body[owner] = dataclasses.replace(body[owner], body=new + tuple(body[owner].body))
    else:
        directives = sum(1 for _ in _leading_directives(body))
        body[directives:directives] = new
    source = format_program(dataclasses.replace(program, body=tuple(body)), text)
    program, _ = load_plan(tisslang.parse(source, path))
    return program, source


def _leading_directives(body):
    from tisslang import ast
    for stmt in body:
        if type(stmt) is not ast.Directive:
            return
        yield stmt


def _expr(value):
    """A JSON value as a TissLang expression node."""
    from tisslang import ast
    if isinstance(value, str):
        return ast.Template((ast.Text(value),))
    if isinstance(value, list):
        return ast.ListExpr(tuple(_expr(v) for v in value))
    if isinstance(value, dict):
        return ast.ObjectExpr(tuple((k, _expr(v)) for k, v in value.items()))
    return ast.Literal(value)


def _put_files(workspace: Path, files: dict) -> None:
    """The job's files, written by the same rules as a plan's WRITE."""
    from .paths import Workspace
    workspace.mkdir(parents=True, exist_ok=True)
    place = Workspace(workspace)
    for name, text in files.items():
        place.write(name, text)


def _outcome(outcome) -> dict:
    return {"status": outcome.status, "run_id": outcome.run_id, "error": outcome.error}


def _last_error(folder) -> str | None:
    done = [e for e in folder.records() if e["event"] == "run_done"]
    return done[-1].get("error") if done else None


def resume_hint(result: dict, workspace: Path) -> str | None:
    if result["status"] != "paused" or not result.get("run_id"):
        return None
    return f"tiss resume {result['run_id']} --workspace {workspace} --approve"


def _message(exc: Exception) -> str:
    from tisslang.errors import TissSyntaxError

    from .errors import Stop
    if isinstance(exc, TissSyntaxError):
        return "\n".join(d.format() for d in exc.diagnostics)
    if isinstance(exc, (RunError, Stop)):
        return exc.message + (f"\nhint: {exc.hint}" if exc.hint else "")
    return f"{type(exc).__name__}: {exc}"


# --- the local process pool -------------------------------------------------------------


@dataclass
class Task:
    """One job to run: what, where, and the options of this batch."""
    job: Job
    job_dir: Path
    verdict: str | None = None
    sandbox: str = "auto"
    review: str = "pause"
    attempts: int = 0

    def run(self) -> dict:
        return run_job(self.job, self.job_dir, self.verdict, self.sandbox, self.review)


class Events:
    """What an executor reports; the CLI's progress display overrides these."""

    def started(self, task: Task) -> None: ...

    def retried(self, task: Task, why: str) -> None: ...

    def finished(self, task: Task, result: dict) -> None: ...


class BatchInterrupted(Exception):
    """Ctrl-C: ``results`` are the jobs that ended (interrupted ones included)."""

    def __init__(self, results: list[dict]):
        super().__init__("interrupted")
        self.results = results


def summarize(results: list[dict], ran: int, seconds: float) -> dict:
    """Counts by status over every job of the batch, the batch's exit code,
    and the rate of the ``ran`` jobs run this time in ``seconds``."""
    counts: dict[str, int] = {}
    for result in results:
        counts[result["status"]] = counts.get(result["status"], 0) + 1
    bad = sum(counts.get(s, 0) for s in ("failed", "died", "rejected", "invalid", "error"))
    exit_code = 130 if counts.get("interrupted") else 1 if bad else 75 if counts.get("paused") else 0
    return {"jobs": len(results), "by_status": counts, "exit_code": exit_code, "ran": ran,
            "seconds": round(seconds, 3),
            "jobs_per_min": round(60 * ran / seconds, 2) if seconds > 0 and ran else None}
