"""Agent traces for training TissLM to run the agent loop (runtime/agent.py),
and held-out goals to measure it (bench/agent.py).

Each goal is a family's wording with names and texts drawn from pools, the
files its workspace starts with, the reference actions, and a check of the
workspace and answer afterwards (never the agent's own word). A trace is
made by running the real loop, in a real workspace, with a *teacher* model
that answers with the reference actions: every observation in the corpus is
what the tool really returned, and every prompt is exactly what the loop
sends our model (its short form, agent_format.compact_prompt). Training and
held-out goals use disjoint wordings, file names and texts.
"""

from __future__ import annotations

import contextlib
import io
import json
import random
import shutil
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

from .agent_slots import AgentSlots

SPLITS = ("train", "heldout")
TOOLS = ("read_file", "write_file", "replace_in_file", "list_files", "search_files", "shell")

# Pools: (train, held-out). Nothing of a held-out goal appears in training.
STEMS = (["notes", "todo", "report", "draft", "summary", "plan", "ideas", "log", "memo", "list",
          "letter", "recipe", "story", "config", "data", "items", "names", "tasks", "words", "hello"],
         ["journal", "agenda", "minutes", "budget", "diary", "inventory", "roster", "outline"])
FOLDERS = (["", "", "docs/", "src/", "notes/", "out/"], ["", "archive/", "misc/"])
EXTENSIONS = (["txt", "md"], ["txt", "md"])
WORDS = (["apple", "river", "green", "stone", "cloud", "tiger", "lemon", "piano", "rocket", "maple",
          "silver", "garden", "window", "castle", "forest", "yellow", "orange", "planet", "bridge", "candle"],
         ["violet", "harbor", "meadow", "falcon", "copper", "summit", "willow", "canyon"])

# (training wordings, held-out wordings). The held-out ones are the original
# two per family, written before any model was measured; the training ones
# avoid their distinctive words (put, hold, tell, open, swap, inside, belongs,
# correct, extend, bottom, appear, look for, start, I want).
WORDINGS = {
    "create": (["Create {f} containing {t}.", "Write {t} into a new file {f}.", "Make a file {f} with the text {t}.",
                "Save {t} to {f}.", "Create a file named {f} that says {t}.", "New file {f}: {t}.",
                "Store {t} in {f}.", "Write a file {f} whose content is {t}.", "Generate {f} with {t} in it.",
                "Can you create {f} with {t} as its text?", "{f} should say {t}; create it.",
                "Produce a file {f} with the words {t}.", "Write {f} with the content {t}.",
                "Create {f} and write {t} in it.", "Record {t} in a new file named {f}."],
               ["Please put {t} in a file called {f}.", "I need {f} to hold {t}."]),
    "read": (["What does {f} say?", "Read {f} and tell me its content.", "Show me what is in {f}.",
              "What is written in {f}?", "Print the content of {f}.", "Give me the contents of {f}.",
              "What's in {f}?", "Display {f}.", "Read {f} to me.", "Report the content of {f}.",
              "Can you read {f}?", "Which words are in {f}?", "Fetch the text in {f}.", "Read the file {f}."],
             ["Tell me the text of {f}.", "Open {f}: what does it contain?"]),
    "replace": (["In {f}, replace {a} with {b}.", "Change {a} to {b} in {f}.", "Fix {f}: {a} should be {b}.",
                 "Edit {f} so that {a} becomes {b}.", "Replace {a} by {b} in {f}.", "Turn every {a} in {f} into {b}.",
                 "In {f}, {a} must become {b}.", "Update {f}: use {b} instead of {a}.",
                 "Substitute {b} for {a} in {f}.", "{f} says {a} but it should say {b}.",
                 "Rewrite {a} as {b} in the file {f}.", "Please change {a} in {f} to {b}.",
                 "{a} is wrong in {f}, make it {b}."],
                ["Swap {a} for {b} inside {f}.", "{f} has {a} where {b} belongs; correct it."]),
    "append": (["Add the line {t} to {f}.", "Append {t} to {f}.", "Put {t} at the end of {f}.",
                "Add {t} as a new last line of {f}.", "Append the line {t} to the file {f}.",
                "Write {t} at the end of {f}, keeping what is there.", "Add {t} to the end of {f}.",
                "{f} gets a new line: {t}.", "Attach {t} to {f} as its last line.",
                "Without removing anything, add {t} to {f}.", "Insert {t} after the last line of {f}.",
                "Keep {f} as it is and add {t} below.", "Tack {t} onto the end of {f}."],
               ["Extend {f} with one more line: {t}.", "{f} needs {t} added at the bottom."]),
    "search": (["Which file mentions {w}?", "Find the file that contains {w}.", "Where is {w} written?",
                "Search the files for {w}.", "Find {w} in the workspace and name the file.",
                "Name the file where {w} occurs.", "Where can I find {w}?", "Which file is {w} in?",
                "Say which file includes {w}.", "Locate the file with {w} in it.",
                "Grep for {w}: in what file is it?", "{w} is written somewhere; which file?"],
               ["In which file does the word {w} appear?", "Look for {w}: which file has it?"]),
    "run": (["Run {f} and tell me what it prints.", "What does {f} print when run with python3?",
             "Execute {f} and report its output.", "Run the script {f} and give me its output.",
             "Run python3 {f} and say what it prints.", "What is printed by {f}?",
             "Execute the Python file {f}; what does it print?", "Launch {f} and report what it writes.",
             "python3 {f}: what does it print?", "Run {f} with python3 and show its result.",
             "What comes out when {f} runs?", "Try running {f} and report the printed text."],
            ["Start {f} with python3: what is the output?", "I want the output of python3 {f}."]),
}
# Training goals only: a little noise around the wording, so that no exact
# phrase is needed (the held-out goals are left as written).
OPENINGS = ["", "", "", "", "Hi. ", "Quick task: ", "Hey, ", "One thing: ", "Next: "]
CLOSINGS = ["", "", "", "", " Thanks.", " Thank you.", " Be quick."]


