"""Tools for TissLang's CALL and the agent loop: the plugin API.

``from tools import tool`` is what a plugin author needs: ``@tool`` turns a
typed function into a Tool (docs/tools.md). The registry (tools/registry.py)
gathers the built-ins, installed plugins (entry point group
``tisslang.tools``) and MCP servers' tools. Imports inside this package are
relative, so it works under another name when a user's project has its own
``tools`` package (runtime/ours.py).
"""

from .context import ToolContext
from .errors import ToolError
from .registry import ENTRY_POINT_GROUP, Tool, ToolRegistry, load_registry, tool

__all__ = ["tool", "Tool", "ToolContext", "ToolError", "ToolRegistry", "load_registry", "ENTRY_POINT_GROUP"]
