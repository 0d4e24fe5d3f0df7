"""The parser builds the AST of tisslang/ast.py for every construct of docs/reference.md."""

from pathlib import Path

import pytest

from tisslang import TissSyntaxError, parse
from tisslang import parser as parser_module
from tisslang.jsonast import to_json
from tisslang.ast import (
    Append, Assert, Branch, Call, Choose, Compare, Directive, Duration, EstimateCost,
    FileRef, Heredoc, If, Interpolation, ListExpr, Literal, Log, Logical, Not, ObjectExpr,
    Parallel, Pause, Predicate, PromptAgent, Read, Ref, RequestReview, Retry, Run,
    SetBudget, Setup, Step, Task, Template, Text, Try, Var, Write,
)


def t(text):
    return Template((Text(text),)) if text else Template(())


def only(source):
    """The single statement of a one-statement fragment."""
    program = parse(source)
    assert len(program.body) == 1, program.body
    return program.body[0]


def test_run_with_timeout_and_alias():
    assert only('RUN "pytest -q" TIMEOUT 30s AS tests\n') == Run(
        t("pytest -q"), Duration(30.0, "30s"), "tests")


def test_quoted_timeout_becomes_duration_but_invalid_one_stays_template():
    assert only('RUN "x" TIMEOUT "5m"').timeout == Duration(300.0, "5m")
    assert only('RUN "x" TIMEOUT "soon"').timeout == t("soon")


def test_every_command():
    source = '''
WRITE "a.txt" "inline"
APPEND "a.txt" "more"
READ "a.txt" AS text
ASSERT text CONTAINS "in"
PROMPT_AGENT "fix it" INTO answer
CALL web_search {query: "lark", "max n": 3} INTO hits
VAR n = 2.5
LOG "n is {{n}}"
SET_BUDGET API_CALLS = 10
REQUEST_REVIEW "ok?"
PAUSE "wait"
@persona "careful"
'''
    body = parse(source).body
    assert body == (
        Write(t("a.txt"), t("inline")),
        Append(t("a.txt"), t("more")),
        Read(t("a.txt"), "text"),
        Assert(Compare("CONTAINS", Ref("text"), t("in"))),
        PromptAgent(t("fix it"), "answer"),
        Call("web_search", ObjectExpr((("query", t("lark")), ("max n", Literal(3)))), "hits"),
        Var("n", Literal(2.5)),
        Log(Template((Text("n is "), Interpolation(Ref("n"))))),
        SetBudget("API_CALLS", Literal(10)),
        RequestReview(t("ok?")),
        Pause(t("wait")),
        Directive("persona", t("careful")),
    )


def test_heredoc_body_is_byte_exact_and_dedented():
    source = 'WRITE "a.py" <<PY\n    x = 1  \n\n    # kept\n      y\n    PY\n'
    write = only(source)
    assert write.content == Heredoc("PY", False, t("x = 1  \n\n# kept\n  y\n"))


def test_raw_heredoc_keeps_braces_and_empty_heredoc_is_empty():
    assert only("RUN <<'SH'\necho {{x}}\nSH\n").command == Heredoc("SH", True, t("echo {{x}}\n"))
    assert only("RUN <<SH\nSH\n").command == Heredoc("SH", False, Template(()))


def test_conditions_precedence():
    cond = only('ASSERT NOT a == 1 OR b IS_EMPTY AND FILE "f" NOT EXISTS').condition
    assert cond == Logical(
        "OR",
        Not(Compare("==", Ref("a"), Literal(1))),
        Logical("AND", Predicate("IS_EMPTY", Ref("b")),
                Predicate("NOT_EXISTS", FileRef(t("f")))))


def test_if_else_if_else_split_or_joined():
    joined = 'IF x > 1 THEN { LOG "a" } ELSE IF x <= 0 { LOG "b" } ELSE { LOG "c" }'
    split = 'IF x > 1 THEN {\n  LOG "a"\n}\nELSE IF x <= 0 {\n  LOG "b"\n}\n# why\nELSE {\n  LOG "c"\n}\n'
    expected = If(
        (Branch(Compare(">", Ref("x"), Literal(1)), (Log(t("a")),)),
         Branch(Compare("<=", Ref("x"), Literal(0)), (Log(t("b")),))),
        (Log(t("c")),))
    assert only(joined) == expected
    assert only(split) == expected


