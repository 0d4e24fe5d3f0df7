"""@tool, schemas from hints, validation messages, and the registry's
loading (real entry points from a distribution put on sys.path)."""

from __future__ import annotations

import enum
import shutil
import textwrap
from dataclasses import dataclass
from typing import Literal, Optional, TypedDict

import pytest

from tisslang import parse
from tisslang.checker import check
from tools import Tool, ToolContext, ToolError, ToolRegistry, load_registry, tool


@dataclass
class Window:
    start: int
    stop: Optional[int] = None


class Point(TypedDict):
    x: float
    y: float


class Colour(enum.Enum):
    RED = "red"
    BLUE = "blue"


@tool
def sample(text: str, count: int, ratio: float = 0.5, loud: bool = False, tags: list[str] = [],
           extra: dict[str, int] | None = None, mode: Literal["a", "b"] = "a",
           window: Window | None = None, point: Point | None = None, colour: Colour = Colour.RED,
           anything=None) -> dict:
    """Do a sample thing.

    A second paragraph.

    Args:
        text: the text,
            on two lines.
        count: how many.
    """
    return dict(text=text, count=count, ratio=ratio, loud=loud, tags=tags, extra=extra, mode=mode,
                window=window, point=point, colour=colour)


def test_the_schema_comes_from_the_hints_and_the_docstring():
    assert sample.name == "sample" and sample.source.startswith("python ")
    assert sample.description == "Do a sample thing.\n\nA second paragraph."
    props = sample.parameters["properties"]
    assert sample.parameters["required"] == ["text", "count"]
    assert sample.parameters["additionalProperties"] is False
    assert props["text"] == {"type": "string", "description": "the text, on two lines."}
    assert props["count"] == {"type": "integer", "description": "how many."}
    assert props["ratio"] == {"type": "number", "default": 0.5}
    assert props["loud"] == {"type": "boolean", "default": False}
    assert props["tags"] == {"type": "array", "items": {"type": "string"}, "default": []}
    assert props["extra"] == {"anyOf": [{"type": "object", "additionalProperties": {"type": "integer"}},
                                        {"type": "null"}], "default": None}
    assert props["mode"] == {"enum": ["a", "b"], "type": "string", "default": "a"}
    assert props["window"]["anyOf"][0] == {
        "type": "object", "title": "Window", "additionalProperties": False, "required": ["start"],
        "properties": {"start": {"type": "integer"},
                       "stop": {"anyOf": [{"type": "integer"}, {"type": "null"}]}}}
    assert props["point"]["anyOf"][0]["required"] == ["x", "y"]
    assert props["colour"] == {"enum": ["red", "blue"]}
    assert props["anything"] == {"default": None}


def test_numpy_docstrings_and_the_context_parameter():
    @tool(name="numpy_style", risky=True)
    def f(path: str, context: ToolContext) -> str:
        """Read it.

        Parameters
        ----------
        path : str
            the file to read
        """
        return context.tool_name

    assert f.name == "numpy_style" and f.risky
    assert f.parameters["properties"] == {"path": {"type": "string", "description": "the file to read"}}
    assert f.call({"path": "x"}) == "numpy_style"   # a default context outside a run


def test_values_are_converted_to_the_declared_types():
    out = sample.call({"text": "t", "count": 2.0, "ratio": 1, "window": {"start": 1},
                       "point": {"x": 1, "y": 2.5}, "colour": "blue"})
    assert out["count"] == 2 and type(out["count"]) is int
    assert out["ratio"] == 1.0 and type(out["ratio"]) is float
    assert out["window"] == Window(1, None)
    assert out["point"] == {"x": 1, "y": 2.5}
    assert out["colour"] is Colour.BLUE


