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
import os
from pathlib import Path

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
    cost = zero()
    kind = type(stmt)
    if kind is ast.Run:
        seen = history.get(command_key(stmt))
        cost["RUN_COUNT"] = 1
        if seen:
            cost["EXECUTION_TIME"] = sum(seen) / len(seen)
        else:
            cost["EXECUTION_TIME"] = min(UNKNOWN_RUN_SECONDS, stmt.timeout.seconds) if stmt.timeout else UNKNOWN_RUN_SECONDS
            cost["UNSEEN_COMMANDS"] = 1
    elif kind is ast.PromptAgent:
        seen = history.get(prompt_key(stmt))
        tokens = round(sum(seen) / len(seen)) if seen else TOKENS_PER_PROMPT
        cost.update(API_CALLS=1, PROMPTS=1, TOKEN_COUNT=tokens, EXECUTION_TIME=PROMPT_SECONDS)
    elif kind is ast.Call:
        cost.update(API_CALLS=1, CALLS=1)
    elif kind is ast.If:
        for arm in [b.body for b in stmt.branches] + [stmt.orelse or ()]:
            cost = worst(cost, estimate(arm, history))
    elif kind is ast.Try:
        cost = add(estimate(stmt.body, history), estimate(stmt.catch, history))
    elif kind is ast.Retry:
        body = estimate(stmt.body, history)
        cost = {k: v * stmt.count for k, v in body.items()}
    elif kind is ast.Parallel:
        longest = 0.0
        for child in stmt.body:
            part = estimate_one(child, history)
            longest = max(longest, part["EXECUTION_TIME"])
            cost = add(cost, part)
        cost["EXECUTION_TIME"] = longest
    elif kind is ast.Choose:
        options = [estimate(o.body, history) for o in stmt.body if isinstance(o, ast.Step)]
        cost = min(options, key=sort_key) if options else cost
    elif kind in (ast.Step, ast.Setup, ast.Task, ast.EstimateCost):
        cost = estimate(stmt.body, history)
    return cost


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
    temp = path.with_suffix(f".tmp{os.getpid()}")
    temp.write_text(json.dumps(history, indent=1), encoding="utf-8")
    os.replace(temp, path)