def test_leaf_task_takes_rest_of_file():
    program = parse('@persona "p"\nTASK "leaf"\nSTEP "a" { RUN "x" }\nSTEP "b" { RUN "y" }\n')
    directive, task = program.body
    assert task.leaf and [s.description for s in task.body] == [t("a"), t("b")]


def test_control_flow_blocks():
    source = '''TASK "t" {
    SETUP { RUN "setup" }
    CHOOSE {
        OPTION "fast" { ESTIMATE_COST { RUN "a" } }
        STEP "slow" { RUN "b" }
    }
    PARALLEL { STEP "p" { RUN "c" } RUN "d" }
    TRY { RUN "e" } CATCH { LOG "{{LAST_ERROR | trim}}" }
    RETRY 3 { PROMPT_AGENT "again" }
}'''
    (task,) = parse(source).body
    assert task == Task(t("t"), (
        Setup(None, (Run(t("setup")),)),
        Choose((Step(t("fast"), (EstimateCost((Run(t("a")),)),), keyword="OPTION"),
                Step(t("slow"), (Run(t("b")),)))),
        Parallel((Step(t("p"), (Run(t("c")),)), Run(t("d")))),
        Try((Run(t("e")),), (Log(Template((Interpolation(Ref("LAST_ERROR"), ("trim",)),))),)),
        Retry(3, (PromptAgent(t("again")),)),
    ))


def test_spans_are_one_based_and_cover_the_node():
    (task,) = parse('TASK "t" {\n    RUN "ls"\n}\n').body
    run = task.body[0]
    assert (run.span.line, run.span.col, run.span.end_line, run.span.end_col) == (2, 5, 2, 13)
    assert (task.span.line, task.span.end_line, task.span.end_col) == (1, 3, 2)


def test_header_and_comments_are_kept():
    program = parse('#TISS! Language=Python Version=1.0\n# top\nRUN "x"  # after\n')
    assert program.header == (("Language", "Python"), ("Version", "1.0"))
    assert [(c.text, c.span.line, c.span.col) for c in program.comments] == [
        (" top", 2, 1), (" after", 3, 10)]


def test_escapes_and_single_quotes():
    assert only(r"""LOG 'it\'s \u{1F600}\t"q"'""").message == t("it's \U0001F600\t\"q\"")


def test_crlf_and_cr_line_endings():
    assert parse('RUN "a"\r\nRUN "b"\rRUN "c"').body == (Run(t("a")), Run(t("b")), Run(t("c")))


def test_list_and_object_literals():
    value = only('VAR v = [1, -2, true, null, "s", {k: [], "k 2": false}]').value
    assert value == ListExpr((Literal(1), Literal(-2), Literal(True), Literal(None), t("s"),
                              ObjectExpr((("k", ListExpr(())), ("k 2", Literal(False))))))


def test_syntax_error_is_tiss_syntax_error_with_position():
    with pytest.raises(TissSyntaxError) as info:
        parse('TASK "t" {\n    RUN ls\n}\n', "plan.tiss")
    first = info.value.first
    assert (first.path, first.line, first.col) == ("plan.tiss", 2, 9)
    assert "expected a quoted string" in first.message and "after RUN" in first.message


EXAMPLES = sorted((Path(__file__).parents[2] / "examples").glob("*.tiss"))


@pytest.mark.parametrize("example", EXAMPLES, ids=lambda p: p.name)
def test_fast_path_and_lark_build_the_same_tree(example):
    source = example.read_text(encoding="utf-8")
    before = dict(parser_module.path_counts)
    fast = parse(source, str(example))
    assert parser_module.path_counts["fast"] == before["fast"] + 1, "fell back to Lark"
    slow = parser_module.parse(source, str(example), fast=False)
    assert fast == slow
    assert fast.comments == slow.comments
    assert to_json(fast) == to_json(slow)  # spans included


# --- decisions recorded in docs/language.md -------------------------------------


def test_comparisons_do_not_chain():
    with pytest.raises(TissSyntaxError):
        parse("ASSERT a < b < c")


