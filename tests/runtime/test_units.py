"""Unit tests of the runtime's parts: paths, interpolation, conditions, the
Session API (what the REPL and the pytest plugin build on), cost, journal."""

from __future__ import annotations

import os
import subprocess
import threading

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from runtime import Session
from runtime.cost import estimate
from runtime.errors import RunError
from runtime.evaluate import compare
from runtime.interpolate import render
from runtime.paths import Workspace, _Located
from runtime.review import Answer, ask_on_terminal, Request
from tisslang import ast, parse

from .conftest import ScriptedModel

# --- paths --------------------------------------------------------------------


def test_workspace_reads_what_it_wrote_through_dot_and_dot_dot(tmp_path):
    files = Workspace(tmp_path)
    files.write("a/./b/../c.txt", "hi\n")
    assert (tmp_path / "a" / "c.txt").read_text() == "hi\n"
    assert files.read("a/c.txt") == "hi\n"
    assert files.exists("a/c.txt") and not files.exists("a/d.txt") and not files.exists("z/d.txt")


@pytest.mark.parametrize("name, words", [
    ("/etc/passwd", "absolute"), ("~/x", "absolute"), ("../x", "'..'"), ("a/../../x", "'..'"),
    (".tiss/runs/x", ".tiss/"), ("", "empty"), (".", "the workspace itself"), ("a\0b", "NUL"),
])
@pytest.mark.parametrize("operation", ["read", "write", "exists"])
def test_workspace_refuses(tmp_path, name, words, operation):
    files = Workspace(tmp_path)
    with pytest.raises(RunError) as caught:
        if operation == "write":
            files.write(name, "x", line=7)
        else:
            getattr(files, operation)(name, line=7)
    assert words in caught.value.message
    assert caught.value.line == 7
    assert sorted(os.listdir(tmp_path)) == []


@pytest.mark.parametrize("operation", ["read", "write", "exists"])
def test_workspace_refuses_a_symlinked_folder_leading_out(tmp_path, operation):
    (tmp_path / "ws").mkdir()
    (tmp_path / "outside").mkdir()
    (tmp_path / "outside" / "new.txt").write_text("host secret")
    os.symlink(tmp_path / "outside", tmp_path / "ws" / "link")           # absolute
    os.symlink("../outside", tmp_path / "ws" / "up")                     # relative, climbs out
    os.symlink("inner/../../outside", tmp_path / "ws" / "round")         # climbs out on the way
    (tmp_path / "ws" / "inner").mkdir()
    files = Workspace(tmp_path / "ws")
    for name in ("link/new.txt", "up/new.txt", "round/new.txt"):
        with pytest.raises(RunError, match="symlink"):
            if operation == "write":
                files.write(name, "x")
            else:
                getattr(files, operation)(name)
    assert (tmp_path / "outside" / "new.txt").read_text() == "host secret"


def test_workspace_refuses_a_symlink_into_the_run_folder(tmp_path):
    (tmp_path / ".tiss" / "runs").mkdir(parents=True)
    (tmp_path / ".tiss" / "runs" / "events.jsonl").write_text("journal\n")
    os.symlink(".tiss/runs", tmp_path / "runs")
    os.symlink("sub/../.tiss", tmp_path / "sneaky")
    (tmp_path / "sub").mkdir()
    files = Workspace(tmp_path)
    for name in ("runs/events.jsonl", "sneaky/runs/events.jsonl"):
        with pytest.raises(RunError, match=r"\.tiss/"):
            files.write(name, "forged\n")
        with pytest.raises(RunError, match=r"\.tiss/"):
            files.read(name)
    assert (tmp_path / ".tiss" / "runs" / "events.jsonl").read_text() == "journal\n"


def test_workspace_follows_symlinks_that_stay_inside(tmp_path):
    (tmp_path / "real").mkdir()
    (tmp_path / "real" / "f.txt").write_text("inside\n")
    os.symlink("real", tmp_path / "alias")
    os.symlink("real/f.txt", tmp_path / "file-alias")
    os.symlink("../real/f.txt", tmp_path / "real" / "self")
    files = Workspace(tmp_path)
    assert files.read("alias/f.txt") == "inside\n"
    assert files.read("file-alias") == "inside\n"
    assert files.read("real/self") == "inside\n"
    files.write("alias/g.txt", "made through the alias\n")
    assert (tmp_path / "real" / "g.txt").read_text() == "made through the alias\n"


