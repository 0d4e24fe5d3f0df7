"""The canonical formatter (tisslang/formatter.py): style, comments, heredocs,
and the two guarantees: idempotent, and never changes the AST."""

from __future__ import annotations

import textwrap

import pytest

from tisslang import ast as A
from tisslang import parse
from tisslang.formatter import format_program, format_source


def fmt(source: str) -> str:
    return format_source(textwrap.dedent(source).lstrip("\n"))


def canonical(text: str) -> str:
    return textwrap.dedent(text).lstrip("\n")


def assert_safe(source: str) -> str:
    """Format, then check both guarantees; return the formatted text."""
    formatted = format_source(source)
    assert parse(formatted) == parse(source)
    assert format_source(formatted) == formatted
    return formatted


# --- layout --------------------------------------------------------------------------


def test_indentation_one_statement_per_line_and_blank_lines_between_steps():
    source = 'TASK "t" { STEP "a" { RUN "x" } STEP "b" {\n  LOG "y"\n   LOG "z" }}\n'
    assert assert_safe(source) == canonical("""
        TASK "t" {
            STEP "a" {
                RUN "x"
            }

            STEP "b" {
                LOG "y"
                LOG "z"
            }
        }
    """)


def test_many_blank_lines_collapse_to_one_and_none_open_a_block():
    source = 'TASK "t" {\n\n\n  RUN "a"\n\n\n\n  RUN "b"\n  RUN "c"\n\n}\n'
    assert assert_safe(source) == 'TASK "t" {\n    RUN "a"\n\n    RUN "b"\n    RUN "c"\n}\n'


def test_setup_and_steps_are_separated_from_their_neighbours():
    source = 'TASK "t" {\n@persona "p"\nSETUP { RUN "a" }\nSTEP "s" { RUN "b" }\nLOG "end"\n}\n'
    assert assert_safe(source) == canonical("""
        TASK "t" {
            @persona "p"

            SETUP {
                RUN "a"
            }

            STEP "s" {
                RUN "b"
            }

            LOG "end"
        }
    """)


def test_then_is_dropped_and_else_chains_share_the_brace_line():
    source = canonical("""
        IF a == 1 THEN {
          LOG "one"
        }
        ELSE IF a == 2 THEN { LOG "two" }
        ELSE {
          LOG "many"
        }
        TRY { RUN "x" }
        CATCH { LOG "failed" }
    """)
    assert assert_safe("VAR a = 1\n" + source) == canonical("""
        VAR a = 1
        IF a == 1 {
            LOG "one"
        } ELSE IF a == 2 {
            LOG "two"
        } ELSE {
            LOG "many"
        }
        TRY {
            RUN "x"
        } CATCH {
            LOG "failed"
        }
    """)


def test_leaf_task_body_stays_at_the_top_level():
    source = '#TISS! Language=Python  Version=1.0\n@persona "p"\nTASK "leaf"\n  RUN "a"\nSTEP "s" { LOG "x" }\n'
    assert assert_safe(source) == canonical("""
        #TISS! Language=Python Version=1.0
        @persona "p"
        TASK "leaf"
        RUN "a"

        STEP "s" {
            LOG "x"
        }
    """)


def test_every_command_is_spelled_canonically():
    source = canonical("""
        SET_BUDGET EXECUTION_TIME = "5m"
        SET_BUDGET RUN_COUNT=3
        @env {A: "1", 'B C': 'two', "D": [1,2.50,  -3]}
        RUN 'make'   TIMEOUT "30s"  AS  build
        RUN "ls" AS listing TIMEOUT 1m
        WRITE 'a.txt' 'x'
        APPEND "a.txt" "y"
        READ "a.txt" AS text
        PROMPT_AGENT 'hi' INTO answer
        CALL search {q: 'x' , n: 2} INTO hits
        CALL ping
        VAR flags = {on: true, off: false, none: null}
        LOG "done"
        REQUEST_REVIEW 'ok?'
        PAUSE "wait"
    """)
    assert assert_safe(source) == canonical("""
        SET_BUDGET EXECUTION_TIME = 5m
        SET_BUDGET RUN_COUNT = 3
        @env {A: "1", "B C": "two", D: [1, 2.5, -3]}
        RUN "make" TIMEOUT 30s AS build
        RUN "ls" TIMEOUT 1m AS listing
        WRITE "a.txt" "x"
        APPEND "a.txt" "y"
        READ "a.txt" AS text
        PROMPT_AGENT "hi" INTO answer
        CALL search {q: "x", n: 2} INTO hits
        CALL ping
        VAR flags = {on: true, off: false, none: null}
        LOG "done"
        REQUEST_REVIEW "ok?"
        PAUSE "wait"
    """)