@dataclass
class Goal:
    family: str
    text: str
    files: dict[str, str]                       # the workspace before the agent runs
    actions: list[tuple[str, str, dict]]        # (thought, tool, input): the reference, with markers
    check: Callable[[Path, str], bool] = field(repr=False)   # (workspace, answer) -> solved?


def goals(split: str, count: int, seed: int = 0) -> list[Goal]:
    """``count`` goals of ``split``, the families in turn."""
    pool = 1 if split == "heldout" else 0
    rng = random.Random(f"{split}-{seed}")
    families = sorted(WORDINGS)
    return [MAKERS[families[i % len(families)]](rng, pool) for i in range(count)]


def _file(rng, pool: int, ext: str | None = None) -> str:
    return f"{rng.choice(FOLDERS[pool])}{rng.choice(STEMS[pool])}.{ext or rng.choice(EXTENSIONS[pool])}"


def _text(rng, pool: int, words: int = 2) -> str:
    return " ".join(rng.choice(WORDS[pool]) for _ in range(words))


def _goal(rng, family: str, pool: int, files: dict, actions: list, check, **values) -> Goal:
    """The goal in one of the family's wordings, and its reference ``actions``
    with ``{name}`` standing for the marker the slotter gives that value
    (runtime/agent_slots.py: what our model sees and writes)."""
    text = rng.choice(WORDINGS[family][pool]).format(**{k: f'"{v}"' for k, v in values.items()})
    if pool == 0:
        text = _noisy(rng, text)
    marker = {literal: m for m, literal in AgentSlots(text).values.items()}
    names = {name: marker[value] for name, value in values.items()}
    return Goal(family, text, files,
                [(thought, tool, {k: v.format(**names) if isinstance(v, str) else v for k, v in arguments.items()})
                 for thought, tool, arguments in actions], check)


def _noisy(rng, text: str) -> str:
    text = rng.choice(OPENINGS) + text + rng.choice(CLOSINGS)
    if rng.random() < 0.15:
        text = text.lower()
    if rng.random() < 0.15:
        text = text.rstrip(".?")
    return text


def _create(rng, pool):
    f, t = _file(rng, pool), _text(rng, pool)
    return _goal(rng, "create", pool, {},
                 [("write the file", "write_file", {"path": "{f}", "content": "{t}"}),
                  ("the file is written", "final_answer", {"answer": "created {f}"})],
                 lambda ws, answer: (ws / f).is_file() and (ws / f).read_text().strip() == t, f=f, t=t)


def _read(rng, pool):
    f, t = _file(rng, pool), _text(rng, pool, 3)
    return _goal(rng, "read", pool, {f: t + "\n"},
                 [("read the file", "read_file", {"path": "{f}"}),
                  ("I have read it", "final_answer", {"answer": OBSERVED.format(0)})],
                 lambda ws, answer: answer.strip() == t, f=f)


def _replace(rng, pool):
    f = _file(rng, pool)
    a, b = rng.sample(WORDS[pool], 2)
    before = f"{_text(rng, pool)} {a} {_text(rng, pool)}"
    while b in before:
        b = rng.choice(WORDS[pool]) + "s"
    after = before.replace(a, b)
    return _goal(rng, "replace", pool, {f: before + "\n"},
                 [("replace the text in the file", "replace_in_file", {"path": "{f}", "old": "{a}", "new": "{b}"}),
                  ("the file is fixed", "final_answer", {"answer": "replaced {a} with {b} in {f}"})],
                 lambda ws, answer: (ws / f).read_text().strip() == after, f=f, a=a, b=b)


