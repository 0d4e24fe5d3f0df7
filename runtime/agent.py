"""The ReAct agent loop: Thought → Action → Action Input → Observation, until
the model calls ``final_answer`` or the step limit is reached (docs/agent.md).

The loop is what ``PROMPT_AGENT`` does under ``@tools "a, b"``, so everything
a plan has, an agent run has too: budgets, the review policy, the journal and
resume. ``tiss agent "GOAL"`` and ``run_agent`` run a two-line plan
(``@tools`` + ``PROMPT_AGENT``). Each step is recorded in the run's state
(``decisions["<key>.s<n>"]``) as it happens: the action once the model has
written it, the observation once the tool has answered. A resumed run reads
those records, so a tool call that completed is never made again and an
action waiting for review is not regenerated.

Nothing here picks a tool: the model does (runtime/agent_format.py holds it
to the format, with a grammar for the embedded TissLM).
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from fnmatch import fnmatch
from pathlib import Path

from .agent_format import STOP, FormatProblem, action_constraint, compact_prompt, parse_action, \
    reminder, system_prompt, transcript
from .agent_slots import AgentSlots, listing
from .errors import RunError
from .models import count_tokens
from .tool_context import _approve, call_tool

FINAL = "final_answer"
COMPACT_OBSERVATION = 300     # characters of an observation our own small model reads
WRITING_TOOLS = ("write_file", "replace_in_file")   # built-ins whose `path` risky_paths governs
GOAL_VARIABLE = "AGENT_GOAL"   # where tiss agent puts the goal (never parsed as TissLang)


@dataclass
class AgentSettings:
    """How a loop runs. Saved in the run's state at its first step, so a
    resumed run keeps them."""
    max_steps: int = 20
    max_observation: int = 2000       # characters of an observation shown to the model
    max_tokens: int = 384             # tokens per model answer
    # risky actions ask the review policy first (fnmatch patterns)
    risky_commands: tuple[str, ...] = ("*",)   # shell commands; () = none
    risky_paths: tuple[str, ...] = ()           # paths written by write_file, replace_in_file
    risky_tools: tuple[str, ...] = ()           # any tool by name (MCP tools marked risky always)
    backend: str | None = None        # the model backend named at the start (tiss agent --backend),
                                      # used again when the run resumes without a model handed in

    @classmethod
    def from_json(cls, data: dict) -> "AgentSettings":
        known = {k: tuple(v) if isinstance(v, list) else v for k, v in data.items()
                 if k in cls.__dataclass_fields__}
        return cls(**known)


def agent_prompt(interp, stmt, key: str, ctx) -> dict:
    """PROMPT_AGENT under @tools: run the loop; its final answer goes into
    LAST_PROMPT and the INTO variable."""
    line = stmt.span.line
    loop = Loop(interp, ctx.render(stmt.prompt), tools_in_scope(interp, ctx.scope["tools"], line),
                key, line, ctx)
    answer = loop.run()
    ctx.set_var("LAST_PROMPT", answer)
    if stmt.into:
        ctx.set_var(stmt.into, answer)
    return {"agent_steps": loop.steps_taken, "tools": [t.name for t in loop.tools]}


def tools_in_scope(interp, value, line: int) -> list:
    """The tools an ``@tools "a, b"`` value names, from the run's registry;
    final_answer is always among them (the loop needs a way to end)."""
    names = [n.strip() for n in str(value).split(",") if n.strip()] if not isinstance(value, list) \
        else [str(n) for n in value]
    unknown = [n for n in names if n not in interp.tools]
    if unknown:
        known = ", ".join(sorted(interp.tools)) or "none"
        raise RunError(f"@tools names unknown tool(s): {', '.join(unknown)} (registered tools: {known})",
                       line, hint="`tiss tools` lists every tool")
    if FINAL not in names:
        names.append(FINAL)
    return [interp.tools[n] for n in dict.fromkeys(names)]


class Loop:
    def __init__(self, interp, goal: str, tools: list, key: str, line: int, ctx):
        self.interp, self.goal, self.tools, self.key, self.line, self.ctx = interp, goal, tools, key, line, ctx
        self.names = [t.name for t in tools]
        self.state = interp.state
        self.settings = self._settings()
        self.steps_taken = 0
        self.model = _agent_model(self._model())
        self.slots = self._slots() if self.compact else None

    def run(self) -> str:
        """The loop itself: one model answer and one tool call per step."""
        for n in range(self.settings.max_steps):
            self.steps_taken = n + 1
            step = self.record(n) or self.think(n)
            if "observation" in step:          # done (before a resume), or not an action
                continue
            self.check_not_repeated(n, step)
            ok, result = self.act(n, step)
            if ok and step["tool"] == FINAL:
                return self.finish(n, str(result))
        raise RunError(f"the agent gave no final answer within {self.settings.max_steps} steps",
                       self.line, hint="raise the limit (tiss agent --max-steps N), or make the goal simpler")

    # --- one step ---------------------------------------------------------------

    def think(self, n: int) -> dict:
        """Ask the model for the next action; record it (or what was wrong with it)."""
        text = self.generate(n)
        try:
            thought, tool, arguments = parse_action(text, self.names)
        except FormatProblem as problem:
            observation = f"error: {problem}. {reminder(self.names)}"
            step = {"raw": text[:500], "observation": observation, "error": True}
            self.save(n, step, "agent_observation", observation=observation, error=True)
            self.show("observation", observation)
            return step
        step = {"thought": thought, "tool": tool, "input": arguments}
        written = {}
        if self.slots is not None and self.slots.markers():   # the model wrote markers: the call gets literals
            step["call"] = self.slots.fill(tool, arguments)
            written = {"written": arguments} if step["call"] != arguments else {}
        call = step.get("call", arguments)
        self.interp.commit("agent_thought", key=self.key, step=n, thought=thought)
        self.show("thought", thought)
        self.save(n, step, "agent_action", tool=tool, input=call, **written)
        self.show("action", f"{tool} {json.dumps(call, ensure_ascii=False)}")
        return step

    def generate(self, n: int) -> str:
        interp, line = self.interp, self.line
        interp.budget.check_time(line)
        interp.budget.charge("API_CALLS", 1, line)
        interp.budget.ensure_left("TOKEN_COUNT", line)
        model = self.model
        steps = [self.record(i) for i in range(n)]
        if self.compact:   # our own model, trained on the short form, with slots
            prompt, system = compact_prompt(self.slots.goal, self.names, steps), None
        else:
            prompt, system = transcript(self.goal, steps), system_prompt(self.tools)
        try:
            room = model.room(self.settings.max_tokens, None if system else prompt) \
                if hasattr(model, "room") else self.settings.max_tokens   # what TissLM really emits
            constraint = action_constraint(model, self.tools, room,
                                           self.slots.markers() if self.slots is not None else None)
            text = model.generate(prompt, system=system, max_tokens=self.settings.max_tokens,
                                  stop=() if constraint else STOP, constraint=constraint)
        except Exception as exc:   # e.g. the model server went away
            raise RunError(f"the model failed: {type(exc).__name__}: {exc}", line) from None
        tokens = count_tokens(model, text)
        interp.budget.charge("TOKEN_COUNT", tokens, line)
        return text

    def act(self, n: int, step: dict) -> tuple[bool, object]:
        """Call the tool (after review when the action is risky); a failure
        is the observation, with the format's reminder."""
        call = step.get("call", step["input"])
        reason = self.risky(step["tool"], call)
        if reason:    # a pause or a rejection stops the run here, as REQUEST_REVIEW does
            _approve(self.interp, f"the agent wants to {reason}", f"{self.key}.r{n}", self.line)
        seen: dict = {}
        try:
            result = call_tool(self.interp, step["tool"], call, f"{self.key}.c{n}", self.line,
                               self.ctx, approved=True)
            ok, observation = True, observation_text(result, self.settings.max_observation)
            if self.slots is not None:   # what our own model reads: shorter, with markers
                limit = min(self.settings.max_observation, COMPACT_OBSERVATION)
                text, markers = self.slots.observe(n, result, truncate(listing(result) or
                                                                       observation_text(result, limit), limit))
                seen = {"seen": text, "slots": markers}
        except RunError as exc:
            ok, result = False, None
            observation = f"error: {exc.message}" + (f" ({exc.hint})" if exc.hint else "") + \
                f"\n{reminder(self.names)}"
        self.save(n, {**step, "observation": observation, **seen, **({} if ok else {"error": True})},
                  "agent_observation", observation=observation, **({} if ok else {"error": True}))
        if not (ok and step["tool"] == FINAL):   # the answer is shown by finish
            self.show("observation", observation)
        return ok, result

    def finish(self, n: int, answer: str) -> str:
        self.interp.commit("agent_answer", key=self.key, step=n, answer=answer)
        self.show("answer", answer)
        self.state.delete_prefix("decisions", f"{self.key}.")   # the steps are in the journal
        return answer

    @property
    def compact(self) -> bool:
        """Whether the model is our own TissLM (model/backend.py marks it):
        it gets the short prompt it is trained on and shorter observations."""
        return bool(getattr(self.model, "plans_with_slots", False))

    def _model(self):
        """The model handed to the run, else the backend the run started with, else the configured one."""
        if self.settings.backend and not self.interp.model_given:
            from .models import load_named_backend
            return load_named_backend(self.settings.backend)
        return self.interp.model

    def _slots(self) -> AgentSlots:
        """The goal's markers and those of the steps already done (on resume)."""
        slots = AgentSlots(self.goal)
        n = 0
        while (step := self.record(n)) is not None:
            slots.add(step.get("slots", {}))
            n += 1
        return slots

    # --- rules --------------------------------------------------------------------

    def check_not_repeated(self, n: int, step: dict) -> None:
        before = self.record(n - 1) if n else None
        if before and before.get("tool") == step["tool"] and before.get("input") == step["input"]:
            raise RunError(f"the agent repeated its last action ({step['tool']} with the same input) "
                           "and was stopped: it would loop", self.line,
                           hint="word the goal more precisely, give other tools, or use a stronger model")

    def risky(self, name: str, arguments: dict) -> str | None:
        """Why this action needs approval first, or None."""
        settings, tool = self.settings, self.interp.tools[name]
        if name == "shell":
            command = str(arguments.get("command", ""))
            return f"run the command: {command}" if _matches(command, settings.risky_commands) else None
        if name in WRITING_TOOLS:
            path = str(arguments.get("path", ""))
            return f"write the file {path}" if _matches(path, settings.risky_paths) else None
        if name in settings.risky_tools or (tool.risky and name != FINAL):
            return f"call {name} with {json.dumps(arguments, ensure_ascii=False)[:200]}"
        return None

    # --- state ----------------------------------------------------------------------

    def record(self, n: int) -> dict | None:
        return self.state.sections["decisions"].get(f"{self.key}.s{n}")

    def save(self, n: int, step: dict, event: str, **fields) -> None:
        self.state.set("decisions", f"{self.key}.s{n}", step)
        self.interp.commit(event, checkpoint=True, key=self.key, step=n, **fields)

    def _settings(self) -> AgentSettings:
        """The run's settings: saved ones on resume, else those handed in."""
        saved = self.state.sections["decisions"].get(f"{self.key}.agent")
        if saved is not None:
            return AgentSettings.from_json(saved)
        settings = getattr(self.interp, "agent_settings", None) or AgentSettings()
        self.state.set("decisions", f"{self.key}.agent", asdict(settings))
        return settings

    def show(self, kind: str, text: str) -> None:
        display = self.interp.display
        if display is not None and hasattr(display, "agent"):
            display.agent(kind, text)


