"""The planner's corpus: (goal → plan) pairs, and the held-out goals that
measure it.

Each *family* is one everyday task (write a file, write a function and test
it, run a command and retry it, …) with

* phrasings: wordings of the goal with its literals as ``{roles}``, split into
  the ones training uses and the ones only the held-out goals use;
* a plan template over the same roles (the only place a goal's kind of task
  meets a plan: nothing at run time maps a goal to a plan);
* a *check* written with the goal's literals: a short TissLang plan run in
  the same workspace after the model's plan, plus the commands the run must
  have executed. Success is judged by it, never by the plan's own ASSERTs.

A goal is worded, then slotted by runtime/slots.py exactly as ``tiss plan``
slots a user's goal, and the plan's roles become the markers the slotter
chose. Training text (``write_corpus``) is the prompt format of
runtime/planner.py followed by the slotted plan and ``<|eos|>``.

The held-out split never shares a phrasing, a literal (file stems, texts,
identifiers, commands) or a two-task combination with training.

    python -m runtime.planner_corpus --out build/planner/corpus.txt --pairs 40000
"""

from __future__ import annotations

import argparse
import random
import re
import sys
from dataclasses import dataclass, field
from pathlib import Path

from .slots import CLOSE, MARKER, OPEN, Slotted, fill, slot

SPLITS = ("train", "held_out")

# --- literals: disjoint pools per split --------------------------------------------

_STEMS = {
    "train": """notes report summary data todo readme hello main app greeting config output
        result results log changes draft memo letter list items tasks plan ideas journal
        inventory scores names users words story poem quotes message status info guide
        manual setup index table records entries values numbers sample example demo
        input stats metrics events history backup archive""".split(),
    "held_out": """diary ledger catalogue agenda minutes roster recipe invoice budget forecast
        outline glossary digest bulletin chronicle""".split(),
}
_DIRS = {"train": ["", "", "", "docs/", "src/", "out/", "data/"], "held_out": ["", "", "notes/", "tmp/"]}
_TEXTS = {
    "train": ["hello world", "Hello, World!", "buy milk", "all tests pass", "good morning",
              "version 1.0", "ready", "done", "it works", "welcome aboard", "meeting at noon",
              "call the bank", "fix the bug", "ship it", "hello from python", "the end",
              "first draft", "remember the milk", "status: ok", "build succeeded",
              "deploy on friday", "Lorem ipsum", "TODO: write docs", "alpha beta gamma",
              "one two three", "coffee break", "see you soon", "backup complete",
              "error count: 0", "Happy birthday", "green light", "keep calm",
              "data loaded", "cache cleared", "success", "hi there", "thank you",
              "project started", "weekly sync", "read the manual"],
    "held_out": ["water the plants", "quarterly numbers are in", "launch window open",
                 "Bonjour tout le monde", "pack the bags", "release candidate 2",
                 "lights out at ten", "inventory checked", "tea is ready",
                 "migration finished"],
}
_IDENTS = {
    "train": """add_numbers multiply sum_two compute_total combine calc_sum do_math
        apply_op merge_values product_of total diff subtract_values max_of min_of
        bigger smaller pick_max pick_min join_words add_up times_two_values area
        scale_by""".split(),
    "held_out": """tally blend accumulate fuse reckon crunch""".split(),
}
_KEYS = {
    "train": """timeout retries port workers level limit threshold depth size delay
        max_items batch_size interval verbose_level version""".split(),
    "held_out": """quota ttl capacity""".split(),
}
_COMMANDS = {
    "train": ["ls", "ls -la", "pwd", "date", "python --version", "echo hello", "echo done",
              "uname -a", "whoami", "env", "df -h", "ls -R", "echo start", "python -c 'print(42)'",
              "true", "echo ok", "id", "hostname", "ls -1", "echo build"],
    "held_out": ["uname -r", "echo finished", "python -c 'print(7 * 6)'", "ls -lh", "date -u"],
}
_RISKY = {
    "train": ["rm -rf build", "rm -f *.log", "rm -rf dist", "rm -rf cache", "rm -f out.txt",
              "rm -rf tmp", "truncate -s 0 app.log", "rm -rf node_modules"],
    "held_out": ["rm -rf artifacts", "rm -f *.bak"],
}
_FAILING = {
    "train": ["python missing.py", "false", "ls no_such_dir", "cat absent.txt", "exit 3",
              "python -c 'raise SystemExit(1)'"],
    "held_out": ["ls ghost_folder", "python nowhere.py"],
}
_OPS = {  # word in the goal -> (python expression, f(2, 3), check with f(7, 5))
    "sum": ("a + b", 5, 12), "total": ("a + b", 5, 12),
    "product": ("a * b", 6, 35),
    "difference": ("a - b", -1, 2),
    "larger": ("max(a, b)", 3, 7), "maximum": ("max(a, b)", 3, 7),
    "smaller": ("min(a, b)", 2, 5), "minimum": ("min(a, b)", 2, 5),
}


def _file(rng: random.Random, split: str, ext: str) -> str:
    return rng.choice(_DIRS[split]) + rng.choice(_STEMS[split]) + "." + ext


# --- wording ------------------------------------------------------------------------

# [word] in a phrasing picks one of its synonyms; the held-out split adds
# synonyms training never uses.
SYNONYMS = {
    "create": (["create", "make", "write", "generate", "produce", "set up", "build"],
               ["craft", "put together", "author"]),
    "file": (["file", "document"], ["text file"]),
    "containing": (["containing", "with", "that contains", "holding", "with the text",
                    "that says"], ["carrying", "bearing"]),
    "run": (["run", "execute", "launch", "invoke"], ["fire off", "kick off"]),
    "check": (["check", "verify", "make sure", "confirm", "ensure"], ["double-check", "see to it"]),
    "script": (["script", "program"], ["little program"]),
    "prints": (["prints", "outputs", "displays", "echoes", "shows"], ["spits out", "emits"]),
    "function": (["function", "method"], ["routine", "helper"]),
    "returns": (["returns", "computes", "gives back", "calculates"], ["yields", "hands back"]),
    "test": (["test", "check"], ["exercise"]),
    "copy": (["copy", "duplicate", "clone"], ["mirror", "replicate"]),
    "add": (["append", "add"], ["tack on", "attach"]),
    "count": (["count", "compute the number of", "tally up"], ["work out the number of"]),
    "save": (["save", "write", "store", "put"], ["record", "stash"]),
    "parallel": (["in parallel", "at the same time", "concurrently", "simultaneously"],
                 ["side by side"]),
    "retry": (["retry", "try again", "rerun"], ["reattempt"]),
    "review": (["review", "approval", "confirmation", "a human check"], ["sign-off", "an OK"]),
    "fails": (["fails", "errors", "does not work", "breaks"], ["goes wrong", "blows up"]),
    "choose": (["choose", "pick", "decide"], ["select", "opt for"]),
    "summary": (["summary", "short summary", "recap", "digest"], ["synopsis", "abstract"]),
}

FILLERS = {
    "prefix": (["", "", "", "please ", "can you ", "I need you to ", "I want to ", "go ahead and ",
                "could you ", "help me ", "let's ", "now ", "quickly "],
               ["kindly ", "would you mind to ", "I'd like you to "]),
    "suffix": (["", "", "", " please", " for me", " thanks", ".", " now"],
               [" asap", " when you can", " cheers"]),
}


