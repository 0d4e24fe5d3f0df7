"""ESTIMATE_COST: what a block would cost, without running it.

The estimate counts RUN, PROMPT_AGENT and CALL statements, and predicts RUN
durations and each prompt's generated tokens from earlier runs of the same
command or prompt in this workspace (``.tiss/durations.json``, updated at the
end of every run; 256 tokens for a prompt never seen). Control flow is costed for the worst case: IF takes its
dearest arm, TRY adds its CATCH, RETRY n counts n attempts; PARALLEL adds
counts but only its longest child's time; CHOOSE takes its cheapest option.
"""

from __future__ import annotations

import json
from pathlib import Path

from model.fileio import write_atomic
from tisslang import ast
from tisslang.formatter import format_template

TOKENS_PER_PROMPT = 256      # expected generated tokens when nothing else is known
UNKNOWN_RUN_SECONDS = 1.0    # a command never seen before
PROMPT_SECONDS = 2.0
KEEP_DURATIONS = 5


def zero() -> dict:
    return {"RUN_COUNT": 0, "API_CALLS": 0, "PROMPTS": 0, "CALLS": 0, "TOKEN_COUNT": 0,
            "EXECUTION_TIME": 0.0, "UNSEEN_COMMANDS": 0}


def add(a: dict, b: dict) -> dict:
    return {k: a[k] + b[k] for k in a}


def worst(a: dict, b: dict) -> dict:
    return {k: max(a[k], b[k]) for k in a}


def sort_key(cost: dict) -> tuple:
    """What "cheapest" means: fewest model/tool calls, then fewest tokens,
    then least expected time, then fewest commands."""
    return (cost["API_CALLS"], cost["TOKEN_COUNT"], cost["EXECUTION_TIME"], cost["RUN_COUNT"])


def summary(cost: dict) -> str:
    return (f"{cost['RUN_COUNT']} RUN, {cost['API_CALLS']} model/tool calls, "
            f"~{cost['TOKEN_COUNT']} tokens, ~{cost['EXECUTION_TIME']:.1f}s")


def command_key(run: ast.Run) -> str:
    """Durations are remembered per command as written in the plan."""
    return format_template(run.command.body if isinstance(run.command, ast.Heredoc) else run.command)


def prompt_key(prompt: ast.PromptAgent) -> str:
    """Generated token counts are remembered per prompt as written."""
    text = prompt.prompt.body if isinstance(prompt.prompt, ast.Heredoc) else prompt.prompt
    return "PROMPT_AGENT " + format_template(text)


def estimate(stmts, history: dict[str, list[float]]) -> dict:
    total = zero()
    for stmt in stmts:
        total = add(total, estimate_one(stmt, history))
    total["EXECUTION_TIME"] = round(total["EXECUTION_TIME"], 3)
    return total


def estimate_one(stmt, history) -> dict:
    """The cost of one statement. A statement kind missing from ESTIMATES is
    an error, not a silent zero (tests/lang/test_statement_passes.py)."""
    estimator = ESTIMATES.get(type(stmt))
    if estimator is None:
        raise TypeError(f"cost.ESTIMATES has no entry for {type(stmt).__name__} statements")
    return estimator(stmt, history)


def _run(stmt: ast.Run, history) -> dict:
    cost = zero()
    seen = history.get(command_key(stmt))
    cost["RUN_COUNT"] = 1
    if seen:
        cost["EXECUTION_TIME"] = sum(seen) / len(seen)
    else:
        # An interpolated TIMEOUT ("{{t}}") is only known when the plan runs.
        known = stmt.timeout.seconds if isinstance(stmt.timeout, ast.Duration) else None
        cost["EXECUTION_TIME"] = min(UNKNOWN_RUN_SECONDS, known) if known else UNKNOWN_RUN_SECONDS
        cost["UNSEEN_COMMANDS"] = 1
    return cost


