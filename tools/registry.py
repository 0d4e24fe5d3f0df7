"""Tools and the one registry that CALL, the checker, the REPL, ``tiss tools``
and the agent loop all read.

A Tool is a name, a description, a JSON Schema for its arguments, a
function, and where it came from. ``@tool`` builds one from a typed Python
function (the schema from its hints, the descriptions from its docstring);
``load_registry`` gathers the built-ins, every installed plugin (entry point
group ``tisslang.tools``) and the tools of configured MCP servers.
"""

from __future__ import annotations

import inspect
import os
import sys
from collections.abc import Mapping
from dataclasses import dataclass, replace
from typing import Any, Callable, Iterator, get_type_hints

import docstring_parser

from .context import ToolContext
from .errors import ToolError
from .schema import convert, describe, schema_for, validate

ENTRY_POINT_GROUP = "tisslang.tools"
NAME_HINT = "a tool name is letters, digits and _, starting with a letter (as TissLang's CALL needs)"


@dataclass(frozen=True)
class Tool:
    name: str
    description: str
    parameters: dict                 # a JSON Schema "object"
    function: Callable[..., Any]
    source: str = "built-in"
    risky: bool = False              # asks the review policy before each call
    context_parameter: str | None = None   # the function's ToolContext parameter, if any
    hints: Mapping[str, Any] | None = None  # the Python types to build from JSON (dataclasses…)

    def call(self, arguments: Mapping[str, Any] | None = None, context: ToolContext | None = None) -> Any:
        """Validate ``arguments`` against the schema, then call the function."""
        arguments = dict(arguments or {})
        self.check_arguments(arguments)
        if self.hints:
            arguments = {k: convert(v, self.hints[k]) if k in self.hints else v for k, v in arguments.items()}
        if self.context_parameter:
            arguments[self.context_parameter] = context or ToolContext(tool_name=self.name)
        return self.function(**arguments)

    def check_arguments(self, arguments: Mapping[str, Any]) -> None:
        """ToolError naming the first argument that is missing, unknown or
        does not fit the schema (what was expected, what came)."""
        if not isinstance(arguments, Mapping):
            raise ToolError(f"tool {self.name!r} takes an object of arguments, got {type(arguments).__name__}")
        properties = self.parameters.get("properties", {})
        for name in self.parameters.get("required", ()):
            if name not in arguments:
                raise ToolError(f"tool {self.name!r}: argument {name!r} is missing",
                                hint=f"{name} is {describe(properties.get(name, {}))}; {self.usage()}")
        for name, value in arguments.items():
            if name in properties:
                validate(value, properties[name], f"tool {self.name!r}: argument {name!r}")
            elif self.parameters.get("additionalProperties", True) is False:
                raise ToolError(f"tool {self.name!r}: unknown argument {name!r}", hint=self.usage())

    def usage(self) -> str:
        names = list(self.parameters.get("properties", {}))
        required = set(self.parameters.get("required", ()))
        shown = ", ".join(n if n in required else f"{n}?" for n in names) or "none"
        return f"its arguments: {shown}"

    def to_json(self) -> dict:
        return {"name": self.name, "description": self.description, "parameters": self.parameters,
                "source": self.source, "risky": self.risky}

    def __call__(self, **arguments):
        """A tool is still callable like its function (validated)."""
        return self.call(arguments)


def tool(function: Callable | None = None, *, name: str | None = None, description: str | None = None,
         risky: bool = False, source: str | None = None):
    """Turn a typed function into a Tool: ``@tool`` or ``@tool(name=…, risky=True)``.

    The schema comes from the type hints (str, int, float, bool, list[…],
    dict[str, …], Literal, Optional, defaults, dataclasses, TypedDicts); the
    description and each argument's description from the docstring (Google
    "Args:" or NumPy "Parameters" sections). A parameter annotated
    ToolContext receives the run's context and is not in the schema.
    """
    def build(fn: Callable) -> Tool:
        return _from_function(fn, name=name, description=description, risky=risky,
                              source=source or _defined_in(fn))
    return build(function) if function is not None else build


