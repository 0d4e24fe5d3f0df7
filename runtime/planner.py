"""The planner: a model writes a TissLang plan for a goal, and the plan is
checked before anyone is offered to run it (``tiss plan``, the REPL's
``:plan``; later the agent and the server).

``plan(goal, backend)`` asks the backend for a plan. A backend that can
constrain its output (runtime/models.py) generates under the TissLang
grammar (tisslang/constrain.py), so its plan parses; every plan is then
parsed and checked. A plan with errors is sent back with its diagnostics
(a *repair*), up to ``repair`` times. What comes back always parses and
checks; otherwise ``PlannerError`` says what was wrong with the last try.

The prompt format, in one place because the planner model is trained on it
(issue 12)::

    GOAL: <the goal, on one line>
    PLAN:

and for a repair, the failed plan and its problems come before ``PLAN:``::

    GOAL: <the goal>
    FAILED PLAN:
    <the plan that did not check>
    PROBLEMS:
    <one diagnostic per line: line:col: message (hint: …)>
    PLAN:
"""

from __future__ import annotations

from dataclasses import dataclass, field

import tisslang
from tisslang import ast
from tisslang.errors import Diagnostic, TissSyntaxError

from .errors import RunError
from .models import supports_constraint
from .slots import SlotError, Slotted, fill, slot, tiss_string

SYSTEM = ("You write plans in TissLang (TASK, STEP, RUN, WRITE, ASSERT, …). "
          "Answer with the plan only, no explanation.")
MAX_TOKENS = 512      # per attempt; a TissLM backend may allow fewer (its ``room``)
DEFAULT_REPAIRS = 2   # extra attempts after the first
REPORT_LINES = 6      # of a failed run's report, fed back to a repair
# Below this mean log-probability per token, `tiss plan` warns that the goal
# looks unlike anything the planner learnt (bench/planner.py measures it).
LOW_CONFIDENCE = -1.2


class PlannerError(RunError):
    """No plan that parses and checks within the attempts; ``diagnostics``
    are the last attempt's."""

    def __init__(self, message: str, diagnostics: list[Diagnostic], hint: str | None = None):
        super().__init__(message, hint=hint)
        self.diagnostics = diagnostics


@dataclass
class PlanResult:
    source: str                      # the checked plan's text
    program: ast.Program
    diagnostics: list[Diagnostic]    # the checker's warnings (no errors)
    attempts: int                    # 1 + the repairs it took
    constrained: bool                # generated under the grammar constraint
    failures: list[list[Diagnostic]] = field(default_factory=list)  # each failed try's errors
    body: str = ""                   # what the model wrote (with slot markers)
    slots: dict[str, str] = field(default_factory=dict)   # marker -> the goal's literal
    confidence: float | None = None  # mean log-probability per token of ``body``

    @property
    def low_confidence(self) -> bool:
        """The model was unsure: the goal is probably unlike what it learnt."""
        return self.confidence is not None and self.confidence < LOW_CONFIDENCE


def prompt_for(goal: str, failed: str | None = None, problems=()) -> str:
    """The prompt for ``goal`` (see the module's docstring); with ``failed``,
    a repair prompt (``problems``: diagnostics, or lines already written)."""
    lines = [f"GOAL: {' '.join(goal.split())}"]
    if failed is not None:
        lines += ["FAILED PLAN:", failed.rstrip("\n"), "PROBLEMS:"]
        lines += [p if isinstance(p, str) else _one_line(p) for p in problems]
    lines.append("PLAN:")
    return "\n".join(lines)


def with_header(goal: str, body: str) -> str:
    """A whole plan: the TASK line, built from the goal (never by the model),
    then the model's statements."""
    return f'TASK "{tiss_string(" ".join(goal.split()))}"\n\n{body}'


def plan(goal: str, backend, *, repair: int = DEFAULT_REPAIRS, max_tokens: int = MAX_TOKENS,
         constrain: bool = True, failure: tuple[str, list[str]] | None = None,
         cover: bool = True) -> PlanResult:
    """A plan for ``goal`` from ``backend`` that parses and checks; raises
    ``PlannerError`` when none did after ``1 + repair`` attempts.

    A backend trained on slotted goals (the embedded planner: its
    ``plans_with_slots``) sees the goal with its literals as markers
    (runtime/slots.py) and writes the plan's statements with them; the
    literals are filled back in and the TASK line is built from the goal.
    ``failure`` — a plan that ran and failed, with its problems — starts with a
    repair instead of a fresh plan (``tiss plan --run --repair N``).
    ``cover``: a constrained plan may not end before it uses each of the
    goal's literals (``CoveringConstraint``)."""
    if not goal.strip():
        raise PlannerError("the goal is empty", [], hint='say what the plan should do: tiss plan "GOAL"')
    slotted = _slotted(goal, backend)
    constrained = constrain and _can_constrain(backend)
    failures: list[list[Diagnostic]] = []
    body, problems = (failure[0], [reslot(p, slotted) for p in failure[1]]) if failure else (None, [])
    source = None
    for attempt in range(1, repair + 2):
        prompt = prompt_for(slotted.text, body, problems) if body is not None else prompt_for(slotted.text)
        body = _generate(backend, prompt, max_tokens, constrained, slotted, cover)
        source = _whole_plan(goal, body, slotted)
        program, diagnostics = check(source)
        errors = [d for d in diagnostics if d.severity == "error"]
        if not errors:
            return PlanResult(source, program, diagnostics, attempt, constrained, failures,
                              body=body, slots=dict(slotted.values),
                              confidence=_confidence(backend, prompt, body))
        failures.append(errors)
        # the problems as positions in what the model wrote (no TASK line of ours)
        own = errors if source.startswith(body.lstrip()) else \
            [d for d in check(body)[1] if d.severity == "error"]
        problems = [_one_line(d) for d in own or errors]
    raise PlannerError(
        f"the model wrote no plan that checks in {repair + 1} attempt(s); the last one's problems:\n"
        + "\n".join(d.format() for d in failures[-1]), failures[-1],
        hint="allow more repairs (--repair N), reword the goal, or train or configure a better "
             "planner model (`tiss model train --config model/configs/planner.yaml`, then "
             "`model: {path: DIR}` in the configuration)")


