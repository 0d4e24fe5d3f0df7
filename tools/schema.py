"""JSON Schema from Python type hints, and the validator for that schema.

Why our own validator: a tool's arguments must be refused with a message a
plan author can act on ("argument 'count': expected an integer, got 'three'
(a string)"), and the schemas we generate use a small subset of JSON Schema
(type, enum, anyOf, items, properties, required, additionalProperties).
Schemas that come from elsewhere (MCP servers) may use more: keywords this
validator does not know are left to the tool that declared them.
"""

from __future__ import annotations

import dataclasses
import enum
import types
import typing
from typing import Any, Literal, Union, get_args, get_origin, get_type_hints

from .errors import ToolError

# Python type -> JSON Schema type; one table for generating and for messages.
SIMPLE = {str: "string", int: "integer", float: "number", bool: "boolean", type(None): "null"}
ARRAYS = (list, tuple, set, frozenset, typing.Sequence, typing.Iterable)
MAPPINGS = (dict, typing.Mapping)
NAMES = {"string": "a string", "integer": "an integer", "number": "a number", "boolean": "a boolean",
         "null": "null", "array": "a list", "object": "an object"}


def schema_for(hint: Any) -> dict:
    """The JSON Schema of values of type ``hint`` (``{}`` accepts anything)."""
    if hint is Any or hint is typing.Any or hint is object:
        return {}
    if hint in SIMPLE:
        return {"type": SIMPLE[hint]}
    origin, args = get_origin(hint), get_args(hint)
    if origin is Literal:
        return _literal(args)
    if origin in (Union, types.UnionType):
        return _union(args)
    if origin is typing.Annotated:
        return {**schema_for(args[0]), **{k: v for a in args[1:] if isinstance(a, str) for k, v in
                                          [("description", a)]}}
    if hint in ARRAYS or origin in ARRAYS:
        return _array(origin or hint, args)
    if hint in MAPPINGS or origin in MAPPINGS:
        return {"type": "object", **({"additionalProperties": schema_for(args[1])} if args else {})}
    if isinstance(hint, type) and issubclass(hint, enum.Enum):
        return {"enum": [member.value for member in hint]}
    if dataclasses.is_dataclass(hint) and isinstance(hint, type):
        fields = {f.name: f for f in dataclasses.fields(hint) if f.init}
        required = [name for name, f in fields.items()
                    if f.default is dataclasses.MISSING and f.default_factory is dataclasses.MISSING]
        return _object(hint, fields, required)
    if typing.is_typeddict(hint):
        return _object(hint, get_type_hints(hint), sorted(hint.__required_keys__))
    raise TypeError(f"cannot describe {hint!r} in JSON Schema; use str, int, float, bool, list[...], "
                    "dict[str, ...], Literal, Optional, a dataclass or a TypedDict")


def _literal(values) -> dict:
    kinds = {SIMPLE.get(type(v)) for v in values}
    return {"enum": list(values), **({"type": kinds.pop()} if len(kinds) == 1 and None not in kinds else {})}


def _union(args) -> dict:
    options = [schema_for(arg) for arg in args]
    if any(option == {} for option in options):
        return {}
    return {"anyOf": options}


def _array(origin, args) -> dict:
    schema: dict = {"type": "array"}
    if origin is tuple and args and args[-1] is not Ellipsis:
        schema.update(prefixItems=[schema_for(a) for a in args], minItems=len(args), maxItems=len(args))
    elif args:
        schema["items"] = schema_for(args[0])
    return schema


def _object(cls, fields, required) -> dict:
    hints = get_type_hints(cls)
    return {"type": "object", "title": cls.__name__,
            "properties": {name: schema_for(hints.get(name, Any)) for name in fields},
            "required": list(required), "additionalProperties": False}


# --- validation ------------------------------------------------------------------


def validate(value: Any, schema: dict, where: str) -> None:
    """Raise ToolError naming ``where`` (e.g. "argument 'count'"), what the
    schema expected and what came, at the first value that does not fit."""
    if "anyOf" in schema:
        others = [option for option in schema["anyOf"] if option != {"type": "null"}]
        if value is not None and len(others) == 1:   # Optional[X]: say what X needed
            validate(value, others[0], where)
        elif not any(_fits(value, option) for option in schema["anyOf"]):
            expected = " or ".join(describe(option) for option in schema["anyOf"])
            _refuse(where, expected, value)
        return
    if "enum" in schema and not any(_same(value, option) for option in schema["enum"]):
        _refuse(where, "one of " + ", ".join(_show(v) for v in schema["enum"]), value)
    kind = schema.get("type")
    if kind is not None and not _is_type(value, kind):
        _refuse(where, describe(schema), value)
    if isinstance(value, list):
        _validate_items(value, schema, where)
    elif isinstance(value, dict):
        _validate_fields(value, schema, where)