@dataclass
class Family:
    name: str
    phrasings: dict[str, list[str]]     # split -> wordings with {roles} and [synonyms]
    plan: str                           # plan template over the roles
    roles: object                       # (rng, split) -> dict of role values (+ derived)
    check: str = ""                     # a TissLang check plan over the roles ("" = none)
    ran: tuple[str, ...] = ()           # roles naming commands the run must have executed
    files: object = None                # (roles) -> {path: text} in the workspace before
    reviewed: bool = False              # a review must have been asked before the commands
    negative: object = None             # (roles) -> files for which the plan must fail


@dataclass
class Goal:
    """One goal with everything needed to plan it and to judge the result."""
    family: str
    text: str                      # the goal as a user writes it
    slotted: Slotted               # what the model sees (runtime/slots.py)
    plan: str                      # the reference plan, with markers ("" if the slotter
                                   # missed a literal: kept for measuring, not for training)
    files: dict[str, str] = field(default_factory=dict)
    check: str = ""                # with the literals filled in
    ran: list[str] = field(default_factory=list)
    reviewed: bool = False
    negative_files: dict[str, str] | None = None

    @property
    def prompt(self) -> str:
        from .planner import prompt_for
        return prompt_for(self.slotted.text)

    def filled_plan(self) -> str:
        from .planner import with_header
        return with_header(self.text, fill(self.plan, self.slotted.values))


def _dedent(text: str) -> str:
    import textwrap
    return textwrap.dedent(text).strip("\n") + "\n"


# --- the families -------------------------------------------------------------------


def _lines_of(roles) -> str:
    return "".join(f"line {i}\n" for i in range(1, roles["n_lines"] + 1))