def _slotted(goal: str, backend) -> Slotted:
    if not getattr(backend, "plans_with_slots", False):
        return Slotted(" ".join(goal.split()), {})
    try:
        return slot(goal)
    except SlotError as exc:
        raise PlannerError(str(exc), [], hint="split the goal into smaller ones") from None


def run_report(error: str | None) -> list[str]:
    """The lines of a failed run's report that a repair is fed
    (``plan(failure=(body, run_report(outcome.error)))``)."""
    return (error or "the run failed").splitlines()[:REPORT_LINES]


def reslot(problem: str, slotted: Slotted) -> str:
    """A run's failure report as the model knows the goal: its literals
    written as their markers again (the longest first)."""
    for marker, literal in sorted(slotted.values.items(), key=lambda kv: -len(kv[1])):
        if marker[1] != "M" and len(literal) > 1:
            problem = problem.replace(literal, marker)
    return problem


def _whole_plan(goal: str, body: str, slotted: Slotted) -> str:
    """The model's statements with the literals back and the TASK line on
    top; a model that wrote its own TASK (a general model) keeps it."""
    try:
        body = fill(body, slotted.values).strip("\n") + "\n"
    except SlotError as exc:
        raise PlannerError(str(exc), [], hint="reword the goal") from None
    if body.lstrip().startswith(("TASK", "#TISS!")):
        return body
    return with_header(goal, body)


def _confidence(backend, prompt: str, body: str) -> float | None:
    """The model's mean log-probability per token of the plan it wrote
    (None when the backend cannot score): low means a goal unlike training."""
    if not getattr(backend, "plans_with_slots", False) or not hasattr(backend, "score"):
        return None
    try:
        return float(backend.score([body], prompt + "\n")[0])
    except Exception:  # a score is a hint, never a reason to fail the plan
        return None


def check(source: str) -> tuple[ast.Program | None, list[Diagnostic]]:
    """The parsed plan (None if it does not parse) and every diagnostic."""
    from .session import check_program
    try:
        program = tisslang.parse(source, "<plan>")
    except TissSyntaxError as exc:
        return None, exc.diagnostics
    return program, check_program(program)


def _can_constrain(backend) -> bool:
    """The constraint needs the backend's token bytes and an end-of-sequence
    token (TissLM's byte vocabulary has none: it is planned unconstrained)."""
    tokenizer = getattr(backend, "tokenizer", None)
    return supports_constraint(backend) and getattr(tokenizer, "token_bytes", None) is not None \
        and getattr(tokenizer, "eos_id", None) is not None


def _generate(backend, prompt: str, max_tokens: int, constrained: bool, slotted: Slotted,
              cover: bool = True) -> str:
    # a model trained on the planner's prompts needs no instructions; others do
    system = None if getattr(backend, "plans_with_slots", False) else SYSTEM
    if not constrained:
        return backend.generate(prompt, system=system, max_tokens=max_tokens)
    from tisslang.constrain import ConstraintError, for_tokenizer
    # the constraint steers to a whole plan within the tokens the backend will
    # really emit, so tell it that number, not the one asked for
    room = backend.room(max_tokens, prompt) if hasattr(backend, "room") else max_tokens
    markers = tuple(slotted.values) if getattr(backend, "plans_with_slots", False) else None
    try:
        constraint = for_tokenizer(backend.tokenizer, max_tokens=room, markers=markers)
    except ConstraintError as exc:
        raise PlannerError(f"the model cannot write a plan here: {exc}", [],
                           hint="shorten the goal, or use a model with a longer context") from None
    if cover:
        constraint = CoveringConstraint(constraint, slotted.values)
    return backend.generate(prompt, system=system, max_tokens=room, constraint=constraint)


class CoveringConstraint:
    """The grammar constraint, plus: the plan may not end before it has used
    every literal the goal names (each marker but the derived «M»), unless
    the budget is nearly spent. A goal's literals are there to be used, and a
    small model tends to stop after the first of two tasks; this says nothing
    about *which* statements use them (the model still writes the plan)."""

    RESERVE = 48  # tokens kept for the grammar's own ending when the budget runs low

    def __init__(self, inner, values: dict[str, str]):
        self.inner = inner
        self.required = [m.encode() for m in values if m[1] != "M"]

    def allowed(self, token_ids):
        return self.inner.allowed(token_ids)

    def advance(self, token_id: int) -> None:
        self.inner.advance(token_id)

    def covered(self) -> bool:
        return all(marker in self.inner.text for marker in self.required)

    def done(self) -> bool:
        if not self.inner.done():
            return False
        low = self.inner.remaining is not None and self.inner.remaining < self.RESERVE
        return low or self.covered()


def highlighted(source: str, stream) -> str:
    """The plan coloured for a terminal ``stream``; as it is for anything else."""
    if not getattr(stream, "isatty", lambda: False)():
        return source.rstrip("\n")
    from pygments import highlight
    from pygments.formatters import TerminalFormatter

    from tisslang.highlight import TissLangLexer
    return highlight(source, TissLangLexer(), TerminalFormatter()).rstrip("\n")


def _one_line(d: Diagnostic) -> str:
    return f"{d.line}:{d.col}: {d.message}" + (f" (hint: {d.hint})" if d.hint else "")