def _agent_model(model):
    """The model that runs the loop: the backend's own agent model when it has
    one (the shipped TissLM planner hands over to the shipped agent weights)."""
    pick = getattr(model, "for_agent", None)
    return pick() if pick is not None else model


def _matches(text: str, patterns) -> bool:
    return any(fnmatch(text, pattern) for pattern in patterns)


def observation_text(result, limit: int) -> str:
    """What the model reads of a tool's result: text as it is, a command's
    exit code and output, anything else as JSON; cut to ``limit``
    characters keeping the head and the tail (errors are often at the end)."""
    if isinstance(result, str):
        text = result
    elif isinstance(result, dict) and {"exit_code", "stdout", "stderr"} <= set(result):
        text = f"exit code {result['exit_code']}" + (" (timed out)" if result.get("timed_out") else "") + \
            "\n" + (result["stdout"] or "") + (result["stderr"] or "")
    else:
        text = json.dumps(result, ensure_ascii=False)
    return truncate(text.rstrip("\n") or "(empty)", limit)


def truncate(text: str, limit: int) -> str:
    if len(text) <= limit:
        return text
    head, tail = limit * 2 // 3, limit // 3
    return f"{text[:head]}\n… [{len(text) - head - tail} characters cut] …\n{text[-tail:]}"