FAMILIES = [
    Family(
        "write_text",
        {"train": ["[create] a [file] {file} [containing] {text}",
                   "[create] {file} [containing] {text}",
                   "[save] {text} to {file}",
                   "[save] {text} into a new [file] called {file}",
                   "put the text {text} in {file}",
                   "{file} should contain {text}",
                   "[create] {file} and write {text} in it",
                   "write {text} into the [file] {file}"],
         "held_out": ["I want a [file] named {file} whose content is {text}",
                      "the words {text} stored in a [file] named {file}",
                      "fill {file} with {text}"]},
        '''
        STEP "Write {file}" {
            WRITE "{file}" <<EOF
            {text}
            EOF
            ASSERT FILE "{file}" CONTAINS "{text}"
        }
        ''',
        lambda rng, s: {"file": _file(rng, s, rng.choice(["txt", "txt", "md", "log"])),
                        "text": rng.choice(_TEXTS[s])},
        check='ASSERT FILE "{file}" CONTAINS "{text}"'),
    Family(
        "script_prints",
        {"train": ["[create] a python [script] {file} that [prints] {text} and [run] it",
                   "write a python [script] {file} which [prints] {text}, then [run] it",
                   "[create] {file}, a python [script] that [prints] {text}, and [run] it",
                   "make a python [script] called {file} to print {text} and [run] it",
                   "python [script] {file} that [prints] {text}; [run] it",
                   "[create] and [run] a python [script] {file} that [prints] {text}"],
         "held_out": ["I need {file} to print {text} when run with python; try it",
                      "have python print {text} from a new [script] {file} and [run] it"]},
        '''
        STEP "Write the script" {
            WRITE "{file}" <<EOF
            print("{text}")
            EOF
        }
        STEP "Run the script" {
            RUN "python {file}"
            ASSERT LAST_RUN.EXIT_CODE == 0
            ASSERT LAST_RUN.STDOUT CONTAINS "{text}"
        }
        ''',
        lambda rng, s: {"file": _file(rng, s, "py"), "text": rng.choice(_TEXTS[s])},
        check='RUN "python {file}"\nASSERT LAST_RUN.STDOUT CONTAINS "{text}"'),
    Family(
        "shell_script",
        {"train": ["[create] a shell [script] {file} that echoes {text} and [run] it",
                   "write a bash [script] {file} which [prints] {text}, then [run] it",
                   "make a shell [script] called {file} to echo {text} and [run] it",
                   "[create] and [run] a shell [script] {file} that [prints] {text}"],
         "held_out": ["I need a sh [script] {file} saying {text}; try it"]},
        '''
        STEP "Write the script" {
            WRITE "{file}" <<EOF
            echo "{text}"
            EOF
        }
        STEP "Run the script" {
            RUN "sh {file}"
            ASSERT LAST_RUN.EXIT_CODE == 0
            ASSERT LAST_RUN.STDOUT CONTAINS "{text}"
        }
        ''',
        lambda rng, s: {"file": _file(rng, s, "sh"), "text": rng.choice(_TEXTS[s])},
        check='RUN "sh {file}"\nASSERT LAST_RUN.STDOUT CONTAINS "{text}"'),
    Family(
        "function_test",
        {"train": ["write a [function] {func} in {file} that [returns] the {op} of two numbers and [test] it",
                   "[create] {file} with a [function] {func} that [returns] the {op} of two numbers, with a test",
                   "add a [function] called {func} to {file} returning the {op} of a and b, and write a test for it",
                   "implement {func} in {file}: it [returns] the {op} of its two arguments; [test] it",
                   "[create] a python module {file} with {func}() that [returns] the {op} of two values and a test",
                   "I need a [function] {func} in {file} that [returns] the {op} of two numbers, tested"],
         "held_out": ["in {file}, define {func}() giving the {op} of two inputs, and prove it works with a test",
                      "put a tested {func} into {file} that produces the {op} of two numbers"]},
        '''
        STEP "Write {func}" {
            WRITE "{file}" <<EOF
            def {func}(a, b):
                return {expr}
            EOF
        }
        STEP "Test {func}" {
            WRITE "test_{file}" <<EOF
            from {module} import {func}

            assert {func}(2, 3) == {expect}
            print("ok")
            EOF
            RUN "python test_{file}"
            ASSERT LAST_RUN.EXIT_CODE == 0
        }
        ''',
        lambda rng, s: _function_roles(rng, s),
        check=_dedent('''
            WRITE "check_{module}.py" <<EOF
            from {module} import {func}
            assert {func}(7, 5) == {check_value}
            EOF
            RUN "python check_{module}.py"
            ASSERT LAST_RUN.EXIT_CODE == 0
            ''')),
    Family(
        "run_command",
        {"train": ["[run] {cmd}", "[run] {cmd} and [check] it succeeds",
                   "[run] the command {cmd} and [check] that it works",
                   "[run] {cmd} and make sure the exit code is 0",
                   "[check] that {cmd} runs without errors",
                   "[run] {cmd} in the workspace"],
         "held_out": ["does {cmd} work? find out", "try out {cmd} and confirm a clean exit"]},
        '''
        STEP "Run {cmd}" {
            RUN "{cmd}"
            ASSERT LAST_RUN.EXIT_CODE == 0
        }
        ''',
        lambda rng, s: {"cmd": rng.choice(_COMMANDS[s])},
        ran=("cmd",)),
    Family(
        "check_contains",
        {"train": ["[check] that {file} contains {text}",
                   "[check] {file} mentions {text}",
                   "read {file} and [check] it contains {text}",
                   "[check] whether the [file] {file} has {text} in it",
                   "fail unless {file} contains {text}"],
         "held_out": ["look inside {file} for {text} and fail if it is missing"]},
        '''
        STEP "Check {file}" {
            READ "{file}" AS content
            ASSERT content CONTAINS "{text}"
        }
        ''',
        lambda rng, s: {"file": _file(rng, s, rng.choice(["txt", "md", "log"])),
                        "text": rng.choice(_TEXTS[s])},
        files=lambda r: {r["file"]: f"first line\n{r['text']}\nlast line\n"},
        negative=lambda r: {r["file"]: "nothing of note here\n"}),
    Family(
        "append_line",
        {"train": ["[add] {text} to the end of {file}", "[add] the line {text} to {file}",
                   "[add] {text} at the bottom of {file}", "{file} needs one more line: {text}",
                   "[add] a line saying {text} to {file}"],
         "held_out": ["extend {file} with a final line {text}"]},
        '''
        STEP "Append to {file}" {
            APPEND "{file}" <<EOF
            {text}
            EOF
            ASSERT FILE "{file}" CONTAINS "{text}"
        }
        ''',
        lambda rng, s: {"file": _file(rng, s, rng.choice(["txt", "md", "log"])),
                        "text": rng.choice(_TEXTS[s])},
        files=lambda r: {r["file"]: "existing line\n"},
        check='ASSERT FILE "{file}" CONTAINS "existing line"\nASSERT FILE "{file}" CONTAINS "{text}"'),
    Family(
        "copy_file",
        {"train": ["[copy] {src} to {dst}", "[copy] the [file] {src} into {dst}",
                   "make a copy of {src} named {dst}", "[copy] {src} as {dst}",
                   "[create] {dst} as a copy of {src}"],
         "held_out": ["I want {dst} to be identical to {src}"]},
        '''
        STEP "Copy {src} to {dst}" {
            READ "{src}" AS content
            WRITE "{dst}" "{{content}}"
            ASSERT FILE "{dst}" EXISTS
        }
        ''',
        lambda rng, s: _two_files(rng, s),
        files=lambda r: {r["src"]: "alpha\nbeta\n"},
        check='ASSERT FILE "{dst}" CONTAINS "alpha\\nbeta"'),
    Family(
        "count_lines",
        {"train": ["[count] the lines in {src} and [save] the number to {dst}",
                   "[count] how many lines {src} has and write it to {dst}",
                   "[save] the line count of {src} in {dst}",
                   "write the number of lines of {src} into {dst}"],
         "held_out": ["how long is {src} in lines? record the answer in {dst}"]},
        '''
        STEP "Count the lines of {src}" {
            RUN "wc -l < {src}"
            ASSERT LAST_RUN.EXIT_CODE == 0
            WRITE "{dst}" "{{LAST_RUN.STDOUT | trim}}"
        }
        ''',
        lambda rng, s: {**_two_files(rng, s), "n_lines": rng.randint(2, 9)},
        files=lambda r: {r["src"]: _lines_of(r)},
        check='ASSERT FILE "{dst}" CONTAINS "{n_lines}"'),
    Family(
        "parallel_run",
        {"train": ["[run] {cmd} and {cmd2} [parallel]", "[run] {cmd} and {cmd2} [parallel] and [check] both",
                   "[parallel], [run] {cmd} and {cmd2}", "[run] both {cmd} and {cmd2} [parallel]"],
         "held_out": ["fire {cmd} alongside {cmd2}, not one after the other"]},
        '''
        STEP "Run both" {
            PARALLEL {
                RUN "{cmd}" AS first
                RUN "{cmd2}" AS second
            }
            ASSERT first.EXIT_CODE == 0
            ASSERT second.EXIT_CODE == 0
        }
        ''',
        lambda rng, s: dict(zip(("cmd", "cmd2"), rng.sample(_COMMANDS[s], 2))),
        ran=("cmd", "cmd2")),
    Family(
        "retry",
        {"train": ["[run] {cmd} and [retry] up to {k} times if it [fails]",
                   "[run] {cmd}, [retry] it at most {k} times",
                   "[retry] {cmd} up to {k} times until it succeeds",
                   "[run] {cmd} with up to {k} attempts"],
         "held_out": ["keep trying {cmd}, but give up after {k} attempts"]},
        '''
        STEP "Run {cmd}" {
            RETRY {k} {
                RUN "{cmd}"
                ASSERT LAST_RUN.EXIT_CODE == 0
            }
        }
        ''',
        lambda rng, s: {"cmd": rng.choice(_COMMANDS[s]), "k": str(rng.randint(2, 5))},
        ran=("cmd",)),
    Family(
        "review_risky",
        {"train": ["ask for [review] before running {cmd}", "[run] {cmd} but get [review] first",
                   "get [review] and then [run] {cmd}", "[run] {cmd} after a human approves it",
                   "wait for [review], then [run] {cmd}"],
         "held_out": ["{cmd} is dangerous: someone must say yes before it runs"]},
        '''
        STEP "Review {cmd}" {
            REQUEST_REVIEW "About to run {cmd}"
        }
        STEP "Run {cmd}" {
            RUN "{cmd}"
            ASSERT LAST_RUN.EXIT_CODE == 0
        }
        ''',
        lambda rng, s: {"cmd": rng.choice(_RISKY[s])},
        ran=("cmd",), reviewed=True),
    Family(
        "try_fallback",
        {"train": ["[run] {cmd} and if it [fails] [run] {cmd2}",
                   "try {cmd}; when it [fails], [run] {cmd2} instead",
                   "[run] {cmd}, falling back to {cmd2} if it [fails]",
                   "attempt {cmd} and [run] {cmd2} if that [fails]"],
         "held_out": ["{cmd2} is the plan B should {cmd} go wrong"]},
        '''
        STEP "Run with a fallback" {
            TRY {
                RUN "{cmd}"
                ASSERT LAST_RUN.EXIT_CODE == 0
            } CATCH {
                RUN "{cmd2}"
            }
        }
        ''',
        lambda rng, s: {"cmd": rng.choice(_FAILING[s]), "cmd2": rng.choice(_COMMANDS[s])},
        ran=("cmd", "cmd2")),
    Family(
        "choose",
        {"train": ["[choose] between {cmd} and {cmd2} and [run] one",
                   "[run] either {cmd} or {cmd2}, whichever is better",
                   "[choose] the best of two approaches: {cmd} or {cmd2}",
                   "[choose] one of {cmd} and {cmd2} to [run]"],
         "held_out": ["two ways to do it, {cmd} or {cmd2}: go with the better one"]},
        '''
        CHOOSE {
            OPTION "{cmd}" {
                RUN "{cmd}"
            }
            OPTION "{cmd2}" {
                RUN "{cmd2}"
            }
        }
        ''',
        lambda rng, s: dict(zip(("cmd", "cmd2"), rng.sample(_COMMANDS[s], 2))),
        ran=("cmd|cmd2",)),
    Family(
        "json_config",
        {"train": ["[create] {file} setting {key} to {value}",
                   "write a json config {file} with {key} set to {value}",
                   "[create] a config [file] {file} where {key} is {value}",
                   "[save] the setting {key} = {value} in {file}"],
         "held_out": ["{file} must hold a JSON object mapping {key} to {value}"]},
        '''
        STEP "Write {file}" {
            WRITE "{file}" <<EOF
            {"{key}": {value}}
            EOF
            ASSERT FILE "{file}" CONTAINS "{key}"
        }
        ''',
        lambda rng, s: {"file": _file(rng, s, "json"), "key": rng.choice(_KEYS[s]),
                        "value": str(rng.randint(2, 999))},
        check=_dedent('''
            WRITE "check_config.py" <<EOF
            import json
            assert json.load(open("{file}"))["{key}"] == {value}
            EOF
            RUN "python check_config.py"
            ASSERT LAST_RUN.EXIT_CODE == 0
            ''')),
    Family(
        "summarise",
        {"train": ["read {src} and write a [summary] to {dst}",
                   "summarise {src} into {dst}", "[save] a [summary] of {src} in {dst}",
                   "[create] {dst} with a [summary] of {src}"],
         "held_out": ["boil {src} down to a few lines in {dst}"]},
        '''
        STEP "Summarise {src}" {
            READ "{src}" AS text
            PROMPT_AGENT "Summarise this text: {{text}}" INTO summary
            WRITE "{dst}" "{{summary}}"
            ASSERT FILE "{dst}" EXISTS
        }
        ''',
        lambda rng, s: _two_files(rng, s),
        files=lambda r: {r["src"]: "QuantaTissu runs agent plans safely.\nIt journals every run.\n"},
        check='ASSERT FILE "{dst}" EXISTS'),
]
# More training wordings per family: assertions, wishes, questions, the
# literal first. Diversity of wording is what carries over to unseen goals.
MORE_WORDINGS = {
    "write_text": ["I want {file} to contain {text}", "{text} should go into {file}",
                   "the [file] {file} must say {text}", "make sure there is a [file] {file} that reads {text}",
                   "new [file] {file}: {text}", "can {file} hold the text {text}?",
                   "write out {text} as {file}", "store {text} inside {file}"],
    "script_prints": ["I need a python [script] {file} that [prints] {text}; [run] it",
                      "{file} should be a python [script] printing {text}. [run] it",
                      "get python to print {text} with a new [script] {file}, then [run] it",
                      "[run] a new python [script] {file} whose output is {text}",
                      "[script] {file} in python: print {text}, then execute it"],
    "shell_script": ["I need a shell [script] {file} that says {text}; [run] it",
                     "{file} should be a shell [script] printing {text}, [run] it",
                     "a sh [script] {file} whose output is {text}, [run] it"],
    "function_test": ["I need {func} in {file} to return the {op} of two numbers; [test] it",
                      "{file} should define the [function] {func}, the {op} of two arguments, with a test",
                      "define {func}() in {file} for the {op} of two numbers and [test] it",
                      "a tested [function] {func} in {file} computing the {op} of two numbers",
                      "give {file} a [function] {func} that [returns] the {op} of two inputs and check it with a test"],
    "run_command": ["can you [run] {cmd} and tell me if it works", "I want to know whether {cmd} exits cleanly",
                    "see if {cmd} succeeds", "{cmd} should run fine: [check] it", "test the command {cmd}"],
    "check_contains": ["make the run fail if {file} lacks {text}", "{file} must mention {text}: [check] it",
                       "I want to be sure {file} includes {text}",
                       "search {file} for {text} and fail when it is not there"],
    "append_line": ["append one more line to {file}: {text}", "{file} gets a new last line {text}",
                    "I want {text} added at the end of {file}", "put {text} as a new line at the end of {file}"],
    "copy_file": ["{dst} should be an exact copy of {src}", "duplicate {src} into a new [file] {dst}",
                  "I need {src} copied to {dst}", "make {dst} the same as {src}"],
    "count_lines": ["find out how many lines {src} has and put the count in {dst}",
                    "{dst} should hold the number of lines in {src}",
                    "record the line count of {src} into {dst}"],
    "parallel_run": ["[run] {cmd} together with {cmd2}, both at once",
                     "start {cmd} and {cmd2} at once rather than in sequence",
                     "{cmd} and {cmd2} should run [parallel]"],
    "retry": ["try {cmd} up to {k} times", "give {cmd} {k} attempts to succeed",
              "{cmd} is flaky: [retry] it up to {k} times",
              "[run] {cmd} and if it [fails] try again, {k} times at most"],
    "review_risky": ["{cmd} needs [review] before it runs", "before running {cmd}, ask a human",
                     "do not [run] {cmd} until someone approves", "{cmd} is risky, so ask first, then [run] it"],
    "try_fallback": ["if {cmd} [fails], fall back to {cmd2}", "[run] {cmd}; on failure [run] {cmd2}",
                     "{cmd2} is the fallback when {cmd} [fails]", "use {cmd2} as a backup if {cmd} [fails]"],
    "choose": ["either {cmd} or {cmd2} will do: [choose] one",
               "there are two options, {cmd} and {cmd2}; [run] the better one",
               "[run] {cmd} or {cmd2}, your choice"],
    "json_config": ["{file} should be a JSON [file] with {key} set to {value}",
                    "I need a config {file} in which {key} is {value}",
                    "store {key} = {value} as JSON in {file}",
                    "make a JSON [file] {file} with the key {key} equal to {value}"],
    "summarise": ["I need a [summary] of {src} saved as {dst}", "{dst} should summarise {src}",
                  "condense {src} into a [summary] in {dst}", "sum up {src} and put it in {dst}"],
}
# And more again, in other voices: needs, outcomes, questions, notes.
MORE_WORDINGS_2 = {
    "write_text": ["we need a [file] {file} with the content {text}", "{file}: put {text} there",
                   "the content of {file} should be {text}", "could {file} say {text}?",
                   "note down {text} in {file}", "{text} goes in {file}"],
    "script_prints": ["a python [script] named {file} that [prints] {text}: write it and [run] it",
                      "write python code in {file} printing {text} and execute it",
                      "the python [script] {file} must print {text}; [run] it to see",
                      "{text} should come out of python [script] {file}; [run] it"],
    "shell_script": ["the shell [script] {file} must print {text}; [run] it to see",
                     "write shell code in {file} printing {text} and execute it"],
    "function_test": ["{func} in {file} should give the {op} of two numbers; add a test and [run] it",
                      "code a [function] {func} in {file} returning the {op} of a and b, plus a test",
                      "we need {func}() in {file}: the {op} of two values, tested",
                      "write {file} with {func}, which [returns] the {op} of two numbers, and a test that proves it"],
    "run_command": ["make sure {cmd} works", "I wonder if {cmd} runs; [run] it",
                    "execute {cmd} once and check the exit code", "is {cmd} fine? [run] it and see",
                    "just [run] {cmd}"],
    "check_contains": ["{text} must be somewhere in {file}; fail otherwise",
                       "confirm {file} has the text {text} or stop",
                       "does {file} contain {text}? fail if not",
                       "read {file}; it has to include {text}",
                       "stop with an error unless {text} is in {file}"],
    "append_line": ["add a last line {text} to {file}", "{file} should end with a new line {text}",
                    "append {text} as the last line of {file}", "one more line for {file}: {text}",
                    "keep what {file} has and add the line {text} after it"],
    "copy_file": ["{dst} must be a copy of {src}", "copy the contents of {src} over to {dst}",
                  "put the same text as {src} into {dst}", "{src} copied as {dst}, please",
                  "I want {dst} with exactly what {src} has"],
    "count_lines": ["write into {dst} how many lines {src} has", "the number of lines in {src} goes to {dst}",
                    "{dst} must say how many lines are in {src}", "line count of {src}, saved to {dst}"],
    "parallel_run": ["run {cmd} and {cmd2} concurrently", "{cmd} and {cmd2}: run both at once",
                     "start {cmd} while {cmd2} runs too"],
    "retry": ["{cmd} may fail; try it again up to {k} times", "rerun {cmd} until it passes, {k} tries at most",
              "attempt {cmd} {k} times at most"],
    "review_risky": ["{cmd} is risky; a person has to approve it before it runs",
                     "someone must approve before {cmd} runs", "ask a person first, then [run] {cmd}",
                     "only [run] {cmd} once a human has approved"],
    "try_fallback": ["if {cmd} breaks, [run] {cmd2}", "{cmd}, or {cmd2} when that [fails]",
                     "try {cmd} and fall back on {cmd2}"],
    "choose": ["pick {cmd} or {cmd2}, whichever is better, and [run] it",
               "two candidates, {cmd} and {cmd2}: [choose] one and [run] it"],
    "json_config": ["the JSON [file] {file} has {key} at {value}", "{file} contains {key} = {value} as JSON",
                    "JSON in {file} with {key} equal to {value}"],
    "summarise": ["shorten {src} to a brief note in {dst}", "write a brief [summary] of {src} to {dst}",
                  "{dst} gets a [summary] of what {src} says"],
}
# A third batch: free word order (the second literal first, the object before
# the verb), conditions and outcomes, so no family is tied to one verb or one
# order of its literals.
MORE_WORDINGS_3 = {
    "write_text": ["{text} is what {file} should say", "into {file} goes the text {text}",
                   "let {file} read {text}", "{file} with {text} as its only line",
                   "put down {text} in a new [file] {file}", "the text {text}, written to {file}",
                   "produce a [file] {file}; its text is {text}", "{file} has to read {text}"],
    "script_prints": ["{file}: a python [script] that [prints] {text}; [run] it afterwards",
                      "the output of python [script] {file} must be {text}; [run] it",
                      "print {text} from python in {file} and execute the [script]",
                      "a small python [script] {file} should [prints] {text} when you [run] it",
                      "make python say {text} in {file}, then [run] it"],
    "shell_script": ["{file}: a shell [script] that echoes {text}; [run] it afterwards",
                     "make the shell say {text} in {file}, then [run] it",
                     "the output of shell [script] {file} must be {text}; [run] it"],
    "function_test": ["{file} needs {func}, the {op} of two numbers, and a test for it",
                      "the {op} of two numbers: write the [function] {func} in {file} and [test] it",
                      "a [function] {func} ({op} of two numbers) in {file}, covered by a test",
                      "{func} should compute the {op} of two numbers in {file}; verify with a test"],
    "run_command": ["execute {cmd} and report whether it passes", "{cmd}: [run] it once",
                    "start {cmd} and expect a zero exit code", "does {cmd} succeed? [run] it",
                    "please try {cmd} and check the result"],
    "check_contains": ["scan {file} for {text}; the run must fail without it",
                       "{text} has to appear in {file}, otherwise fail",
                       "inspect {file}: it must contain {text}",
                       "examine {file} and stop if {text} is absent",
                       "assert that {file} contains the text {text}",
                       "if {file} does not contain {text}, fail",
                       "the run fails unless {text} can be found in {file}"],
    "append_line": ["at the end of {file}, [add] {text}", "{text} should be the new last line of {file}",
                    "[add] {text} below what {file} already has", "grow {file} by one line: {text}"],
    "copy_file": ["{dst} should have the same content as {src}", "{dst} ought to match {src} exactly",
                  "{dst}, a copy of {src}", "populate {dst} from {src} by copying it",
                  "into {dst}, [copy] {src}", "let {dst} be a duplicate of {src}",
                  "{dst} must end up equal to {src}", "from {src}, make {dst} as a copy",
                  "{dst} gets exactly the text of {src}"],
    "count_lines": ["{dst} is where the line count of {src} goes", "how many lines in {src}? write the count to {dst}",
                    "put into {dst} the number of lines of {src}"],
    "parallel_run": ["[run] {cmd} [parallel] with {cmd2}", "{cmd} and {cmd2} together, [parallel]",
                     "launch {cmd} and {cmd2} together rather than one by one",
                     "execute {cmd} while {cmd2} is running", "[run] {cmd} plus {cmd2}, both at once",
                     "[run] {cmd} and, at the same time, {cmd2}", "do {cmd} and {cmd2} in tandem",
                     "no need to wait: [run] {cmd} and {cmd2} [parallel]"],
    "retry": ["up to {k} attempts for {cmd}", "[run] {cmd}; if it [fails], [retry] up to {k} times",
              "make {k} attempts at {cmd} at most", "{cmd} gets {k} tries"],
    "review_risky": ["{cmd} can destroy data: get [review] before running it",
                     "nobody runs {cmd} before a person approves it",
                     "{cmd} only after [review]", "hold {cmd} until a human says it is fine"],
    "try_fallback": ["in case {cmd} [fails], [run] {cmd2}", "{cmd2} if {cmd} does not succeed",
                     "{cmd2} is the backup for {cmd}",
                     "when {cmd} errors out, use {cmd2}", "[run] {cmd}, otherwise {cmd2}",
                     "{cmd2} as a fallback in case {cmd} [fails]", "if {cmd} is no good, [run] {cmd2} instead",
                     "{cmd2} is the alternative when {cmd} [fails]"],
    "choose": ["[run] the better of {cmd} and {cmd2}", "either {cmd} or {cmd2}; pick one and [run] it",
               "decide between {cmd} and {cmd2}, then [run] the winner",
               "one of two approaches, {cmd} or {cmd2}, should be [run]"],
    "json_config": ["a JSON [file] {file}: {key} is {value}", "{key} = {value} in a JSON [file] {file}",
                    "{file} as JSON, with {key} set to {value}",
                    "set {key} to {value} in the JSON config {file}"],
    "summarise": ["reduce {src} to a short [summary] in {dst}", "{dst}: a [summary] of {src}",
                  "make {dst} a condensed version of {src}", "digest {src} into a few sentences in {dst}",
                  "what does {src} say? put a [summary] in {dst}", "summarize {src} as {dst}",
                  "cut {src} down to its main points in {dst}", "abridge {src} into {dst}"],
}
for _family in FAMILIES:
    _family.phrasings["train"] = (_family.phrasings["train"] + MORE_WORDINGS.get(_family.name, [])
                                  + MORE_WORDINGS_2.get(_family.name, [])
                                  + MORE_WORDINGS_3.get(_family.name, []))
