"""Tab completion in the REPL: keywords, variables and their fields,
filters, workspace paths inside strings, tool names, REPL commands."""

from __future__ import annotations

import pytest
from prompt_toolkit.document import Document

from runtime.repl_input import TissCompleter


@pytest.fixture
def complete(tmp_path):
    workspace = tmp_path / "ws"
    (workspace / "src").mkdir(parents=True)
    (workspace / "src" / "app.py").write_text("")
    (workspace / "setup.cfg").write_text("")
    (workspace / ".tiss").mkdir()
    variables = {"name": "x", "LAST_RUN": {"EXIT_CODE": 0, "STDOUT": "", "STDERR": ""},
                 "build": {"EXIT_CODE": 1}}
    completer = TissCompleter(workspace, lambda: variables, lambda: ["fetch_url", "format_json"])

    def _complete(text: str) -> list[str]:
        return [c.text for c in completer.get_completions(Document(text), None)]

    return _complete


def test_keywords_and_variables(complete):
    assert complete("REQ") == ["REQUEST_REVIEW"]
    assert "STEP" in complete("ST") and "STARTS_WITH" in complete("ST")
    assert complete("ASSERT na") == ["name"]
    assert complete("ASSERT bu") == ["build"]
    assert "LAST_ERROR" in complete("LAST_E")     # set later by TRY; offered anyway


def test_fields_of_records(complete):
    assert complete("ASSERT LAST_RUN.ST") == ["STDERR", "STDOUT"]
    assert complete("ASSERT build.") == ["EXIT_CODE"]
    assert complete("ASSERT name.") == []         # a string has no fields


def test_inside_strings_paths_then_interpolations(complete):
    assert complete('WRITE "s') == ["setup.cfg", "src/"]
    assert complete('READ "src/a') == ["app.py"]
    assert complete('READ "') == ["setup.cfg", "src/"]       # never .tiss
    assert complete('LOG "hi {{na') == ["name"]
    assert complete('LOG "{{LAST_RUN.EX') == ["EXIT_CODE"]
    assert complete('LOG "{{name | t') == ["trim"]


def test_tools_after_call(complete):
    assert complete("CALL f") == ["fetch_url", "format_json"]
    assert complete("CALL fe") == ["fetch_url"]


def test_repl_commands(complete):
    assert complete(":s") == [":save"]
    assert complete(":a") == [":agent"]
    assert complete(":") == [":help", ":vars", ":last", ":plan", ":agent", ":run", ":save", ":undo", ":reset", ":quit"]


def test_nothing_in_comments(complete):
    assert complete('VAR x = 1 # "s') == []
    assert complete("# ST") == []
