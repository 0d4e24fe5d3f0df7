"""Questions the REPL asks with single-key answers: REQUEST_REVIEW and PAUSE
(approve / reject / comment) and the ``:plan`` proposal (approve / edit /
reject). Ctrl-C or Ctrl-D while a question is open stops what is running."""

from __future__ import annotations

import threading

from prompt_toolkit.application import Application
from prompt_toolkit.key_binding import KeyBindings
from prompt_toolkit.layout import FormattedTextControl, Layout, Window
from prompt_toolkit.shortcuts import PromptSession

from .review import Answer, Request

REVIEW_KEYS = {"a": "approve", "r": "reject", "c": "comment"}


def ask_key(question: str, keys: dict[str, str], *, input=None, output=None) -> str:
    """Show ``question`` and wait for one of ``keys`` (``{"a": "approve", …}``);
    returns the chosen word. Any other key is ignored."""
    bindings = KeyBindings()
    for key, word in keys.items():
        bindings.add(key)(lambda event, word=word: event.app.exit(result=word))
        bindings.add(key.upper())(lambda event, word=word: event.app.exit(result=word))

    @bindings.add("c-c")
    @bindings.add("c-d")
    def _(event):
        event.app.exit(exception=KeyboardInterrupt())

    choices = "  ".join(f"[{key}]{word[1:] if word.startswith(key) else ' ' + word}"
                        for key, word in keys.items())
    app = Application(layout=Layout(Window(FormattedTextControl(f"{question}  {choices} "),
                                           height=1, always_hide_cursor=True)),
                      key_bindings=bindings, input=input, output=output, erase_when_done=True)
    # Signal handlers can only be installed by the main thread; a PARALLEL
    # branch asks from a worker thread.
    in_main = threading.current_thread() is threading.main_thread()
    return app.run(handle_sigint=in_main)


def ask_line(message: str, *, input=None, output=None, default: str = "", multiline=False) -> str:
    session = PromptSession(input=input, output=output)
    return session.prompt(message, default=default, multiline=multiline)


class ReplReviewer:
    """The reviewer a REPL session runs with (``runtime.review.Reviewer``):
    shows the message, takes a single-key verdict, and journals the answer.
    A comment (key c) is asked for, then the verdict is asked again."""

    def __init__(self, say, journal, *, input=None, output=None):
        self.say, self.journal = say, journal
        self.input, self.output = input, output
        self.lock = threading.Lock()   # PARALLEL branches ask one at a time

    def __call__(self, request: Request) -> Answer:
        with self.lock:
            if request.kind == "choose":
                return self._choose(request)
            label = "REVIEW" if request.kind == "review" else "PAUSED"
            self.say(f"? {label} (line {request.line}): {request.message}")
            comment = ""
            while True:
                word = ask_key("  your answer:", REVIEW_KEYS, input=self.input, output=self.output)
                if word != "comment":
                    break
                comment = ask_line("  comment: ", input=self.input, output=self.output).strip()
            self.say(f"  {word}d" + (f" with comment: {comment}" if comment else ""))
            self.journal("review_answered", line=request.line, kind=request.kind,
                         message=request.message, verdict=word, comment=comment)
            return Answer(word, comment)

    def _choose(self, request: Request) -> Answer:
        """One digit picks an option; with more than nine, type the number."""
        self.say(f"? {request.message}")
        for number, option in enumerate(request.options, 1):
            self.say(f"  {number}) {option}")
        numbers = [str(n) for n in range(1, len(request.options) + 1)]
        if len(numbers) <= 9:
            chosen = ask_key("  choose:", dict(zip(numbers, numbers)), input=self.input, output=self.output)
        else:
            chosen = ""
            while chosen not in numbers:
                chosen = ask_line(f"  choose 1-{len(numbers)}: ", input=self.input, output=self.output).strip()
        index = int(chosen) - 1
        self.journal("review_answered", line=request.line, kind="choose", choice=request.options[index])
        return Answer("approve", "chosen in the REPL", index)