FAMILY_NAMES = [f.name for f in FAMILIES]


def _function_roles(rng: random.Random, split: str) -> dict:
    op = rng.choice(sorted(_OPS))
    expr, expect, check_value = _OPS[op]
    path = _file(rng, split, "py").split("/")[-1]      # a module at the top: importable
    return {"file": path, "func": rng.choice(_IDENTS[split]), "op": op, "expr": expr,
            "expect": str(expect), "check_value": str(check_value), "module": path[:-3]}


def _two_files(rng: random.Random, split: str) -> dict:
    src = _file(rng, split, rng.choice(["txt", "md"]))
    dst = src
    while dst == src:
        dst = _file(rng, split, rng.choice(["txt", "md"]))
    return {"src": src, "dst": dst}


# Two-task goals: the combinations only the held-out split uses.
_HELD_OUT_PAIRS = {("write_text", "run_command"), ("json_config", "check_contains"),
                   ("script_prints", "append_line")}
_JOINERS = {"train": [", then ", " and then ", "; after that ", ". Then ", "; then ", " then ",
                      ", and afterwards ", ". After that, ", ", after which ", ". Next, ", ", next ",
                      " and next ", "; next, ", ", and after that ", ". Afterwards, ", ". When done, ",
                      ", and when finished, ", ", subsequently ", ". Second, ", "; second, ",
                      ", and also ", ". Also ", ", plus ", " as well as ", "; and ", " and ", ". ",
                      "; ", ", and then ", ", later ", ". Finally, ", ", and finally ", " - then ",
                      ", and as a second step ", ". As a next step, ", 
                      ", and when it is complete, "],
            "held_out": [", and once that is done, ", ", followed by: "]}