# --- strings ----------------------------------------------------------------------------


def test_quotes_are_normalised_and_re_escaped():
    source = r"""LOG 'say "hi" it\'s {{name | trim}}\t\u{1F600}'""" + "\n"
    formatted = assert_safe("VAR name = 1\n" + source)
    assert formatted.splitlines()[1] == r'LOG "say \"hi\" it' + "'" + r's {{name | trim}}\t😀"'


def test_control_characters_are_escaped():
    program = A.Program((), (A.Log(A.Template((A.Text("a\x00b\x1bc\u2028\\"),))),))
    formatted = format_program(program)
    assert formatted == 'LOG "a\\u{0000}b\\u{001B}c\\u{2028}\\\\"\n'
    assert parse(formatted) == program


@pytest.mark.parametrize("text", ["{{", "a{{{b", "{", "x{"])
def test_literal_double_braces_never_become_interpolations(text):
    program = A.Program((), (A.Log(A.Template((
        A.Text(text), A.Interpolation(A.Ref("v")), A.Text("}}"))),),))
    formatted = format_program(program)
    assert parse(formatted) == program


def test_object_keys_are_bare_names_or_escaped_strings():
    program = A.Program((), (A.Var("x", A.ObjectExpr((
        ("name", A.Literal(1)), ("RUN", A.Literal(2)), ("true", A.Literal(3)),
        ("two words", A.Literal(4)), ("{{not a hole}}", A.Literal(5))))),))
    formatted = format_program(program)
    assert formatted == ('VAR x = {name: 1, "RUN": 2, "true": 3, "two words": 4, '
                         '"\\u{7B}{not a hole}}": 5}\n')
    assert parse(formatted) == program


def test_numbers_keep_their_value_without_exponents():
    program = A.Program((), (A.Var("x", A.ListExpr((
        A.Literal(1e-7), A.Literal(-2.5e20), A.Literal(3.0), A.Literal(-0)))),))
    formatted = format_program(program)
    assert formatted == "VAR x = [0.0000001, -250000000000000000000.0, 3.0, 0]\n"
    assert parse(formatted) == program


# --- expressions: only the parentheses that matter, plus the ones that help -----------------


@pytest.mark.parametrize("written, canonical_form", [
    ("((a == 1))", "a == 1"),
    ("a AND b OR c", "(a AND b) OR c"),
    ("a OR b AND c", "a OR (b AND c)"),
    ("(a OR b) AND c", "(a OR b) AND c"),
    ("a AND (b AND c)", "a AND (b AND c)"),
    ("a AND b AND c", "a AND b AND c"),
    ("NOT a == 1", "NOT (a == 1)"),
    ("NOT (a OR b)", "NOT (a OR b)"),
    ("NOT NOT a", "NOT (NOT a)"),
    ("NOT a", "NOT a"),
    ("a NOT  CONTAINS 'x'", 'a NOT CONTAINS "x"'),
    ('FILE "f"   NOT EXISTS', 'FILE "f" NOT EXISTS'),
    ("(a == 1) == true", "(a == 1) == true"),
    ("a IS_EMPTY", "a IS_EMPTY"),
])
def test_condition_spelling(written, canonical_form):
    source = f"VAR a = 1\nVAR b = 2\nVAR c = 3\nASSERT {written}\n"
    assert assert_safe(source).splitlines()[-1] == "ASSERT " + canonical_form


# --- heredocs ------------------------------------------------------------------------------


HEREDOC_PLAN = '''\
TASK "t" {
STEP "s" {
WRITE "a.py" <<PY
def f():
    return "{{name}}"   

# not a comment
PY
            RUN <<'SH' TIMEOUT 5s AS out
              echo {{raw}}
                  indented
              SH
}
}
'''