@pytest.mark.parametrize("arguments, message", [
    ({"count": 1}, "tool 'sample': argument 'text' is missing"),
    ({"text": "t", "count": "three"}, "tool 'sample': argument 'count': expected an integer, got 'three' (string)"),
    ({"text": "t", "count": True}, "tool 'sample': argument 'count': expected an integer, got True (boolean)"),
    ({"text": "t", "count": 1.5}, "tool 'sample': argument 'count': expected an integer, got 1.5 (number)"),
    ({"text": "t", "count": 1, "tags": ["a", 2]},
     "tool 'sample': argument 'tags'[1]: expected a string, got 2 (integer)"),
    ({"text": "t", "count": 1, "mode": "c"}, "tool 'sample': argument 'mode': expected one of 'a', 'b', got 'c' (string)"),
    ({"text": "t", "count": 1, "extra": {"k": "v"}},
     "tool 'sample': argument 'extra'.k: expected an integer, got 'v' (string)"),
    ({"text": "t", "count": 1, "window": {"stop": 2}}, "tool 'sample': argument 'window': field 'start' is missing"),
    ({"text": "t", "count": 1, "window": {"start": 1, "step": 2}},
     "tool 'sample': argument 'window': unknown field 'step'"),
    ({"text": "t", "count": 1, "window": {"start": "1"}},
     "tool 'sample': argument 'window'.start: expected an integer, got '1' (string)"),
    ({"text": "t", "count": 1, "colour": "green"},
     "tool 'sample': argument 'colour': expected one of 'red', 'blue', got 'green' (string)"),
    ({"text": "t", "count": 1, "loud": 1}, "tool 'sample': argument 'loud': expected a boolean, got 1 (integer)"),
    ({"text": "t", "count": 1, "colours": "red"}, "tool 'sample': unknown argument 'colours'"),
])
def test_a_bad_argument_names_the_argument_what_was_expected_and_what_came(arguments, message):
    with pytest.raises(ToolError) as caught:
        sample.call(arguments)
    assert caught.value.message == message


def test_literal_one_refuses_true():
    @tool
    def one(x: Literal[1]) -> int:
        return x
    with pytest.raises(ToolError, match="expected one of 1, got True"):
        one.call({"x": True})
    assert one.call({"x": 1}) == 1


@pytest.mark.parametrize("make, message", [
    (lambda: tool(lambda *a: 0, name="star"), "parameter 'a' must be an ordinary named parameter"),
    (lambda: tool(lambda x: 0, name="bad-name"), "cannot make a tool named 'bad-name'"),
])
def test_functions_that_cannot_be_tools_say_why(make, message):
    with pytest.raises(ToolError, match=message):
        make()


def test_an_unsupported_hint_is_refused_at_decoration():
    with pytest.raises(ToolError, match="parameter 'when': cannot describe"):
        @tool
        def later(when: complex) -> None:
            pass


def test_a_duplicate_name_names_both_sources():
    first = tool(lambda: 1, name="twin", source="entry point one (one:twin)")
    second = tool(lambda: 2, name="twin", source="mcp server 'two'")
    registry = ToolRegistry([first])
    with pytest.raises(ToolError) as caught:
        registry.add(second)
    assert caught.value.message == ("two tools are named 'twin': one from entry point one (one:twin), "
                                    "one from mcp server 'two'")


def test_the_registry_has_the_built_ins():
    registry = load_registry()
    assert {"shell", "read_file", "write_file", "replace_in_file", "list_files", "search_files", "run_plan",
            "final_answer"} <= set(registry)
    assert all(registry[name].source == "built-in" for name in ("shell", "final_answer"))
    assert registry["shell"].risky and not registry["read_file"].risky


def make_distribution(root, name: str, entries: dict[str, str], modules: dict[str, str]) -> None:
    """A real installed distribution (a .dist-info folder) on ``root``."""
    info = root / f"{name.replace('-', '_')}-1.0.dist-info"
    info.mkdir()
    (info / "METADATA").write_text(f"Metadata-Version: 2.1\nName: {name}\nVersion: 1.0\n")
    points = "".join(f"{key} = {value}\n" for key, value in entries.items())
    (info / "entry_points.txt").write_text(f"[tisslang.tools]\n{points}")
    for module, text in modules.items():
        (root / f"{module}.py").write_text(textwrap.dedent(text))