# Families whose files come with the goal cannot be the second of a pair
# whose first writes the same name; keep pairs to these simple ones.
_PAIRABLE = ("write_text", "script_prints", "run_command", "json_config", "append_line",
             "check_contains", "function_test", "count_lines")

# Roles that never appear in a goal's wording: the plan derives them.
_DERIVED = {"module", "expr", "expect", "check_value", "n_lines"}
# Which marker type each role takes; module is the «M» of its file.
_ROLE_TYPES = {"file": "F", "src": "F", "dst": "F", "text": "T", "cmd": "C", "cmd2": "C",
               "func": "I", "key": "I", "value": "N"}


# --- making goals -------------------------------------------------------------------


def make_goal(rng: random.Random, split: str, family: Family | None = None,
              noise: float = 0.5) -> Goal | None:
    """One goal of ``family`` (random if None), or None when its wording
    slots ambiguously (two roles with the same literal, a literal missed)."""
    family = family or rng.choice(FAMILIES)
    roles = family.roles(rng, split)
    wording = _word(rng, rng.choice(family.phrasings[split]), roles, split, noise)
    return _goal_from(family.name, wording, [(family, roles)])


def make_pair_goal(rng: random.Random, split: str, noise: float = 0.5) -> Goal | None:
    """A two-task goal ("X, then Y") over families allowed in ``split``."""
    pairs = [(a, b) for a in _PAIRABLE for b in _PAIRABLE if a != b]
    pairs = [p for p in pairs if (p in _HELD_OUT_PAIRS) == (split == "held_out")]
    a, b = (next(f for f in FAMILIES if f.name == n) for n in rng.choice(pairs))
    roles_a, roles_b = a.roles(rng, split), b.roles(rng, split)
    if set(_literals(roles_a)) & set(_literals(roles_b)):
        return None
    first = _word(rng, rng.choice(a.phrasings[split]), roles_a, split, noise, suffix=False)
    second = _word(rng, rng.choice(b.phrasings[split]), roles_b, split, noise, prefix=False)
    return _goal_from(f"{a.name}+{b.name}", first + rng.choice(_JOINERS[split]) + second,
                      [(a, roles_a), (b, roles_b)])


