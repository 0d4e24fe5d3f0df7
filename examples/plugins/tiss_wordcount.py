"""An example tool plugin for QuantaTissu (docs/tools.md).

Installed, it registers ``word_count`` through the entry point group
``tisslang.tools``; a plan then says ``CALL word_count {path: "notes.txt"}``.
"""

from typing import Literal

from tools import ToolContext, tool


@tool
def word_count(path: str, context: ToolContext, unit: Literal["words", "lines"] = "words") -> dict:
    """Count the words (or lines) of a text file in the workspace.

    Args:
        path: the file, relative to the workspace.
        unit: what to count.
    """
    text = context.files().read(path)
    count = len(text.split()) if unit == "words" else len(text.splitlines())
    return {"path": path, unit: count}
