"""Fuzzing the whole ``tiss`` command line (ARCHITECTURE.md, CLI contract).

Whatever bytes a plan file holds — random bytes, truncated or mutated example
plans, huge lines, NUL bytes, deep nesting, random well-formed plans — ``check``, ``fmt``, ``parse
--json``, ``run --dry-run`` and ``run`` (in a real sandbox) answer with an
exit code of the contract (docs/reference.md §8) and never a traceback.

Most examples call ``main()`` in-process (fast); a few go through a real
``tiss`` process, to cover what only a process has (stdin bytes, the exit
status, the interpreter's own error printing).
"""

from __future__ import annotations

import io
import os
import subprocess
import sys
import tempfile
import traceback
from contextlib import redirect_stderr, redirect_stdout
from pathlib import Path
from unittest import mock

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from runtime.cli import main
from tests.lang.strategies import programs
from tests.sandbox.conftest import backend_problem, require_backend
from tisslang.formatter import format_program

ROOT = Path(__file__).resolve().parent.parent
EXAMPLES = [path.read_bytes() for path in sorted(ROOT.glob("examples/**/*.tiss"))]

# The exit codes each command may end with (docs/reference.md §8; tisslang/cli.py).
CONTRACT = {
    "check": {0, 2},
    "fmt": {0, 2},
    "fmt --check": {0, 1, 2},
    "parse --json": {0, 2},
    "run --dry-run": {0, 2},
    "run": {0, 1, 2, 3, 75},
}

