"""The built-in tools. Each works through the ToolContext the runtime hands
in: files through the run's confined workspace, commands through the run's
sandbox, budgets and the review policy through the run's own."""

from __future__ import annotations

import fnmatch
import re

from .context import ToolContext
from .errors import ToolError
from .knowledge.tool import search_knowledge
from .registry import tool

MAX_MATCHES = 200


@tool(risky=True, source="built-in")
def shell(command: str, context: ToolContext, timeout: float | None = None) -> dict:
    """Run a shell command in the run's sandbox (never on the host unless the
    run chose the host backend); counts against RUN_COUNT and is reviewed.

    Args:
        command: the shell command line, e.g. "ls -la".
        timeout: seconds before the command is stopped (default: the run's @timeout).
    """
    context.charge("RUN_COUNT", 1)
    if not context.approve(f"run the command: {command}"):
        raise ToolError(f"the review policy refused the command {command!r}")
    return context.run_command(command, timeout)


@tool(source="built-in")
def read_file(path: str, context: ToolContext) -> str:
    """Read a UTF-8 text file of the workspace.

    Args:
        path: the file, relative to the workspace.
    """
    return context.files().read(path)


@tool(source="built-in")
def write_file(path: str, content: str, context: ToolContext, append: bool = False) -> dict:
    """Write (or append to) a text file of the workspace; folders are made.

    Args:
        path: the file, relative to the workspace.
        content: the text to write.
        append: add to the end of the file instead of replacing it.
    """
    context.files().write(path, content, append=append)
    return {"path": path, "bytes": len(content.encode("utf-8"))}


@tool(source="built-in")
def replace_in_file(path: str, old: str, new: str, context: ToolContext) -> dict:
    """Replace every occurrence of a text in a text file of the workspace.

    Args:
        path: the file, relative to the workspace.
        old: the exact text to find (an error if the file does not hold it).
        new: the text to put in its place.
    """
    if not old:
        raise ToolError("argument 'old' is empty: give the exact text to replace")
    files = context.files()
    text = files.read(path)
    count = text.count(old)
    if not count:
        raise ToolError(f"{path} does not contain {old!r}: read it first and give its exact text")
    files.write(path, text.replace(old, new))
    return {"path": path, "replaced": count}


@tool(source="built-in")
def list_files(context: ToolContext, path: str = ".", pattern: str = "*") -> list[str]:
    """List the files under a folder of the workspace (recursively), sorted.

    Args:
        path: the folder, relative to the workspace.
        pattern: a glob the file's path must match, e.g. "*.py" or "src/*.txt".
    """
    names = context.files().list(path)
    return [name for name in names if fnmatch.fnmatch(name, pattern)
            or fnmatch.fnmatch(name.rsplit("/", 1)[-1], pattern)]


@tool(source="built-in")
def search_files(regex: str, context: ToolContext, path: str = ".", pattern: str = "*",
                 max_results: int = 50) -> list[dict]:
    """Find the lines of workspace text files that match a regular expression.

    Args:
        regex: a Python regular expression, e.g. "def \\w+\\(".
        path: the folder to search, relative to the workspace.
        pattern: a glob the file's path must match, e.g. "*.py".
        max_results: stop after this many matching lines (at most 200).
    """
    try:
        compiled = re.compile(regex)
    except re.error as exc:
        raise ToolError(f"argument 'regex' is not a valid regular expression: {exc}") from None
    limit = max(0, min(max_results, MAX_MATCHES))
    found: list[dict] = []
    for name in list_files.function(context, path, pattern):
        if len(found) >= limit:
            break
        try:
            text = context.files().read(name)
        except Exception:   # binary files and files that vanished are not searched
            continue
        for number, line in enumerate(text.splitlines(), 1):
            if compiled.search(line):
                found.append({"path": name, "line": number, "text": line})
                if len(found) >= limit:
                    break
    return found


@tool(source="built-in")
def run_plan(source: str, context: ToolContext) -> dict:
    """Run a TissLang fragment in the current run (its variables, budgets,
    sandbox and journal); fails as the fragment fails.

    Args:
        source: TissLang statements, e.g. 'RUN "pytest -q" AS tests'.
    """
    return context.run_plan(source)


@tool(source="built-in")
def final_answer(answer: str, context: ToolContext) -> str:
    """Give the final answer to the goal (ends the agent loop).

    Args:
        answer: the answer, as text.
    """
    context.journal({"final_answer": answer})
    return answer


BUILTINS = (shell, read_file, write_file, replace_in_file, list_files, search_files, run_plan, final_answer,
            search_knowledge)