def _literals(roles: dict) -> list[str]:
    return [v for k, v in roles.items() if k not in _DERIVED and k != "op"]


def _goal_from(name: str, wording: str, parts: list[tuple[Family, dict]]) -> Goal | None:
    if "«" in wording or "»" in wording:
        return None
    slotted = slot(wording)
    by_literal = {}
    for marker, literal in slotted.values.items():
        by_literal.setdefault((marker[1], literal), marker)
    plans, checks, files, ran, negative, missed = [], [], {}, [], None, False
    for family, roles in parts:
        markers = {}
        for role, value in roles.items():
            if role in _ROLE_TYPES:
                marker = by_literal.get((_ROLE_TYPES[role], value))
                missed = missed or marker is None  # the slotter did not see it as meant
                markers[role] = marker or value
        if "module" in roles:           # the «M» of the file's «F» (slots.py)
            markers["module"] = "«M" + markers["file"][2:]
        plan_roles = {**roles, **markers}
        plans.append(_render(family.plan, plan_roles))
        if family.check:
            checks.append(_render(family.check, roles))
        files.update(family.files(roles) if family.files else {})
        for role in family.ran:
            ran.append("|".join(roles[r] for r in role.split("|")))
        if family.negative:
            negative = {**files, **family.negative(roles)}
    plan = "" if missed else _canonical("".join(plans))  # no reference plan to learn from
    return Goal(name, wording, slotted, plan, files, "".join(checks), ran,
                any(f.reviewed for f, _ in parts), negative)


def _render(template: str, roles: dict) -> str:
    text = _dedent(template)
    return re.sub(r"\{(\w+)\}", lambda m: str(roles.get(m.group(1), m.group())), text)


def _canonical(plan: str) -> str:
    """The plan as ``tiss fmt`` writes it (one layout to learn)."""
    from tisslang.formatter import format_source
    return format_source(plan, "<corpus>")


def _word(rng: random.Random, phrasing: str, roles: dict, split: str, noise: float,
          prefix: bool = True, suffix: bool = True) -> str:
    def synonym(m: re.Match) -> str:
        train, held = SYNONYMS[m.group(1)]
        return rng.choice(train + held if split == "held_out" else train)

    text = re.sub(r"\[(\w+)\]", synonym, phrasing)
    if split == "train":
        text = _noisy(rng, _wordnet_swap(rng, text, WORDNET_RATE * noise), noise)
    pool = 0 if split == "train" else 1
    before = rng.choice(FILLERS["prefix"][pool] + FILLERS["prefix"][0]) if prefix else ""
    after = rng.choice(FILLERS["suffix"][pool] + FILLERS["suffix"][0]) if suffix else ""
    text = before + text + after
    if rng.random() < 0.5 and prefix and not text.startswith("{"):
        text = text[:1].upper() + text[1:]
    # the literals go in last: no noise or casing ever touches them
    return re.sub(r"\{(\w+)\}", lambda m: _quoted(rng, m.group(1), roles[m.group(1)]), text)


def _quoted(rng: random.Random, role: str, value: str) -> str:
    """How a literal is written in a goal: texts always quoted, commands in
    backticks or quotes, file names and identifiers bare or quoted."""
    if role == "text":
        return rng.choice(['"{}"', '"{}"', "'{}'", "“{}”"]).format(value)
    if role in ("cmd", "cmd2"):
        return rng.choice(["`{}`", "`{}`", '"{}"']).format(value)
    if role == "func":
        return value
    if role in ("file", "src", "dst"):
        return rng.choice(["{}", "{}", "{}", '"{}"']).format(value)
    return value