def _validate_items(value: list, schema: dict, where: str) -> None:
    prefix = schema.get("prefixItems")
    if prefix is not None and not schema.get("minItems", 0) <= len(value) <= schema.get("maxItems", len(value)):
        _refuse(where, f"a list of {len(prefix)} items", value)
    for index, item in enumerate(value):
        item_schema = prefix[index] if prefix and index < len(prefix) else schema.get("items")
        if item_schema is not None:
            validate(item, item_schema, f"{where}[{index}]")


def _validate_fields(value: dict, schema: dict, where: str) -> None:
    properties = schema.get("properties", {})
    for name in schema.get("required", ()):
        if name not in value:
            raise ToolError(f"{where}: field {name!r} is missing",
                            hint=f"give {name} ({describe(properties.get(name, {}))})")
    extra = schema.get("additionalProperties", True)
    for name, item in value.items():
        if name in properties:
            validate(item, properties[name], f"{where}.{name}")
        elif extra is False:
            known = ", ".join(properties) or "none"
            raise ToolError(f"{where}: unknown field {name!r}", hint=f"fields: {known}")
        elif isinstance(extra, dict):
            validate(item, extra, f"{where}.{name}")


def _fits(value, schema) -> bool:
    try:
        validate(value, schema, "")
    except ToolError:
        return False
    return True


def _same(value, option) -> bool:
    """JSON's true is not 1: Literal[1] refuses True (Python says True == 1)."""
    return value == option and isinstance(value, bool) == isinstance(option, bool)


def _is_type(value, kind) -> bool:
    if isinstance(kind, list):
        return any(_is_type(value, k) for k in kind)
    if kind == "integer":
        return isinstance(value, int) and not isinstance(value, bool) or (
            isinstance(value, float) and value.is_integer())
    if kind == "number":
        return isinstance(value, (int, float)) and not isinstance(value, bool)
    python = {"string": str, "boolean": bool, "null": type(None), "array": list, "object": dict}.get(kind)
    return python is None or isinstance(value, python)


def describe(schema: dict) -> str:
    """What a schema accepts, in words ("a list of integers")."""
    if "enum" in schema:
        return "one of " + ", ".join(_show(v) for v in schema["enum"])
    if "anyOf" in schema:
        return " or ".join(describe(option) for option in schema["anyOf"])
    kind = schema.get("type")
    if kind == "array" and "items" in schema:
        return f"a list of {_plural(describe(schema['items']))}"
    if kind == "object" and schema.get("title"):
        return f"an object ({schema['title']}: {', '.join(schema.get('properties', {})) or 'no fields'})"
    if isinstance(kind, list):
        return " or ".join(NAMES.get(k, k) for k in kind)
    return NAMES.get(kind, "any value")


def _plural(words: str) -> str:
    for article in ("an ", "a "):
        if words.startswith(article):
            head, _, rest = words[len(article):].partition(" ")
            return head + "s" + (" " + rest if rest else "")
    return words


def _show(value) -> str:
    return "null" if value is None else repr(value)


def _refuse(where: str, expected: str, value) -> None:
    raise ToolError(f"{where}: expected {expected}, got {_got(value)}")


def _got(value) -> str:
    kind = {bool: "boolean", int: "integer", float: "number", str: "string", list: "list",
            dict: "object", type(None): "null"}.get(type(value), type(value).__name__)
    shown = repr(value)
    shown = shown if len(shown) <= 60 else shown[:57] + "..."
    return "null" if value is None else f"{shown} ({kind})"


# --- from validated JSON to the Python values the function declared -----------


def convert(value: Any, hint: Any) -> Any:
    """Build dataclasses, enums and tuples from validated JSON values, so a
    tool receives the types its signature promises."""
    if value is None:
        return None
    origin, args = get_origin(hint), get_args(hint)
    if origin in (Union, types.UnionType):
        for arg in args:
            if arg is not type(None) and _fits(value, schema_for(arg)):
                return convert(value, arg)
        return value
    if isinstance(hint, type) and issubclass(hint, enum.Enum):
        return hint(value)
    if dataclasses.is_dataclass(hint) and isinstance(hint, type) and isinstance(value, dict):
        hints = get_type_hints(hint)
        return hint(**{k: convert(v, hints.get(k, Any)) for k, v in value.items()})
    if typing.is_typeddict(hint) and isinstance(value, dict):
        hints = get_type_hints(hint)
        return {k: convert(v, hints.get(k, Any)) for k, v in value.items()}
    if hint is float and isinstance(value, int):
        return float(value)
    if hint is int and isinstance(value, float):
        return int(value)
    if isinstance(value, list) and (origin in ARRAYS or hint in ARRAYS):
        if origin is tuple and args and args[-1] is not Ellipsis:
            return tuple(convert(v, a) for v, a in zip(value, args))
        items = [convert(v, args[0]) for v in value] if args else value
        return (origin or hint)(items) if (origin or hint) in (tuple, set, frozenset) else items
    if isinstance(value, dict) and (origin in MAPPINGS) and args:
        return {k: convert(v, args[1]) for k, v in value.items()}
    return value