def _prompt(stmt: ast.PromptAgent, history) -> dict:
    seen = history.get(prompt_key(stmt))
    tokens = round(sum(seen) / len(seen)) if seen else TOKENS_PER_PROMPT
    return {**zero(), "API_CALLS": 1, "PROMPTS": 1, "TOKEN_COUNT": tokens, "EXECUTION_TIME": PROMPT_SECONDS}


def _call(stmt: ast.Call, history) -> dict:
    return {**zero(), "API_CALLS": 1, "CALLS": 1}


def _free(stmt, history) -> dict:
    """Statements that run no command, model or tool."""
    return zero()


def _body(stmt, history) -> dict:
    return estimate(stmt.body, history)


def _if(stmt: ast.If, history) -> dict:
    cost = zero()
    for arm in [b.body for b in stmt.branches] + [stmt.orelse or ()]:
        cost = worst(cost, estimate(arm, history))
    return cost


def _try(stmt: ast.Try, history) -> dict:
    return add(estimate(stmt.body, history), estimate(stmt.catch, history))


def _retry(stmt: ast.Retry, history) -> dict:
    body = estimate(stmt.body, history)
    return {k: v * stmt.count for k, v in body.items()}


def _parallel(stmt: ast.Parallel, history) -> dict:
    cost, longest = zero(), 0.0
    for child in stmt.body:
        part = estimate_one(child, history)
        longest = max(longest, part["EXECUTION_TIME"])
        cost = add(cost, part)
    cost["EXECUTION_TIME"] = longest
    return cost


def _choose(stmt: ast.Choose, history) -> dict:
    options = [estimate(o.body, history) for o in stmt.body if isinstance(o, ast.Step)]
    return min(options, key=sort_key) if options else zero()


# One entry per statement kind: adding a statement means adding it here.
ESTIMATES = {
    ast.Run: _run, ast.PromptAgent: _prompt, ast.Call: _call,
    ast.Write: _free, ast.Append: _free, ast.Read: _free, ast.Assert: _free, ast.Var: _free,
    ast.Log: _free, ast.SetBudget: _free, ast.RequestReview: _free, ast.Pause: _free,
    ast.Directive: _free,
    ast.If: _if, ast.Try: _try, ast.Retry: _retry, ast.Parallel: _parallel, ast.Choose: _choose,
    ast.Step: _body, ast.Setup: _body, ast.Task: _body, ast.EstimateCost: _body,
}


def per_step(program: ast.Program, history) -> list[dict]:
    """``{"name", "estimate"}`` for every STEP and SETUP, wherever it is
    nested (inside PARALLEL, CHOOSE, IF, TRY, RETRY …), in source order."""
    rows = []
    pending = list(reversed(program.body))
    while pending:
        stmt = pending.pop()
        if isinstance(stmt, (ast.Step, ast.Setup)):
            name = _plain(stmt.description) if stmt.description else "SETUP"
            rows.append({"name": name, "estimate": estimate(stmt.body, history)})
            continue
        for block in reversed(ast.blocks(stmt)):
            pending.extend(reversed(block))
    return rows


def _plain(template: ast.Template) -> str:
    return "".join(p.value if isinstance(p, ast.Text) else "{{" + p.ref.name + "}}" for p in template.parts)


# --- durations seen in earlier runs ---------------------------------------


def history_path(workspace: Path) -> Path:
    return Path(workspace) / ".tiss" / "durations.json"


def load_history(workspace: Path) -> dict[str, list[float]]:
    try:
        return json.loads(history_path(workspace).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}


def save_history(workspace: Path, observed: dict[str, list[float]]) -> None:
    """Merge this run's durations into the workspace's history (last few kept)."""
    if not observed:
        return
    history = load_history(workspace)
    for command, durations in observed.items():
        history[command] = (history.get(command, []) + durations)[-KEEP_DURATIONS:]
    path = history_path(workspace)
    path.parent.mkdir(parents=True, exist_ok=True)
    # Not fsynced: a history lost to a power cut only makes estimates vaguer.
    write_atomic(path, json.dumps(history, indent=1), fsync=False)