def test_workspace_stops_a_symlink_loop(tmp_path):
    os.symlink("b", tmp_path / "a")
    os.symlink("a", tmp_path / "b")
    with pytest.raises(RunError, match="too many symlinks"):
        Workspace(tmp_path).read("a")


def test_workspace_refuses_what_is_not_a_regular_file(tmp_path):
    os.mkfifo(tmp_path / "pipe")            # reading it by name would hang the run
    (tmp_path / "folder").mkdir()
    files = Workspace(tmp_path)
    with pytest.raises(RunError, match="not a regular file"):
        files.read("pipe")
    with pytest.raises(RunError, match="is a folder"):
        files.read("folder")
    with pytest.raises(RunError, match="is a folder"):
        files.write("folder", "x")
    (tmp_path / "plain").write_text("x")
    with pytest.raises(RunError, match="which is a file, not a folder"):
        files.write("plain/below.txt", "x")
    assert not files.exists("plain/below.txt")       # as a shell's test -e says


def test_workspace_write_leaves_no_temporary_file(tmp_path):
    files = Workspace(tmp_path)
    files.write("d/f.txt", "one\n")
    files.write("d/f.txt", "two\n", append=True)
    assert [p.name for p in (tmp_path / "d").iterdir()] == ["f.txt"]
    assert (tmp_path / "d" / "f.txt").read_text() == "one\ntwo\n"


def test_workspace_write_replaces_a_symlink_swapped_in_rather_than_following_it(tmp_path):
    (tmp_path / "ws").mkdir()
    host = tmp_path / "host.txt"
    host.write_text("host\n")
    files = Workspace(tmp_path / "ws")
    with _Located(tmp_path / "ws", "f.txt", 0, make_dirs=True) as place:
        os.symlink(host, tmp_path / "ws" / "f.txt")     # the race: after the walk, before the write
        place.replace_leaf(b"mine\n")
    assert host.read_text() == "host\n"
    assert not (tmp_path / "ws" / "f.txt").is_symlink()
    assert files.read("f.txt") == "mine\n"


def test_workspace_read_refuses_a_symlink_swapped_in_after_the_walk(tmp_path):
    (tmp_path / "ws").mkdir()
    (tmp_path / "host.txt").write_text("host secret\n")
    with _Located(tmp_path / "ws", "f.txt", 0, make_dirs=False) as place:
        os.symlink(tmp_path / "host.txt", tmp_path / "ws" / "f.txt")
        with pytest.raises(RunError, match="changed while it was being opened"):
            place.read_leaf(missing_ok=False)


def test_workspace_walk_refuses_a_folder_swapped_for_a_symlink(tmp_path, monkeypatch):
    (tmp_path / "ws" / "d").mkdir(parents=True)
    (tmp_path / "outside").mkdir()
    folder = tmp_path / "ws" / "d"
    real_readlink = os.readlink

    def racing_readlink(path, *, dir_fd=None):
        try:
            return real_readlink(path, dir_fd=dir_fd)     # "d" is a folder, not a symlink ...
        finally:
            if path == "d" and not folder.is_symlink():
                folder.rmdir()                             # ... and now the sandbox swaps it
                folder.symlink_to(tmp_path / "outside")
    monkeypatch.setattr(os, "readlink", racing_readlink)
    with pytest.raises(RunError, match="changed while it was being opened"):
        Workspace(tmp_path / "ws").write("d/f.txt", "x")
    assert list((tmp_path / "outside").iterdir()) == []