# --- where users start it ------------------------------------------------------------


def agent_source(tool_names) -> str:
    """The two-line plan of an agent run; the goal is a variable, so no goal
    text is ever read as TissLang (``{{``, quotes)."""
    return f'@tools "{", ".join(tool_names)}"\nPROMPT_AGENT "{{{{{GOAL_VARIABLE}}}}}" INTO answer\n'


def run_agent(goal: str, workspace: str | Path = ".", *, tools=None, settings: AgentSettings | None = None,
              model=None, registry=None, sandbox: str = "auto", review=None, display=None,
              max_steps: int | None = None, journal: bool = True):
    """Run the agent loop on ``goal`` in a new journaled run; a RunOutcome
    whose ``variables["answer"]`` is the final answer. ``tools``: names
    (default: every tool of ``registry``, by default the run's registry);
    ``journal=False`` keeps no run folder (and so cannot be resumed)."""
    import tisslang

    from .session import Session
    from .tool_context import close_registry, registry_for

    settings = settings or AgentSettings()
    if max_steps is not None:
        settings.max_steps = max_steps
    owned = registry is None
    registry = registry_for(registry, Path(workspace).resolve()) if owned else registry_for(registry)
    try:
        names = list(tools) if tools else [n for n in registry if n != FINAL]
        source = agent_source(names)
        program = tisslang.parse(source, "agent.tiss")
        with Session(workspace, sandbox=sandbox, review=review, model=model, tools=registry,
                     display=display, source=source, journal=journal) as session:
            session.interp.agent_settings = settings
            session.state.set("vars", GOAL_VARIABLE, goal)
            return session.run_program(program)
    finally:
        if owned:
            close_registry(registry)
