"""`tiss check`, `tiss fmt` and `tiss parse` follow the CLI contract
(ARCHITECTURE.md): exit codes, `path:line:col: error:` lines, stdin as `-`."""

import io
import json
import subprocess
import sys
from pathlib import Path

import pytest

from runtime.cli import main

GOOD = 'TASK "t" {\n    STEP "s" {\n        RUN "echo hi" AS greeting\n        ASSERT greeting.EXIT_CODE == 0\n    }\n}\n'
BAD = 'TASK "t" {\n    run "ls"\n    LOG hello\n}\n'


@pytest.fixture
def plan(tmp_path):
    def write(text, name="plan.tiss"):
        path = tmp_path / name
        path.write_text(text, encoding="utf-8")
        return path
    return write


def run_tiss(capsys, *args, stdin=None, monkeypatch=None):
    if stdin is not None:
        monkeypatch.setattr(sys, "stdin", io.StringIO(stdin))
    code = main(list(args))
    out, err = capsys.readouterr()
    return code, out, err


def test_check_valid_file_exits_0(plan, capsys):
    code, out, err = run_tiss(capsys, "check", str(plan(GOOD)))
    assert code == 0 and "error" not in err


def test_check_reports_every_syntax_error_with_position_and_caret(plan, capsys):
    path = plan(BAD)
    code, out, err = run_tiss(capsys, "check", str(path))
    assert code == 2
    lines = err.splitlines()
    assert lines[0] == f"{path}:2:5: error: keywords are upper case: 'run' should be 'RUN'"
    assert lines[1] == '        run "ls"' and lines[2] == "        ^"
    assert f"{path}:3:9: error: expected a quoted string after LOG, found 'hello'" in lines
    assert "Traceback" not in err


def test_check_several_files_fails_if_any_fails(plan, capsys):
    good, bad = plan(GOOD, "good.tiss"), plan(BAD, "bad.tiss")
    code, out, err = run_tiss(capsys, "check", str(good), str(bad))
    assert code == 2 and str(bad) in err and str(good) not in err


def test_check_reads_stdin(capsys, monkeypatch):
    code, out, err = run_tiss(capsys, "check", "-", stdin='RUN ls\n', monkeypatch=monkeypatch)
    assert code == 2 and err.startswith("<stdin>:1:5: error: expected a quoted string")


def test_check_reports_checker_findings_with_source_line(plan, capsys):
    path = plan('LOG "{{never_set}}"\n')
    code, out, err = run_tiss(capsys, "check", str(path))
    assert code == 2
    assert err.startswith(f"{path}:1:") and "never_set" in err
    assert 'LOG "{{never_set}}"' in err  # the source line is shown


@pytest.mark.parametrize("make, message", [
    (lambda tmp: tmp / "missing.tiss", "no such file"),
    (lambda tmp: tmp, "is a directory"),
    (lambda tmp: (tmp / "latin1.tiss").write_bytes(b'LOG "caf\xe9"\n') and tmp / "latin1.tiss",
     "not UTF-8"),
])
def test_unreadable_files_get_one_clear_line(tmp_path, capsys, make, message):
    target = make(tmp_path)
    for command in (["check"], ["fmt"], ["parse"]):
        code, out, err = run_tiss(capsys, *command, str(target))
        assert code == 2
        assert message in err and "Traceback" not in err


def test_parse_json_every_node_has_type_line_col(plan, capsys):
    code, out, err = run_tiss(capsys, "parse", "--json", str(plan(GOOD)))
    assert code == 0
    tree = json.loads(out)
    assert tree["type"] == "Program" and tree["body"][0]["type"] == "Task"
    seen = []

    def walk(node):
        if isinstance(node, dict):
            if "type" in node:
                assert isinstance(node["line"], int) and isinstance(node["col"], int), node
                seen.append(node["type"])
            for value in node.values():
                walk(value)
        elif isinstance(node, list):
            for item in node:
                walk(item)

    walk(tree)
    assert {"Task", "Step", "Run", "Assert", "Compare", "Ref", "Literal", "Template", "Text"} <= set(seen)


def test_parse_reads_stdin_and_reports_errors(capsys, monkeypatch):
    code, out, err = run_tiss(capsys, "parse", "--json", "-", stdin='VAR x = 1\n',
                              monkeypatch=monkeypatch)
    assert code == 0 and json.loads(out)["body"][0]["type"] == "Var"
    code, out, err = run_tiss(capsys, "parse", "--json", "-", stdin='VAR = 1\n',
                              monkeypatch=monkeypatch)
    assert code == 2 and out == "" and "<stdin>:1:5: error:" in err


def test_fmt_check_rewrite_and_stdin(plan, capsys, monkeypatch):
    messy = 'TASK "t" {\nRUN \'echo hi\'\n}\n'
    path = plan(messy)
    code, out, err = run_tiss(capsys, "fmt", "--check", str(path))
    assert code == 1 and "would reformat" in err
    assert path.read_text() == messy  # --check changes nothing

    code, out, err = run_tiss(capsys, "fmt", "-", stdin=messy, monkeypatch=monkeypatch)
    assert code == 0 and out == 'TASK "t" {\n    RUN "echo hi"\n}\n'

    code, out, err = run_tiss(capsys, "fmt", str(path))
    assert code == 0 and path.read_text() == 'TASK "t" {\n    RUN "echo hi"\n}\n'
    code, out, err = run_tiss(capsys, "fmt", "--check", str(path))
    assert code == 0


def test_fmt_refuses_a_broken_file_without_touching_it(plan, capsys):
    path = plan(BAD)
    code, out, err = run_tiss(capsys, "fmt", str(path))
    assert code == 2 and "error:" in err and path.read_text() == BAD


def test_console_script_end_to_end(plan):
    tiss = Path(sys.executable).with_name("tiss")
    result = subprocess.run([str(tiss), "check", str(plan(BAD))], capture_output=True, text=True,
                            timeout=60)
    assert result.returncode == 2
    assert ":2:5: error: keywords are upper case" in result.stderr


def test_parse_without_json_prints_an_outline(plan, capsys):
    code, out, err = run_tiss(capsys, "parse", str(plan(GOOD)))
    assert code == 0
    assert "    Step 2:5 keyword='STEP'\n" in out
    assert "      Run 3:9 timeout=None alias='greeting'\n" in out
    assert "Ref 4:16 name='greeting' fields=['EXIT_CODE']" in out