def _from_function(fn, *, name, description, risky, source) -> Tool:
    if isinstance(fn, Tool):
        return replace(fn, **{k: v for k, v in (("name", name), ("source", source)) if v})
    tool_name = name or getattr(fn, "__name__", "")
    if not _valid_name(tool_name):
        raise ToolError(f"cannot make a tool named {tool_name!r}", hint=NAME_HINT)
    try:
        hints = get_type_hints(fn, include_extras=True)
    except Exception as exc:   # a hint naming something undefined
        raise ToolError(f"tool {tool_name!r}: cannot read its type hints: {exc}") from None
    doc = docstring_parser.parse(inspect.getdoc(fn) or "")
    notes = {p.arg_name: " ".join((p.description or "").split()) for p in doc.params}
    properties, required, kept, context_parameter = {}, [], {}, None
    for parameter in inspect.signature(fn).parameters.values():
        hint = hints.get(parameter.name, Any)
        if hint is ToolContext:
            context_parameter = parameter.name
            continue
        if parameter.kind in (parameter.VAR_POSITIONAL, parameter.VAR_KEYWORD, parameter.POSITIONAL_ONLY):
            raise ToolError(f"tool {tool_name!r}: parameter {parameter.name!r} must be an ordinary "
                            "named parameter (no *args, **kwargs or positional-only)")
        try:
            schema = schema_for(hint)
        except TypeError as exc:
            raise ToolError(f"tool {tool_name!r}: parameter {parameter.name!r}: {exc}") from None
        if notes.get(parameter.name):
            schema = {**schema, "description": notes[parameter.name]}
        if parameter.default is parameter.empty:
            required.append(parameter.name)
        elif _json_like(parameter.default):
            schema = {**schema, "default": parameter.default}
        properties[parameter.name] = schema
        kept[parameter.name] = hint
    gap = "\n\n" if doc.blank_after_short_description else "\n"   # a first sentence over two lines
    text = description or gap.join(p for p in (doc.short_description, doc.long_description) if p)
    parameters = {"type": "object", "properties": properties, "required": required,
                  "additionalProperties": False}
    return Tool(tool_name, text or "", parameters, fn, source, risky, context_parameter, kept)


def _defined_in(fn) -> str:
    module = getattr(fn, "__module__", None)
    return f"python {module}:{getattr(fn, '__qualname__', fn)}" if module else "python"


def _valid_name(name: str) -> bool:
    return bool(name) and name[0].isascii() and name[0].isalpha() and all(
        c.isascii() and (c.isalnum() or c == "_") for c in name)


def _json_like(value) -> bool:
    return value is None or isinstance(value, (str, int, float, bool)) or (
        isinstance(value, (list, tuple)) and all(_json_like(v) for v in value))


def as_tool(value: Any, name: str, source: str) -> Tool:
    """An entry point's or a caller's object as a Tool: a Tool as it is
    (registered under ``name``), a plain function through ``@tool``."""
    if isinstance(value, Tool):
        return value if value.name == name and value.source == source else replace(value, name=name, source=source)
    if callable(value):
        return _from_function(value, name=name, description=None, risky=False, source=source)
    raise ToolError(f"{source} is a {type(value).__name__}, not a tool",
                    hint="point the entry point at a function decorated with @tool")


