"""What the agent loop (runtime/agent.py) says to the model and reads back.

One format for every backend (the classic ReAct lines)::

    Thought: <one line>
    Action: <a tool's name>
    Action Input: <a JSON object of that tool's arguments>

The embedded TissLM is held to it while it generates: ``action_constraint``
compiles a grammar (tool names from the registry, each tool's input as JSON
matching its schema) for llguidance. Any other backend (``openai``) writes
freely, and ``parse_action`` reads, checks and explains the same format, so
both go through one validation.
"""

from __future__ import annotations

import json
import re
from functools import lru_cache

from .agent_slots import pattern_for

FORMAT = ("Thought: <one line: what you will do next and why>\n"
          "Action: <one tool name>\n"
          "Action Input: <a JSON object of the tool's arguments>")
THOUGHT_CHARS = 160          # the grammar's bound on a thought (one line)
STOP = ("\nObservation:",)
# llguidance's JSON options: one way to space it (a small model must not spend
# its tokens on whitespace), as json.dumps writes it
COMPACT = {"x-guidance": {"whitespace_flexible": False, "item_separator": ", ", "key_separator": ": "}}   # a free-writing model must not invent the observation


class FormatProblem(ValueError):
    """The model's answer is not an action: the message goes back to it."""


def reminder(tool_names) -> str:
    """The short reminder that follows a malformed answer or a failed call."""
    return f"Answer exactly in this format (tools: {', '.join(tool_names)}):\n{FORMAT}"


def system_prompt(tools) -> str:
    """The instructions: the tools with their argument schemas, and the format."""
    lines = ["You solve the goal step by step with tools. Each answer is one step in this format:",
             FORMAT, "", "Tools (name, arguments (? = optional) with their JSON types, what it does):"]
    for tool in tools:
        lines.append(f"- {tool.name}({_arguments(tool.parameters)}): "
                     f"{' '.join(tool.description.split(chr(10) * 2)[0].split())}")
    lines.append("When the goal is reached, call final_answer with the answer.")
    return "\n".join(lines)


def _arguments(parameters: dict) -> str:
    """``path: string, append?: boolean``: a schema's arguments, short."""
    required = set(parameters.get("required", ()))
    return ", ".join(f"{name}{'' if name in required else '?'}: {_type(schema)}"
                     for name, schema in parameters.get("properties", {}).items())


def _type(schema: dict) -> str:
    if "enum" in schema:
        return "|".join(json.dumps(v) for v in schema["enum"])
    kind = schema.get("type") or "|".join(_type(s) for s in schema.get("anyOf", ())) or "any"
    if kind == "array" and isinstance(schema.get("items"), dict):
        return f"array of {_type(schema['items'])}"
    return "|".join(kind) if isinstance(kind, list) else kind


def transcript(goal: str, steps: list[dict]) -> str:
    """The goal and every step so far, as the model continues it."""
    parts = [f"Goal: {goal}"]
    for step in steps:
        if step.get("tool"):
            parts.append(f"Thought: {step.get('thought', '')}\nAction: {step['tool']}\n"
                         f"Action Input: {json.dumps(step['input'], ensure_ascii=False)}")
        else:
            parts.append(f"(your answer could not be read: {step.get('raw', '')[:200]!r})")
        parts.append(f"Observation: {step.get('seen', step['observation'])}")   # seen: with slots
    return "\n".join(parts)


def compact_prompt(goal: str, tool_names, steps: list[dict]) -> str:
    """The short form our own TissLM is trained on (runtime/agent_corpus.py):
    no instructions, the steps, then the tools and the goal last, so that a
    small context that loses the beginning still holds them, and a last line
    naming the tools called so far: where the loop stands is said right
    where the model starts writing (a small model trained without it
    answered unfamiliar goals at once, as if the work were done)."""
    done = transcript("", steps).split("\n", 1)[1] + "\n" if steps else ""
    called = ", ".join(s["tool"] + (" (failed)" if s.get("error") else "") if s.get("tool") else "(unreadable)"
                       for s in steps) or "nothing yet"
    return f"{done}Tools: {', '.join(tool_names)}\nGoal: {goal}\nDone: {called}"


def parse_action(text: str, tools) -> tuple[str, str, dict]:
    """(thought, tool name, arguments) from the model's text, or FormatProblem
    saying what is wrong. Also takes a bare ``Final Answer: …`` line (what
    chat models trained on ReAct often write) as the final_answer tool."""
    text = text.strip().removeprefix("```").strip()
    thought = _field(text, "Thought") or ""
    final = re.search(r"^\s*Final Answer:\s*(.*)", text, re.MULTILINE | re.DOTALL)
    action = _field(text, "Action")
    if action is None and final:
        return thought, "final_answer", {"answer": final.group(1).strip()}
    if action is None:
        raise FormatProblem("no 'Action:' line")
    name = action.strip().strip("`'\"")
    if name not in tools:
        raise FormatProblem(f"unknown tool {name!r}")
    found = re.search(r"^\s*Action Input:\s*", text, re.MULTILINE)
    if found is None:
        raise FormatProblem("no 'Action Input:' line")
    rest = text[found.end():].strip().removeprefix("```json").removeprefix("```").strip()
    try:
        arguments, _ = json.JSONDecoder().raw_decode(rest)
    except ValueError as exc:
        raise FormatProblem(f"the Action Input is not JSON ({exc.msg} at character {exc.pos})") from None
    if not isinstance(arguments, dict):
        raise FormatProblem("the Action Input must be a JSON object of the tool's arguments")
    return thought, name, arguments