def test_heredoc_bodies_keep_their_exact_text():
    before = parse(HEREDOC_PLAN)
    formatted = assert_safe(HEREDOC_PLAN)
    after = parse(formatted)
    write = after.body[0].body[0].body[0]
    run = after.body[0].body[0].body[1]
    assert write.content == before.body[0].body[0].body[0].content
    assert "".join(p.value for p in write.content.body.parts if isinstance(p, A.Text)) == \
        'def f():\n    return ""   \n\n# not a comment\n'
    assert run.command.body.parts == (A.Text("echo {{raw}}\n    indented\n"),)
    # Body and closing delimiter move together to the statement's indentation.
    assert formatted == canonical('''
        TASK "t" {
            STEP "s" {
                WRITE "a.py" <<PY
                def f():
                    return "{{name}}"   

                # not a comment
                PY
                RUN <<'SH' TIMEOUT 5s AS out
                echo {{raw}}
                    indented
                SH
            }
        }
    ''')


def test_empty_heredoc():
    assert assert_safe('WRITE "a" <<EOF\nEOF\n') == 'WRITE "a" <<EOF\nEOF\n'


# --- comments ------------------------------------------------------------------------------


COMMENTED = '''\
#TISS! Language=Python
# What this plan does.
@persona "p"  # who answers

TASK "t" {  # the task
    # before the step
    STEP "a" {  # opener
        RUN "x" AS out  # trailing
        # inside, before IF

        IF out.EXIT_CODE == 0 {  # when it worked
            LOG "ok"
            # last in the IF branch
        } ELSE {  # on the else line
            # first in the else branch
            LOG "no"
        }  # after the IF
        TRY {
            RUN "y"
            # end of try
        } CATCH {  # catch line
            LOG "caught"
        }
        WRITE "f" <<EOF  # on the heredoc line
        # this is body text, not a comment
        EOF
        # the end of the step
    }  # closing the step
    # the end of the task
}
# the end of the file
'''


def test_comments_stay_where_they_were():
    assert assert_safe(COMMENTED) == COMMENTED


def test_comments_follow_reformatting():
    source = canonical('''
        TASK "t" { # opener
          RUN "a"      # one
              # two
          IF true THEN { LOG "x" }   # three
          ELSE { LOG "y" }
        # four
        }
    ''')
    assert assert_safe(source) == canonical('''
        TASK "t" {  # opener
            RUN "a"  # one
            # two
            IF true {  # three
                LOG "x"
            } ELSE {
                LOG "y"
            }
            # four
        }
    ''')


def test_comments_inside_a_multi_line_value_are_kept():
    source = 'CALL search {\n  q: "x",  # the query\n  n: 2,   # how many\n}\n'
    formatted = assert_safe(source)
    assert formatted == '# the query\nCALL search {q: "x", n: 2}  # how many\n'


def test_a_comment_that_looks_like_a_header_stays_a_comment():
    source = '\n  #TISS! Language=Python\nRUN "x"\n'
    formatted = assert_safe(source)
    assert formatted == '\n#TISS! Language=Python\nRUN "x"\n'
    assert parse(formatted).header == ()


def test_only_comments():
    assert assert_safe("# just\n\n\n# notes\n") == "# just\n\n# notes\n"
    assert format_source("") == ""


# --- the AST entry point -----------------------------------------------------------------


def test_format_program_without_positions():
    program = A.Program((("Version", "1.0"),), (
        A.Task(A.Template((A.Text("t"),)), (
            A.Step(A.Template((A.Text("a"),)), (A.Run(A.Template((A.Text("ls"),))),)),
            A.Step(A.Template((A.Text("b"),)), ()),
        )),))
    formatted = format_program(program)
    assert formatted == canonical('''
        #TISS! Version=1.0
        TASK "t" {
            STEP "a" {
                RUN "ls"
            }

            STEP "b" {
            }
        }
    ''')
    assert parse(formatted) == program


def test_deeply_nested_plans_format():
    depth = 100  # the deepest the parser accepts
    source = "".join("RETRY 2 {\n" for _ in range(depth)) + 'RUN "x"\n' + "}\n" * depth
    expected = ("".join("    " * level + "RETRY 2 {\n" for level in range(depth))
                + "    " * depth + 'RUN "x"\n'
                + "".join("    " * level + "}\n" for level in reversed(range(depth))))
    # Compared as text: comparing two deep ASTs recurses through dataclass __eq__.
    assert format_source(source) == expected
    assert format_source(expected) == expected


@pytest.mark.parametrize("ending", ["\r\n", "\r"])
def test_other_line_endings_become_newlines(ending):
    source = COMMENTED.replace("\n", ending)
    assert format_source(source) == COMMENTED