# Bounded: the whole file runs in well under a minute on a shared 2-core
# machine. TISS_FUZZ_EXAMPLES=2000 searches longer (by hand, not in CI).
EXAMPLE_COUNT = int(os.environ.get("TISS_FUZZ_EXAMPLES", "60"))
FAST = settings(max_examples=EXAMPLE_COUNT, deadline=None, database=None,
                suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
FEW = settings(FAST, max_examples=max(8, EXAMPLE_COUNT // 20))


# --- inputs ------------------------------------------------------------------

# Bytes that matter to the lexer, the heredoc scanner and the decoder.
SPECIAL = [b"\x00", b"\xff", b"\xc3", b"\xed\xa0\x80", b"\r", b"\n", b"\t", b"\x0c", b'"', b"'",
           b"\\", b"{", b"}", b"{{", b"}}", b"<<EOF\n", b"\nEOF\n", b"#", b"@", b"(", b"[",
           b"TASK ", b"STEP ", b"RUN ", b"IF ", b"ELSE ", b"PARALLEL {", b"CHOOSE {", b"30",
           b"\xef\xbb\xbf", "é∂😀".encode()]

edits = st.lists(st.tuples(st.integers(0, 1 << 20), st.sampled_from(["insert", "delete", "replace"]),
                           st.one_of(st.sampled_from(SPECIAL), st.binary(min_size=1, max_size=6))),
                 min_size=1, max_size=8)


def mutate(data: bytes, changes) -> bytes:
    for position, kind, chunk in changes:
        at = position % (len(data) + 1)
        if kind == "insert":
            data = data[:at] + chunk + data[at:]
        elif kind == "delete":
            data = data[:at] + data[at + len(chunk):]
        else:
            data = data[:at] + chunk + data[at + len(chunk):]
    return data


examples = st.sampled_from(EXAMPLES)
truncated = st.builds(lambda data, cut: data[:cut % (len(data) + 1)], examples, st.integers(0, 1 << 20))
mutated = st.builds(mutate, examples, edits)
with_nuls = st.builds(mutate, examples, st.lists(
    st.tuples(st.integers(0, 1 << 20), st.just("insert"), st.just(b"\x00")), min_size=1, max_size=4))
random_bytes = st.binary(max_size=2048)

HUGE = [b'LOG "%s"\n', b"%s\n", b'RUN "echo %s"\n', b'TASK "t" {\n    LOG "%s"\n}\n',
        b"VAR x = %s\n", b"# %s\n", b'WRITE "f" <<EOF\n%s\nEOF\n']
huge_lines = st.builds(lambda shape, filler, size: shape.replace(b"%s", (filler * size)[:size]),
                       st.sampled_from(HUGE), st.sampled_from([b"x", b"ab ", b"{{", b"\\", b"\x00", b"\xff"]),
                       st.integers(10_000, 300_000))

# (opening, closing) pairs; the body is nested ``depth`` times.
NESTS = [(b'IF true {\n', b"}\n"), (b"PARALLEL {\n", b"}\n"), (b"TRY {\n", b"} CATCH {\n}\n"),
         (b'TASK "t" {\n', b"}\n"), (b'STEP "s" {\n', b"}\n"), (b"(", b")"), (b"[", b"]"),
         (b"NOT ", b""), (b"true AND ", b""), (b"(", b") OR x"), (b"{a: ", b"}"), (b"{{", b"}}")]


def nested(pair, depth: int, inner: bytes) -> bytes:
    opening, closing = pair
    if opening.endswith(b"\n"):
        return b'TASK "t" {\n' + opening * depth + inner + b"\n" + closing * depth + b"}\n"
    return b'TASK "t" {\n    VAR x = ' + opening * depth + inner + closing * depth + b"\n}\n"


deep = st.builds(nested, st.sampled_from(NESTS), st.integers(1, 3000),
                 st.sampled_from([b"true", b'LOG "x"', b"1", b""]))

# Well-formed plans of every statement kind (random ASTs, formatted): they
# get past the parser, so the checker, the cost estimate and the interpreter
# see them too.
generated = programs(max_depth=2).map(lambda program: format_program(program).encode("utf-8"))

plans = st.one_of(random_bytes, truncated, mutated, with_nuls, huge_lines, deep, generated)


# --- running tiss ---------------------------------------------------------------


def tiss(args: list[str], stdin: bytes = b"") -> tuple[int | None, str, str]:
    """``main(args)`` in this process: (exit code, stdout, stderr). An escaped
    exception is returned as its traceback in stderr and a None exit code."""
    out, err = io.StringIO(), io.StringIO()
    fake_stdin = io.TextIOWrapper(io.BytesIO(stdin), encoding="utf-8")
    with redirect_stdout(out), redirect_stderr(err), mock.patch.object(sys, "stdin", fake_stdin):
        try:
            code = main(args)
        except SystemExit as exc:  # argparse's usage errors
            code = exc.code if isinstance(exc.code, int) else 2
        except BaseException:  # noqa: BLE001 - reported by the assertion below
            traceback.print_exc(file=err)
            code = None
    return code, out.getvalue(), err.getvalue()


def assert_contract(command: str, code, err: str) -> None:
    assert "Traceback" not in err, f"tiss {command} printed a traceback:\n{err[-3000:]}"
    assert code in CONTRACT[command], f"tiss {command} exited {code}, outside {sorted(CONTRACT[command])}:\n{err[-2000:]}"


def write_plan(folder: Path, data: bytes) -> Path:
    path = folder / "plan.tiss"
    path.write_bytes(data)
    return path


def run_args(plan: Path, workspace: Path, backend: str) -> list[str]:
    # Reviews pause (exit 75) and CHOOSE takes the first option: no terminal, no model.
    return ["run", str(plan), "--workspace", str(workspace), "--sandbox", backend,
            "--review", "pause", "--choose", "first"]


@pytest.fixture(scope="module")
def isolated_backend() -> str:
    """bubblewrap when it works here (it starts fastest), else Docker."""
    backend = "bwrap" if backend_problem("bwrap") is None else "docker"
    require_backend(backend)
    return backend


# --- the properties ---------------------------------------------------------------


@FAST
@given(plans)
def test_check_fmt_parse_and_dry_run_answer_any_bytes_within_the_contract(data):
    with tempfile.TemporaryDirectory() as folder:
        plan = write_plan(Path(folder), data)
        for command, args in [("check", ["check", str(plan)]),
                              ("fmt --check", ["fmt", "--check", str(plan)]),
                              ("parse --json", ["parse", "--json", str(plan)]),
                              ("run --dry-run", ["run", "--dry-run", str(plan), "--workspace", folder])]:
            code, _, err = tiss(args)
            assert_contract(command, code, err)
        code, _, err = tiss(["fmt", str(plan)])   # in place, last: it may rewrite the file
        assert_contract("fmt", code, err)


@FAST
@given(plans)
def test_stdin_answers_any_bytes_within_the_contract(data):
    for command, args in [("check", ["check", "-"]), ("fmt", ["fmt", "-"]),
                          ("parse --json", ["parse", "--json", "-"])]:
        code, _, err = tiss(args, stdin=data)
        assert_contract(command, code, err)


@FEW
@given(st.one_of(examples, mutated, truncated, with_nuls, deep, generated))
def test_run_in_a_sandbox_answers_within_the_contract(isolated_backend, data):
    with tempfile.TemporaryDirectory() as folder:
        workspace = Path(folder) / "ws"
        workspace.mkdir()
        code, _, err = tiss(run_args(write_plan(Path(folder), data), workspace, isolated_backend))
        assert_contract("run", code, err)


# --- a few real processes --------------------------------------------------------------

REAL_CASES = [
    ("not UTF-8", b'TASK "t" {\n    LOG "caf\xe9"\n}\n'),
    ("NUL bytes", b'TASK "t" {\n    LOG "a\x00b"\n}\n\x00'),
    ("deep nesting", nested(NESTS[0], 3000, b'LOG "x"')),
    ("huge line", b'LOG "' + b"x" * 1_000_000 + b'"\n'),
]


@pytest.mark.parametrize("data", [case for _, case in REAL_CASES], ids=[name for name, _ in REAL_CASES])
def test_real_tiss_process_answers_within_the_contract(tmp_path, isolated_backend, data):
    plan = write_plan(tmp_path, data)
    workspace = tmp_path / "ws"
    workspace.mkdir()
    for command, args, stdin in [
            ("check", ["check", str(plan)], b""),
            ("check", ["check", "-"], data),
            ("fmt --check", ["fmt", "--check", str(plan)], b""),
            ("fmt", ["fmt", "-"], data),
            ("parse --json", ["parse", "--json", str(plan)], b""),
            ("run --dry-run", ["run", "--dry-run", str(plan), "--workspace", str(workspace)], b""),
            ("run", run_args(plan, workspace, isolated_backend), b"")]:
        done = subprocess.run([sys.executable, "-m", "runtime.cli", *args], input=stdin, cwd=ROOT,
                              capture_output=True, timeout=120)
        assert_contract(command, done.returncode, done.stderr.decode("utf-8", "replace"))


def test_run_of_a_file_that_is_not_utf8_says_so(tmp_path):
    plan = write_plan(tmp_path, b'TASK "t" {\n    LOG "caf\xe9"\n}\n')
    code, _, err = tiss(["run", str(plan), "--workspace", str(tmp_path)])
    assert code == 2
    assert err.startswith(f"error: cannot read plan {str(plan)!r}: not UTF-8 text (byte 23)"), err


# --- found while probing: one clear error each --------------------------------


def test_run_with_a_file_as_workspace_is_a_usage_error(tmp_path):
    plan = write_plan(tmp_path, b'LOG "hi"\n')
    not_a_folder = tmp_path / "notes.txt"
    not_a_folder.write_text("x")
    code, _, err = tiss(["run", str(plan), "--workspace", str(not_a_folder)])
    assert (code, "Traceback" in err) == (2, False), err
    assert f"error: cannot use the workspace {not_a_folder}: it is not a directory" in err


def test_run_dash_is_a_file_name_not_stdin(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    code, _, err = tiss(["run", "-", "--workspace", str(tmp_path)], stdin=b'LOG "from stdin"\n')
    assert code == 2 and "error: cannot read plan '-': no such file" in err, err


def test_fmt_that_cannot_write_the_file_says_so(tmp_path):
    plan = write_plan(tmp_path, b'LOG   "x"\n')
    if subprocess.run(["chattr", "+i", str(plan)], capture_output=True).returncode != 0:
        pytest.skip("chattr +i (an immutable file, even for root) is not available here")
    try:
        code, _, err = tiss(["fmt", str(plan)])
    finally:
        subprocess.run(["chattr", "-i", str(plan)], check=True)
    assert (code, "Traceback" in err) == (2, False), err
    assert f"{plan}: error: cannot write: Operation not permitted" in err