def _append(rng, pool):
    f, first, t = _file(rng, pool), _text(rng, pool), _text(rng, pool)
    return _goal(rng, "append", pool, {f: first + "\n"},
                 [("append the line", "write_file", {"path": "{f}", "content": "{t}\n", "append": True}),
                  ("the line is added", "final_answer", {"answer": "added a line to {f}"})],
                 lambda ws, answer: (ws / f).read_text() == f"{first}\n{t}\n", f=f, t=t)


def _search(rng, pool):
    names = list(dict.fromkeys(_file(rng, pool) for _ in range(3)))
    w = rng.choice(WORDS[pool])
    others = [x for x in WORDS[pool] if x != w]
    target = rng.choice(names)
    files = {n: f"{_pick(rng, others)} {w if n == target else _pick(rng, others)}\n" for n in names}
    # the search's one hit is the first file path the model is shown: «F0»
    return _goal(rng, "search", pool, files,
                 [("search the files", "search_files", {"regex": "{w}"}),
                  ("found it", "final_answer", {"answer": "\u00abF0\u00bb"})],
                 lambda ws, answer: answer.strip() == target, w=w)


def _run(rng, pool):
    f, t = _file(rng, pool, "py"), _text(rng, pool)
    return _goal(rng, "run", pool, {f: f"print({t!r})\n"},
                 [("run it", "shell", {"command": "python3 {f}"}),
                  ("it printed its output", "final_answer", {"answer": OBSERVED.format(0)})],
                 lambda ws, answer: answer.strip() == t, f=f)


OBSERVED = "\u00abO{}\u00bb"   # the marker of step n's observation (runtime/agent_slots.py)


def _pick(rng, words):
    return rng.choice(words)


MAKERS = {"create": _create, "read": _read, "replace": _replace, "append": _append, "search": _search,
          "run": _run}


def act(thought: str, tool: str, arguments: dict) -> str:
    return f"Thought: {thought}\nAction: {tool}\nAction Input: {json.dumps(arguments, ensure_ascii=False)}"


class Teacher:
    """Answers with a goal's reference actions, and records every prompt
    the loop sent with the answer: the training pairs. It says it is our own
    model (``plans_with_slots``), so the loop uses the short form."""

    plans_with_slots = True

    def __init__(self, goal: Goal):
        self.answers = [act(*a) for a in goal.actions]
        self.pairs: list[tuple[str, str]] = []

    def generate(self, prompt, *, system=None, **options) -> str:
        answer = self.answers.pop(0)
        self.pairs.append((prompt, answer))
        return answer

    def score(self, options, context):
        return [0.0] * len(options)


def prepare(goal: Goal, workspace: Path) -> None:
    for name, text in goal.files.items():
        path = workspace / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)


def trace(goal: Goal, workspace: Path, registry=None, tools=TOOLS) -> list[str]:
    """Run the loop with the teacher in ``workspace``; the corpus texts (prompt,
    newline, answer: what TissLMBackend.generate sees and writes)."""
    from .agent import run_agent
    prepare(goal, workspace)
    teacher = Teacher(goal)
    with contextlib.redirect_stderr(io.StringIO()):   # the host sandbox's warning, each time
        outcome = run_agent(goal.text, workspace, tools=list(tools), model=teacher, registry=registry,
                            sandbox="host", review="approve", journal=False)
    if outcome.status != "succeeded" or not goal.check(workspace, outcome.variables.get("answer", "")):
        raise AssertionError(f"the reference does not solve {goal.text!r}: {outcome.error}")
    return [f"{prompt}\n{answer}" for prompt, answer in teacher.pairs]


def write_corpus(out: Path, count: int, seed: int = 0) -> Path:
    from model.fileio import write_atomic
    from tools import load_registry

    from tools.builtin import BUILTINS

    registry = load_registry()
    # half the traces list every built-in tool, as `tiss agent` does by default
    every = tuple(t.name for t in BUILTINS if t.name != "final_answer")
    chunks = []
    with tempfile.TemporaryDirectory(prefix="tiss-agent-corpus-") as scratch:
        for number, goal in enumerate(goals("train", count, seed)):
            workspace = Path(scratch) / str(number)
            chunks.extend(trace(goal, workspace, registry, TOOLS if number % 2 else every))
            shutil.rmtree(workspace)
    out.parent.mkdir(parents=True, exist_ok=True)
    write_atomic(out, "".join(c + "<|eos|>" for c in chunks))
    return out


def corpus_files(out_dir: str | Path, count: int = 5000, seed: int = 0) -> list[Path]:
    """``corpus: generate:runtime.agent_corpus:corpus_files`` in a training
    config (model/data.py calls it with the run's corpus folder)."""
    out = Path(out_dir) / f"agent_corpus-{count}-{seed}.txt"   # deterministic: a resumed run reuses it
    return [out if out.is_file() else write_corpus(out, count, seed)]