# Words never swapped for a WordNet synonym: the small words, and the domain
# words a plan depends on (python or shell, JSON, a count of attempts or lines).
STOP_WORDS = frozenset("""a an the and or but if of to in into on at by for with from as is are be
    it its it's this that these those there then than so not no do does did i we you me my your
    our can could would should must will shall may might let's let up out off all both each
    one two once when while after before until unless whether which what who how just also
    python json shell bash sh times attempts attempt tries try lines line exit code zero
    new file""".split())
WORDNET_RATE = 0.15  # the chance that a training goal's word is swapped for a synonym
_WORDNET_TABLE = Path(__file__).with_name("data") / "wordnet_synonyms.json"


def _wordnet() -> dict[str, list[str]]:
    """runtime/data/wordnet_synonyms.json (runtime/wordnet_table.py), without
    any synonym that is a literal of either split (a goal's literals stay
    the only place those words occur)."""
    global _WORDNET_CACHE
    if _WORDNET_CACHE is None:
        import json
        literals = {w.lower() for pool in (_STEMS, _IDENTS, _KEYS) for split in SPLITS
                    for w in pool[split]}
        table = json.loads(_WORDNET_TABLE.read_text())
        _WORDNET_CACHE = {word: kept for word, synonyms in table.items()
                          if (kept := [x for x in synonyms if not set(x.split()) & literals])}
    return _WORDNET_CACHE


_WORDNET_CACHE: dict[str, list[str]] | None = None


def _wordnet_swap(rng: random.Random, text: str, rate: float) -> str:
    """Training-only: some words (never a {role} or a stop word) become one of
    their WordNet synonyms, so the model meets a broad vocabulary."""
    table = _wordnet()

    def swap(m: re.Match) -> str:
        word = m.group()
        synonyms = table.get(word.lower())
        if not synonyms or word.lower() in STOP_WORDS or rng.random() >= rate:
            return word
        return rng.choice(synonyms)
    return re.sub(r"(?<![{\w'])[A-Za-z]+(?![\w}'])", swap, text)


def _noisy(rng: random.Random, text: str, amount: float) -> str:
    """Training-only noise on the wording (never on a {role}): dropped small
    words, swapped letters, upper or lower case."""
    words = text.split(" ")
    out = []
    for w in words:
        if "{" in w:
            out.append(w)
            continue
        r = rng.random()
        if r < 0.06 * amount and w.lower() in {"a", "the", "and", "it", "to", "that", "of"}:
            continue
        if r > 1 - 0.05 * amount and len(w) > 3 and w.isalpha():
            i = rng.randrange(len(w) - 1)
            w = w[:i] + w[i + 1] + w[i] + w[i + 2:]
        out.append(w)
    text = " ".join(out)
    r = rng.random()
    if r < 0.05 * amount:
        text = text.lower()
    elif r < 0.08 * amount:
        text = re.sub(r"(?<!\{)\b[a-z]+\b(?!\})", lambda m: m.group().upper(), text)
    return text


def goals(split: str, n: int, seed: int = 0, pair_fraction: float = 0.15,
          noise: float = 0.8) -> list[Goal]:
    """``n`` goals of ``split``, every family in turn, some of them two-task."""
    rng = random.Random(f"{split}-{seed}")
    out, i = [], 0
    while len(out) < n:
        if rng.random() < pair_fraction:
            goal = make_pair_goal(rng, split, noise)
        else:
            goal = make_goal(rng, split, FAMILIES[i % len(FAMILIES)], noise)
            i += 1
        if goal is not None and (goal.plan or split == "held_out"):
            out.append(goal)
    return out


# --- repairs ------------------------------------------------------------------------


def repair_example(rng: random.Random, goal: Goal) -> str | None:
    """A repair prompt (goal + a broken plan + its problems) followed by the
    right plan: the broken plan is the right one with one realistic mistake,
    and its problems are what the checker really says about it."""
    from .planner import check, prompt_for
    broken = _break(rng, goal.plan)
    if broken is None or broken == goal.plan:
        return None
    _, diagnostics = check(broken)
    errors = [d for d in diagnostics if d.severity == "error"]
    if not errors:
        return None
    return prompt_for(goal.slotted.text, broken, errors) + "\n" + goal.plan


def _break(rng: random.Random, plan: str) -> str | None:
    mistakes = [
        lambda p: p.replace("LAST_RUN.EXIT_CODE", "LAST_RUN.EXIT", 1),
        lambda p: p.replace("ASSERT content", "ASSERT contents", 1) if "AS content" in p else None,
        lambda p: p.replace('"{{content}}"', '"{{text}}"', 1) if "{{content}}" in p else None,
        lambda p: p.replace("AS first", "AS result", 1) if "AS first" in p else None,
        lambda p: p.replace("{{summary}}", "{{answer}}", 1) if "{{summary}}" in p else None,
    ]
    rng.shuffle(mistakes)
    for mistake in mistakes:
        broken = mistake(plan)
        if broken and broken != plan:
            return broken
    return None


# A plan that reads and writes two files can swap them: it reads the file the
# goal asks for and writes over the one the goal gives. Held-out wordings put
# the two roles in orders training never used, and that is the planner's
# commonest slip. The run's report names the file that is missing, so the
# repair can tell the two apart where the wording could not: these examples
# teach it to. Half of them scramble the goal's words, so that only the report
# (not a wording it knows) says which file is which.
SCRAMBLED_GOALS = 0.5


def swapped_files_example(rng: random.Random, goal: Goal) -> str | None:
    """A repair after a failed run (``tiss plan --run --repair``): the goal,
    its plan with the two files swapped, the report of really running that
    plan (runtime/session.py, as the planner is fed it), then the right plan.
    None unless the plan starts by reading a file the goal gives and also
    names one it does not (the run then fails at that first READ, before any
    command: no sandbox is needed to make the report)."""
    given = {m for m, literal in goal.slotted.values.items() if literal in goal.files}
    first = re.search(r'^\s*(?:STEP "[^"]*" \{\s*)?READ "([^"]*)"', goal.plan)
    others = sorted({m.group() for m in MARKER.finditer(goal.plan) if m.group(1) == "F"} - given)
    if "+" in goal.family or not first or first.group(1) not in given or len(others) != 1:
        return None
    broken = _renamed(goal.plan, {first.group(1): others[0], others[0]: first.group(1)})
    report = _run_report(goal, broken)
    if report is None:
        return None
    text = goal.slotted.text
    if rng.random() < SCRAMBLED_GOALS:
        words = text.split()
        rng.shuffle(words)
        text, (broken, right, report) = _renumbered(" ".join(words), [broken, goal.plan, report])
    else:
        right = goal.plan
    from .planner import prompt_for
    return prompt_for(text, broken, report.splitlines()) + "\n" + right