def test_heredoc_opener_line_may_carry_clauses_and_a_comment():
    run = only("RUN <<SH TIMEOUT 5m AS build  # note\nmake\nSH\n")
    assert run == Run(Heredoc("SH", False, t("make\n")), Duration(300.0, "5m"), "build")


def test_two_heredocs_on_one_line_take_their_bodies_in_turn():
    program = parse('WRITE "a" <<A WRITE "b" <<B\none\nA\ntwo\nB\n')
    assert [w.content.body for w in program.body] == [t("one\n"), t("two\n")]


def test_escaped_brace_is_literal_text_not_a_hole():
    assert only(r'LOG "\u{7B}{not a hole}}"').message == t("{{not a hole}}")


def test_fractional_duration_and_tiss_header_elsewhere_is_a_comment():
    program = parse('RUN "x" TIMEOUT 1.5m\n#TISS! Version=2\n')
    assert program.body[0].timeout == Duration(90.0, "1.5m")
    assert program.header == () and program.comments[0].text == "TISS! Version=2"


def test_whitespace_line_shorter_than_indent_is_empty_and_longer_keeps_extra():
    write = only('WRITE "f" <<EOF\n    a\n  \n      \n    EOF\n')
    assert write.content.body == t("a\n\n  \n")


def test_tab_indentation_must_match_exactly():
    with pytest.raises(TissSyntaxError) as info:
        parse('WRITE "f" <<EOF\n\ta\n    EOF\n')
    assert "indented less than its closing EOF" in info.value.first.message


def test_call_without_arguments_and_run_clauses_in_either_order():
    assert only("CALL now") == Call("now", ObjectExpr(()))
    assert only('RUN "x" AS r TIMEOUT 2s') == Run(t("x"), Duration(2.0, "2s"), "r")


def test_multiline_object_and_list_with_trailing_commas():
    value = only('@env {\n    A: "1",\n    B: [\n        1,\n    ],\n}\n').value
    assert value == ObjectExpr((("A", t("1")), ("B", ListExpr((Literal(1),)))))


def test_recovery_reports_errors_after_the_first_and_keeps_positions():
    source = 'STEP "a" {\n    RUN ls\n}\nSTEP "b" {\n    WRITE "x" <<EOF\n    body\n    EOF\n    LOG hi\n}\n'
    with pytest.raises(TissSyntaxError) as info:
        parse(source)
    assert [(d.line, d.col) for d in info.value.diagnostics] == [(2, 9), (8, 9)]


def test_parse_accepts_only_text():
    with pytest.raises(TypeError):
        parse(b'RUN "x"')


@pytest.mark.parametrize("example", EXAMPLES, ids=lambda p: p.name)
def test_every_node_has_a_real_span(example):
    bad = []

    def walk(node):
        if isinstance(node, dict):
            if "type" in node:
                start, end = (node["line"], node["col"]), (node["end_line"], node["end_col"])
                if min(start) < 1 or end < start:
                    bad.append(node["type"])
            for value in node.values():
                walk(value)
        elif isinstance(node, list):
            for item in node:
                walk(item)

    walk(to_json(parse(example.read_text(encoding="utf-8"))))
    assert bad == []


def test_parsing_from_many_threads_gives_the_same_trees_and_leaves_gc_on():
    import gc
    from concurrent.futures import ThreadPoolExecutor

    sources = [example.read_text(encoding="utf-8") for example in EXAMPLES] * 4
    expected = [parse(source) for source in sources]
    with ThreadPoolExecutor(max_workers=4) as pool:
        results = list(pool.map(parse, sources))
    assert results == expected
    assert gc.isenabled()


def test_keywords_may_be_object_keys_and_fields():
    """Reserved for variable names only: a keyword where no keyword can
    stand is a name, as Lark's contextual lexer reads it."""
    assert [key for key, _ in only('@env {TIMEOUT: "5", FILE: "x"}').value.entries] == ["TIMEOUT", "FILE"]
    assert only("ASSERT build.EXISTS == 1").condition.left == Ref("build", ("EXISTS",))
    assert parser_module.parse('@env {TIMEOUT: "5"}', fast=False) == parse('@env {TIMEOUT: "5"}')