def test_concurrent_appends_all_land_whole(tmp_path):
    files = Workspace(tmp_path)

    def branch(n):
        for i in range(200):
            files.write("log.txt", f"branch {n} line {i}\n", append=True)
    threads = [threading.Thread(target=branch, args=(n,)) for n in range(3)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    lines = (tmp_path / "log.txt").read_text().splitlines()
    assert sorted(lines) == sorted(f"branch {n} line {i}" for n in range(3) for i in range(200))


# --- interpolation -------------------------------------------------------------


def template(*parts):
    return ast.Template(tuple(ast.Text(p) if isinstance(p, str) else p for p in parts))


def interp(name, *filters):
    return ast.Interpolation(ast.Ref(name), tuple(filters))


@settings(max_examples=60, deadline=None)
@given(st.text(alphabet=st.characters(blacklist_categories=("Cs",), blacklist_characters="\x00"),
               max_size=40))
def test_any_value_reaches_the_shell_as_exactly_one_argument(value):
    command = render(template("printf %s ", interp("x")), lambda ref: value, shell=True)
    out = subprocess.run(["/bin/sh", "-c", command], capture_output=True, timeout=10)
    assert out.stdout.decode("utf-8", "surrogateescape") == value


def test_filters():
    values = {"x": "  padded  ", "n": 2.0, "d": {"k": [1, True, None]}}
    lookup = lambda ref: values[ref.name]  # noqa: E731
    assert render(template("[", interp("x", "trim"), "]"), lookup) == "[padded]"
    assert render(template(interp("n")), lookup) == "2"
    assert render(template(interp("d")), lookup) == '{"k": [1, true, null]}'
    assert render(template(interp("x", "json")), lookup) == '"  padded  "'
    assert render(template("echo ", interp("x", "raw")), lookup, shell=True) == "echo   padded  "


# --- conditions ----------------------------------------------------------------


@pytest.mark.parametrize("op, left, right, expected", [
    ("==", "3\n", 3, True), ("==", "abc", 3, False), ("<", "10", 9, False), ("<", "a", "b", True),
    ("CONTAINS", ["x", "y"], "y", True), ("NOT_CONTAINS", "hello", "z", True),
    ("MATCHES", "v1.2.3", r"^v\d+\.", True), ("STARTS_WITH", "abc", "ab", True),
    ("ENDS_WITH", "abc", "bc", True), ("==", True, True, True), ("!=", None, 0, True),
])
def test_compare(op, left, right, expected):
    assert compare(op, left, right) is expected


@pytest.mark.parametrize("op, expected", [("<", False), ("<=", True), (">", False), (">=", True),
                                          ("==", True), ("!=", False)])
@pytest.mark.parametrize("left, right", [(3, 3), (2.5, 2.5), ("3", 3), (3, " 3.0\n"), ("b", "b")])
def test_equal_values_sit_on_the_boundary_of_every_order(op, expected, left, right):
    assert compare(op, left, right) is expected


@pytest.mark.parametrize("op, left, right, expected", [
    ("<", 2, 3, True), ("<=", 2, 3, True), (">", 2, 3, False), (">=", 2, 3, False),
    ("<", 3, 2, False), ("<=", 3, 2, False), (">", 3, 2, True), (">=", 3, 2, True),
])
def test_unequal_values_order_both_ways(op, left, right, expected):
    assert compare(op, left, right) is expected


@pytest.mark.parametrize("left, right", [
    (True, 1), (1, True), (False, 0), (0.0, False), (True, "1"), ("true", True), (False, None),
    ([True], [1]), ({"k": False}, {"k": 0}),
])
def test_booleans_are_not_numbers(left, right):
    assert compare("==", left, right) is False
    assert compare("!=", left, right) is True


def test_a_list_of_booleans_does_not_contain_a_number():
    assert compare("CONTAINS", [True, "x"], 1) is False
    assert compare("CONTAINS", [1, "x"], True) is False
    assert compare("CONTAINS", [True], True) is True


@pytest.mark.parametrize("op", ["<", "<=", ">", ">="])
def test_booleans_and_numbers_have_no_order(op):
    with pytest.raises(RunError, match="cannot compare true"):
        compare(op, True, 1)


@pytest.mark.parametrize("op, left, right, expected", [
    ("==", " 3 ", 3, True), ("==", "\t3\n", 3.0, True), ("<", "  2\n", 3, True), (">=", "3\n", 3, True),
    ("==", " ", 0, False), ("==", "", 0, False), ("==", "3 4", 34, False),
    ("==", "9007199254740993\n", 9007199254740993, True),   # beyond a float's precision
])
def test_numeric_strings_with_whitespace_compare_with_numbers(op, left, right, expected):
    assert compare(op, left, right) is expected


@pytest.mark.parametrize("op, left, right, expected", [
    ("<", "10", "9", True), ("==", "3", "3.0", False), ("<=", "3", "3.0", True), ("==", " 3", "3", False),
])
def test_two_strings_compare_as_strings_even_when_they_look_numeric(op, left, right, expected):
    assert compare(op, left, right) is expected


def test_comparing_a_list_with_a_number_is_an_error():
    with pytest.raises(RunError, match="cannot compare"):
        compare("<", [1], 2, line=4)


# --- the Session API ---------------------------------------------------------------


def test_session_keeps_state_across_execute_calls(tmp_path):
    with Session(tmp_path, sandbox="host", review="approve") as session:
        first = session.execute('VAR greeting = "hi"\nRUN "echo {{greeting}} > out.txt"\n')
        assert first.status == "succeeded"
        second = session.execute('ASSERT FILE "out.txt" == "hi\\n"\nVAR n = LAST_RUN.EXIT_CODE\n')
        assert second.status == "succeeded", second.error
        assert session.variables["n"] == 0
        failed = session.execute("ASSERT n == 1\n")
        assert failed.status == "failed" and "n was 0" in failed.error
        assert session.execute("VAR after_failure = true\n").status == "succeeded"
        events = list(session.folder.events())
    assert [e["event"] for e in events].count("done") == 5
    assert 'VAR greeting = "hi"' in (session.folder.path / "plan.tiss").read_text()


def test_session_executes_hand_built_statements(tmp_path):
    """The runtime never needs the parser: AST nodes work directly (here one
    the checker would refuse, to reach the run-time check)."""
    env_home = ast.Var("home", ast.Ref("ENV", ("HOME",), span=ast.Span(3, 1, 3, 9)))
    with Session(tmp_path, sandbox="host", journal=False) as session:
        outcome = session.execute([env_home])
    assert outcome.status == "failed"
    assert "line 3: ENV is not available" in outcome.error
    assert outcome.run_id is None


def test_session_directives_carry_over_to_later_chunks(tmp_path):
    model = ScriptedModel(["yes"])
    with Session(tmp_path, sandbox="host", model=model) as session:
        session.execute('@persona "terse"\n')
        session.execute('PROMPT_AGENT "ok?"\n')
    assert model.prompts == [("ok?", "terse")]


def test_session_uses_a_pluggable_reviewer(tmp_path):
    asked = []

    def reviewer(request):
        asked.append((request.kind, request.message))
        return Answer("reject", "no")

    with Session(tmp_path, sandbox="host", review=reviewer) as session:
        outcome = session.execute('REQUEST_REVIEW "merge?"\n')
    assert asked == [("review", "merge?")]
    assert (outcome.status, outcome.exit_code) == ("rejected", 3)


def test_terminal_reviewer_keeps_asking_until_it_understands():
    answers = iter(["what", "r  too risky"])
    said = []
    answer = ask_on_terminal(Request("review", "ship?", 3), read=lambda prompt: next(answers),
                             write=said.append)
    assert answer == Answer("reject", "too risky")
    assert "ship?" in said[0]


def test_choose_ask_uses_the_chooser(tmp_path):
    def chooser(request):
        assert request.kind == "choose" and request.options == ("A", "B")
        return Answer("approve", choice=1)

    with Session(tmp_path, sandbox="host", review=chooser, choose="ask") as session:
        outcome = session.execute('CHOOSE {\n STEP "A" { VAR p = 1 }\n STEP "B" { VAR p = 2 }\n}\n')
    assert outcome.status == "succeeded", outcome.error
    assert session.variables["p"] == 2


# --- cost ----------------------------------------------------------------------


def test_estimate_counts_worst_case_and_remembered_durations():
    program = parse('''\
TASK "t" {
  RUN "make"
  IF true { PROMPT_AGENT "a" } ELSE { RUN "x" }
  RETRY 3 { RUN "test" }
  PARALLEL {
    STEP "a" { RUN "slow" }
    STEP "b" { RUN "fast" }
  }
}
''')
    history = {'"make"': [2.0, 4.0], '"slow"': [10.0], '"fast"': [1.0]}
    cost = estimate(program.body, history)
    assert cost["RUN_COUNT"] == 1 + 1 + 3 + 2
    assert cost["API_CALLS"] == 1
    assert cost["UNSEEN_COMMANDS"] == 1 + 3
    # make 3s + IF max(prompt 2s, run 1s) + 3 x test 1s + PARALLEL max(10, 1)
    assert cost["EXECUTION_TIME"] == pytest.approx(3 + 2 + 3 + 10)


def test_journal_takes_integers_beyond_64_bits(tmp_path):
    from runtime.journal import RunFolder
    with Session(tmp_path, sandbox="host") as session:
        session.execute("VAR big = 123456789012345678901234567890\n")
        path = session.folder.path
    assert RunFolder(path).restore().vars["big"] == 123456789012345678901234567890


def test_a_tool_that_raises_fails_the_step_with_its_message(tmp_path):
    def broken(path: str):
        raise RuntimeError("disk on fire")

    with Session(tmp_path, sandbox="host", tools={"broken": broken}) as session:
        outcome = session.execute('TRY {\n CALL broken {path: "x"}\n} CATCH {\n VAR why = LAST_ERROR.MESSAGE\n}\n')
    assert outcome.status == "succeeded", outcome.error
    assert session.variables["why"] == "tool 'broken' failed: RuntimeError: disk on fire"


def test_a_tool_gets_its_arguments_and_its_result_is_kept(tmp_path):
    def add(a: int, b: int) -> int:
        return a + b

    with Session(tmp_path, sandbox="host", tools={"add": add}) as session:
        outcome = session.execute('CALL add {a: 2, b: 3} INTO sum\nASSERT sum == 5\nCALL add {a: 1}\n')
    assert outcome.status == "failed"
    assert "tool 'add' refused its arguments" in outcome.error
    assert session.variables["sum"] == 5


def test_estimates_learn_token_counts_from_earlier_prompts(tmp_path):
    model = ScriptedModel(["one two three four five"])
    plan = 'PROMPT_AGENT "summarise"\nESTIMATE_COST {\n PROMPT_AGENT "summarise"\n}\n'
    with Session(tmp_path, sandbox="host", model=model) as session:
        assert session.execute(plan).status == "succeeded"
        assert session.variables["LAST_COST"]["TOKEN_COUNT"] == 256   # never seen before this run
    with Session(tmp_path, sandbox="host", model=model) as later:
        later.execute(plan)
        assert later.variables["LAST_COST"]["TOKEN_COUNT"] == 5


@pytest.mark.parametrize("allow, network", [(False, False), (True, True)])
def test_image_and_network_directives_configure_the_sandbox(tmp_path, monkeypatch, allow, network):
    config = tmp_path / "config.yaml"
    config.write_text(f"sandbox:\n  allow_network: {str(allow).lower()}\n  pids: 64\n")
    monkeypatch.setenv("TISS_CONFIG", str(config))
    program = parse('@image "python:3.12-slim"\nTASK "t" {\n  @network "on"\n  VAR x = 1\n}\n')
    with Session(tmp_path / "ws", sandbox="host") as session:
        session.run_program(program)
        sandbox_config = session._sandbox_config()
    assert sandbox_config.image == "python:3.12-slim"
    assert sandbox_config.network is network
    assert sandbox_config.pids == 64
    assert sandbox_config.run_id == session.run_id


def test_appends_from_parallel_branches_all_land_whole(run):
    appends = lambda n: "\n".join(f'    APPEND "log.txt" "branch {n} line {i}\\n"' for i in range(200))
    branches = "\n".join(f'  STEP "b{n}" {{\n{appends(n)}\n  }}' for n in range(3))
    outcome = run(f'TASK "t" {{\n STEP "all" {{\nPARALLEL {{\n{branches}\n}}\n}}\n}}')
    assert outcome.status == "succeeded", outcome.error
    lines = (run.workspace / "log.txt").read_text().splitlines()
    assert sorted(lines) == sorted(f"branch {n} line {i}" for n in range(3) for i in range(200))