def _run_report(goal: Goal, plan: str) -> str | None:
    """What a run of ``plan`` (markers filled in) in the goal's workspace
    reports, in markers again, as ``tiss plan --run`` feeds it back."""
    import tempfile

    from .planner import reslot, run_report, with_header
    from .session import run_plan

    with tempfile.TemporaryDirectory() as tmp:
        _lay_out(Path(tmp), goal.files)
        outcome = run_plan(with_header(goal.text, fill(plan, goal.slotted.values)), tmp,
                           review="approve", journal=False)
    if outcome.status != "failed" or not outcome.error:
        return None
    return "\n".join(reslot(line, goal.slotted) for line in run_report(outcome.error))


def _renumbered(text: str, others: list[str]) -> tuple[str, list[str]]:
    """``text`` with its markers numbered again in order of appearance, per
    type, as the slotter numbers them (and the same renaming in ``others``)."""
    names: dict[str, str] = {}
    for m in MARKER.finditer(text):
        if m.group() not in names:
            kind = m.group(1)
            names[m.group()] = f"{OPEN}{kind}{sum(n[1] == kind for n in names.values())}{CLOSE}"
    return _renamed(text, names), [_renamed(o, names) for o in others]


def _renamed(text: str, names: dict[str, str]) -> str:
    """``text`` with each marker in ``names`` replaced, all at once."""
    return MARKER.sub(lambda m: names.get(m.group(), m.group()), text)


# --- the training text --------------------------------------------------------------


def training_text(goal: Goal) -> str:
    return goal.prompt + "\n" + goal.plan


TRAIN_PAIR_FRACTION = 0.25  # two-task goals in training (the held-out set keeps its 0.15)


def write_corpus(out: str | Path, pairs: int = 40_000, seed: int = 0,
                 repair_fraction: float = 0.05, swap_fraction: float = 0.0) -> Path:
    """The training corpus: ``pairs`` examples, each ending in ``<|eos|>``;
    with ``swap_fraction``, that share of the goals that can have one also
    get a swapped-files repair. The goals are the same either way; which of
    them get a checker repair is drawn anew (both draw from one generator)."""
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    rng = random.Random(f"repairs-{seed}")
    chunks = []
    for goal in goals("train", pairs, seed, pair_fraction=TRAIN_PAIR_FRACTION):
        chunks.append(training_text(goal))
        if rng.random() < repair_fraction:
            repaired = repair_example(rng, goal)
            if repaired:
                chunks.append(repaired)
        if swap_fraction and rng.random() < swap_fraction:
            repaired = swapped_files_example(rng, goal)
            if repaired:
                chunks.append(repaired)
    from model.fileio import write_atomic
    write_atomic(out, "".join(c + "<|eos|>" for c in chunks))
    return out


def corpus_files(out_dir: str | Path, pairs: int = 60_000, seed: int = 0) -> list[Path]:
    """``corpus: generate:runtime.planner_corpus:corpus_files`` in a training
    config (model/data.py calls it with the run's corpus folder): the first
    stage of the shipped planner (model/configs/planner.yaml)."""
    return [write_corpus(Path(out_dir) / "planner_corpus.txt", pairs, seed)]


SWAP_FRACTION = 0.5   # of the goals that can have a swapped-files repair


def corpus_files_with_swaps(out_dir: str | Path, pairs: int = 60_000, seed: int = 0) -> list[Path]:
    """The same corpus plus swapped-files repairs: the second stage
    (model/configs/planner-repair.yaml), which starts from the first's weights."""
    return [write_corpus(Path(out_dir) / "planner_corpus.txt", pairs, seed, swap_fraction=SWAP_FRACTION)]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", type=Path, required=True)
    parser.add_argument("--pairs", type=int, default=40_000)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--show", type=int, default=0, help="print this many examples")
    args = parser.parse_args(argv)
    if args.show:
        for goal in goals("train", args.show, args.seed):
            print(training_text(goal), end="<|eos|>\n\n")
        return 0
    path = write_corpus(args.out, args.pairs, args.seed)
    print(f"wrote {path} ({path.stat().st_size / 1e6:.1f} MB)", file=sys.stderr)
    return 0


# --- judging a plan's run -------------------------------------------------------------


@dataclass
class Verdict:
    success: bool
    reason: str          # what failed, for a person reading the bench's report
    run_error: str | None = None   # the plan's own run failed with this report (what
                                   # `tiss plan --run --repair` feeds back); None otherwise


def judge(goal: Goal, source: str, workspace: Path, *, sandbox: str = "auto") -> Verdict:
    """Run ``source`` (a plan for ``goal``) in ``workspace`` with the goal's
    files, then the goal's own check there: the plan succeeded, ran the
    commands the goal names (after a review when it asks for one), and the
    check passes. With ``negative_files``, the plan must also *fail* on them
    (a check that checks nothing would pass both)."""
    from .session import run_plan

    _lay_out(workspace, goal.files)
    outcome = run_plan(source, workspace, sandbox=sandbox, review="approve", choose="first")
    if outcome.status != "succeeded":
        return Verdict(False, f"the plan {outcome.status}: {outcome.error}",
                       run_error=outcome.error or outcome.status)
    events = _events(outcome.journal)
    ran = {e.get("command") for e in events if e.get("stmt") == "Run"} | _parallel_runs(source)
    for wanted in goal.ran:
        if not ran & set(wanted.split("|")):
            return Verdict(False, f"never ran {wanted!r}")
    if goal.reviewed:
        asked = [i for i, e in enumerate(events) if e.get("event") == "review_asked"]
        first_run = next((i for i, e in enumerate(events) if e.get("stmt") == "Run"), len(events))
        if not asked or asked[0] > first_run:
            return Verdict(False, "ran before asking for a review")
    if goal.check:
        checked = run_plan(f'TASK "check"\n{goal.check}', workspace, sandbox=sandbox,
                           review="approve", journal=False)
        if checked.status != "succeeded":
            return Verdict(False, f"the goal's check failed: {checked.error}")
    if goal.negative_files is not None:
        other = workspace.with_name(workspace.name + "-negative")
        _lay_out(other, goal.negative_files)
        if run_plan(source, other, sandbox=sandbox, review="approve", journal=False).status == "succeeded":
            return Verdict(False, "the plan also passes where the goal is not met")
    return Verdict(True, "ok")


def _parallel_runs(source: str) -> set[str]:
    """The commands of the RUNs inside PARALLEL (the journal records a
    branch's result, not its commands; the run succeeded, so they ran)."""
    import tisslang
    from tisslang import ast

    found: set[str] = set()

    def walk(statements, inside: bool) -> None:
        for stmt in statements:
            if inside and isinstance(stmt, ast.Run) and isinstance(stmt.command, ast.Template):
                found.add("".join(getattr(part, "value", "") for part in stmt.command.parts))
            for body in ast.blocks(stmt):
                walk(body, inside or isinstance(stmt, ast.Parallel))

    walk(tisslang.parse(source).body, False)
    return found


def _lay_out(workspace: Path, files: dict[str, str]) -> None:
    workspace.mkdir(parents=True, exist_ok=True)
    for name, text in files.items():
        path = workspace / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)


def _events(run_folder: Path | None) -> list[dict]:
    import json
    if run_folder is None:
        return []
    lines = (Path(run_folder) / "events.jsonl").read_text().splitlines()
    return [json.loads(line) for line in lines if line.strip()]


if __name__ == "__main__":
    sys.exit(main())