def test_entry_points_load_and_a_broken_plugin_is_reported_by_name(tmp_path, monkeypatch):
    make_distribution(tmp_path, "good-plugin", {"greet": "good_tools:greet", "plain": "good_tools:plain"},
                      {"good_tools": '''
                          from tools import tool

                          @tool
                          def greet(name: str) -> str:
                              """Say hello."""
                              return "hello " + name

                          def plain(n: int) -> int:
                              return n + 1
                      '''})
    make_distribution(tmp_path, "broken-plugin", {"boom": "broken_tools:boom"},
                      {"broken_tools": "raise RuntimeError('no disk')\n"})
    make_distribution(tmp_path, "clashing-plugin", {"read_file": "good_tools:greet"}, {})
    monkeypatch.syspath_prepend(str(tmp_path))
    registry = load_registry()
    assert registry["greet"].call({"name": "x"}) == "hello x"
    assert registry["greet"].source == "entry point good-plugin (good_tools:greet)"
    assert registry["plain"].call({"n": 1}) == 2           # a plain function, wrapped
    assert registry["plain"].parameters["properties"] == {"n": {"type": "integer"}}
    assert "boom" not in registry
    assert ("plugin 'boom' (broken_tools:boom, from broken-plugin) failed to import: "
            "RuntimeError: no disk") in registry.problems
    assert "read_file" not in registry     # both claim it: neither is used, CALL says why
    assert registry.refused["read_file"] == ("two tools are named 'read_file': one from built-in, "
                                             "one from entry point clashing-plugin (good_tools:greet)")


def test_installed_plugins_are_scanned_again_only_when_a_folder_on_the_path_changes(tmp_path, monkeypatch):
    import importlib.metadata
    scans = []
    real = importlib.metadata.entry_points
    monkeypatch.setattr(importlib.metadata, "entry_points", lambda **kw: scans.append(kw) or real(**kw))
    monkeypatch.syspath_prepend(str(tmp_path))
    make_distribution(tmp_path, "first-plugin", {"first": "first_tools:first"},
                      {"first_tools": "def first(n: int) -> int:\n    return n\n"})
    assert "first" in load_registry() and "first" in load_registry()
    assert len(scans) == 1                      # the second registry reused the scan
    make_distribution(tmp_path, "second-plugin", {"second": "second_tools:second"},
                      {"second_tools": "def second(n: int) -> int:\n    return n\n"})
    assert {"first", "second"} <= set(load_registry())   # installed since: seen
    shutil.rmtree(tmp_path / "first_plugin-1.0.dist-info")
    assert "first" not in load_registry()                # removed since: gone
    assert len(scans) == 3


def test_the_checker_validates_constant_arguments_and_names_unknown_tools():
    source = textwrap.dedent('''\
        CALL read_file {path: 3}
        CALL reed_file {path: "x"}
        VAR p = "x"
        CALL read_file {path: "{{p}}"}
        CALL write_file {path: "a", content: "b", mode: "w"}
        CALL list_files {}
    ''')
    found = check(parse(source), tools=load_registry())
    assert [(d.line, d.message, d.hint) for d in found] == [
        (1, "tool 'read_file': argument 'path': expected a string, got 3 (integer)", None),
        (2, "unknown tool 'reed_file'", "did you mean read_file?"),
        (5, "tool 'write_file': unknown argument 'mode'", "its arguments: path, content, append?"),
    ]


def test_a_tool_is_still_callable_like_its_function():
    assert isinstance(sample, Tool)
    assert sample(text="t", count=1)["count"] == 1
    with pytest.raises(ToolError):
        sample(text="t")