def _field(text: str, name: str) -> str | None:
    found = re.search(rf"^\s*{name}:[ \t]*(.*)$", text, re.MULTILINE)
    return found.group(1).strip() if found else None


# --- the embedded model: a grammar for the action ------------------------------


def can_constrain(backend) -> bool:
    """The grammar needs the backend's token bytes and an end-of-sequence token."""
    tokenizer = getattr(backend, "tokenizer", None)
    return bool(getattr(backend, "supports_constraint", False)) and \
        getattr(tokenizer, "token_bytes", None) is not None and getattr(tokenizer, "eos_id", None) is not None


def action_grammar(tools, markers=None) -> str:
    """Lark for llguidance: a one-line thought, then one tool's name and JSON
    input matching that tool's schema. Given the run's slot ``markers``
    (runtime/agent_slots.py), a string argument holds « and » only as one."""
    arms, rules = [], []
    for number, tool in enumerate(tools):
        schema = _json_schema(tool.parameters)
        if markers is not None:
            schema = _with_markers(schema, pattern_for(markers))
        arms.append(f'{json.dumps(tool.name)} "\\nAction Input: " input{number}')
        rules.append(f"input{number}: %json {json.dumps({**schema, **COMPACT})}")
    return "\n".join([
        'start: "Thought: " THOUGHT "\\nAction: " action',
        f"THOUGHT: /[^\\n]{{1,{THOUGHT_CHARS}}}/",
        "action: " + "\n    | ".join(arms), *rules])


def _json_schema(parameters: dict) -> dict:
    """The schema of a tool's arguments without what llguidance does not
    need (descriptions, defaults): the shape only."""
    drop = ("description", "default", "title", "examples")
    if isinstance(parameters, dict):
        return {k: _json_schema(v) for k, v in parameters.items() if k not in drop}
    if isinstance(parameters, list):
        return [_json_schema(v) for v in parameters]
    return parameters


def _with_markers(schema: dict, pattern: str) -> dict:
    """Each free string argument of ``schema`` held to ``pattern``."""
    properties = {name: {**arg, "pattern": pattern}
                  if arg.get("type") == "string" and not {"enum", "pattern", "format"} & set(arg) else arg
                  for name, arg in schema.get("properties", {}).items()}
    return {**schema, "properties": properties}


@lru_cache(maxsize=16)
def _compiled(grammar: str):
    import llguidance
    return llguidance.grammar_from("lark", grammar)


# Near the end of the token budget the answer is steered to its end: the
# first of these tokens the grammar allows is the only one allowed (close the
# string and the object, the string, the object, the thought's line), else
# any token made only of closing bytes. A string's length is not bounded by
# the grammar, and a model may keep writing "} } }" inside one: only an
# order of closers ends it for sure.
CLOSERS = (b'"}', b'"', b'}', b'\n')
CLOSING_BYTES = frozenset(b'"}\n, :')
CLOSING_MARGIN = 32   # tokens before the budget's end


class ActionConstraint:
    """model/backend.py's TokenConstraint over llguidance's matcher for
    ``action_grammar`` (allowed / advance / done). Given ``max_tokens``, it
    steers to a whole answer in the last CLOSING_MARGIN tokens."""

    def __init__(self, tokenizer, tools, max_tokens: int | None = None, markers=None):
        import llguidance
        import numpy as np

        from tisslang.constrain import vocabulary_of   # the tokenizer compiled once

        self.vocabulary = vocabulary_of(tokenizer)
        self.matcher = llguidance.LLMatcher(self.vocabulary.lltokenizer,
                                            _compiled(action_grammar(tools, markers)), log_level=0)
        if self.matcher.is_error():
            raise ValueError(f"the action grammar does not compile: {self.matcher.get_error()}")
        self.bits = np.zeros((self.vocabulary.lltokenizer.vocab_size + 31) // 32, dtype=np.int32)
        self.remaining = max_tokens
        self.closing = np.asarray([bool(t) and CLOSING_BYTES.issuperset(t) for t in self.vocabulary.token_bytes])
        self.closers = [np.asarray([t == closer for t in self.vocabulary.token_bytes]) for closer in CLOSERS]

    def allowed(self, token_ids):
        import numpy as np
        self.matcher.unsafe_compute_mask_ptr(self.bits.ctypes.data, self.bits.nbytes)
        mask = np.unpackbits(self.bits.view(np.uint8), bitorder="little")[:self.vocabulary.size].astype(bool)
        if self.remaining is not None and self.remaining <= CLOSING_MARGIN:
            mask = self._steered(mask)
        return mask[np.asarray(token_ids)]

    def _steered(self, mask):
        for closer in self.closers:
            if (mask & closer).any():
                return mask & closer
        return mask & self.closing if (mask & self.closing).any() else mask

    def advance(self, token_id: int) -> None:
        self.matcher.consume_token(int(token_id))
        if self.remaining is not None:
            self.remaining -= 1

    def done(self) -> bool:
        return self.matcher.is_accepting()


def action_constraint(backend, tools, max_tokens: int | None = None, markers=None):
    """A fresh constraint for one answer (ending within ``max_tokens``, string
    arguments holding only the run's ``markers``), or None when the backend
    writes freely."""
    return ActionConstraint(backend.tokenizer, tools, max_tokens, markers) if can_constrain(backend) else None