class ToolRegistry(Mapping):
    """Tools by name. ``problems`` are the plugins and servers that could
    not be loaded: reported (``tiss tools``, the checker's hint), never fatal
    to the others."""

    def __init__(self, tools=(), problems=()):
        self._tools: dict[str, Tool] = {}
        self.problems: list[str] = list(problems)
        # Names two sources claim while loading: neither is used, CALL says why.
        self.refused: dict[str, str] = {}
        for item in tools:
            self.add(item)

    def add(self, item: Tool) -> None:
        if item.name in self._tools:
            first = self._tools[item.name]
            raise ToolError(f"two tools are named {item.name!r}: one from {first.source}, "
                            f"one from {item.source}", hint="uninstall or rename one of them")
        self._tools[item.name] = item

    def __getitem__(self, name: str) -> Tool:
        return self._tools[name]

    def __iter__(self) -> Iterator[str]:
        return iter(self._tools)

    def __len__(self) -> int:
        return len(self._tools)

    def schemas(self) -> dict[str, dict]:
        """name -> JSON Schema of the arguments: what the checker is given."""
        return {name: item.parameters for name, item in self._tools.items()}

    @classmethod
    def of(cls, tools: Mapping[str, Any] | "ToolRegistry") -> "ToolRegistry":
        """A registry from ``{name: tool or function}`` (Session(tools=…))."""
        if isinstance(tools, ToolRegistry):
            return tools
        return cls(as_tool(value, name, f"python {getattr(value, '__module__', '?')}")
                   for name, value in tools.items())


def load_registry(config: dict | None = None, *, workspace=None, include_mcp: bool = True) -> ToolRegistry:
    """Built-ins, then every installed plugin, then MCP servers' tools.
    A plugin that fails to import or clashes is a problem, not an exception."""
    from .builtin import BUILTINS
    registry = ToolRegistry(BUILTINS)
    for item, problem in _entry_point_tools():
        _add_reporting(registry, item, problem)
    if include_mcp and (config or {}).get("mcp_servers"):
        try:
            from .mcp_client import mcp_tools
        except ImportError as exc:
            registry.problems.append(f"MCP servers are configured but the MCP client is missing: {exc}")
        else:
            found, problems = mcp_tools(config, workspace=workspace)
            registry.problems.extend(problems)
            for item in found:
                _add_reporting(registry, item, None)
    return registry


# (sys.path with each folder's mtime, our entry points) from the last scan
_scanned: tuple[tuple, list] | None = None


def _our_entry_points() -> list:
    """Our group's entry points, by name. Scanning every installed
    distribution's metadata costs ~8 ms, which each job of a batch would pay
    again (a worker runs many), so the scan is kept while sys.path and the
    mtime of each folder on it stay the same: installing or removing a
    distribution adds or removes its .dist-info folder, changing the mtime
    of the folder that holds it."""
    global _scanned
    key = (os.getcwd(), *((entry, _mtime_ns(entry)) for entry in sys.path))  # "" is the cwd
    if _scanned is None or _scanned[0] != key:
        from importlib.metadata import entry_points
        _scanned = key, sorted(entry_points(group=ENTRY_POINT_GROUP), key=lambda p: p.name)
    return _scanned[1]


def _mtime_ns(entry: str) -> int | None:
    try:
        return os.stat(entry or ".").st_mtime_ns
    except OSError:
        return None


def _add_reporting(registry: ToolRegistry, item: Tool | None, problem: str | None) -> None:
    if problem:
        registry.problems.append(problem)
        return
    if item.name in registry.refused:
        registry.problems.append(f"{item.source} also claims the name {item.name!r}: "
                                 f"{registry.refused[item.name]}")
        return
    try:
        registry.add(item)
    except ToolError as exc:
        registry.problems.append(f"{exc.message} ({exc.hint})")
        registry.refused[item.name] = exc.message
        registry._tools.pop(item.name, None)


def _entry_point_tools():
    """(tool, None) or (None, problem) for each entry point in our group."""
    for point in _our_entry_points():
        distribution = point.dist.name if point.dist else "an unknown distribution"
        source = f"entry point {distribution} ({point.value})"
        if not _valid_name(point.name):
            yield None, f"plugin {point.name!r} from {distribution}: not a valid tool name ({NAME_HINT})"
            continue
        try:
            loaded = point.load()
        except Exception as exc:    # a broken plugin must not break the others
            yield None, (f"plugin {point.name!r} ({point.value}, from {distribution}) failed to import: "
                         f"{type(exc).__name__}: {exc}")
            continue
        try:
            yield as_tool(loaded, point.name, source), None
        except ToolError as exc:
            yield None, f"plugin {point.name!r} from {distribution}: {exc.message}"
