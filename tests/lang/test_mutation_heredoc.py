"""tisslang/heredoc.py, the pre-scan: positions of heredoc body lines and of
their problems, the header pairs, and what the grammar is left to parse.
Written for the mutants bench/mutation.py found surviving."""

from __future__ import annotations

from tisslang.heredoc import HeredocBody, prescan


def test_body_lines_keep_their_line_and_column_in_the_file():
    source = 'WRITE "a.txt" <<EOF\n    one\n\n      two\n    EOF\nVAR x = 1\n'
    pre = prescan(source, "plan.tiss")
    assert pre.diagnostics == []
    body = pre.heredocs[(1, 15)]
    assert body == HeredocBody("EOF", False, [(2, 5, "one"), (3, 1, ""), (4, 5, "  two")],
                               end_line=5, end_col=8)
    # the body and its closing line are blanked; the lines after are untouched
    assert pre.text.split("\n") == ['WRITE "a.txt" <<EOF', "", "", "", "", "VAR x = 1", ""]


def test_a_blank_line_of_spaces_in_a_body_is_exempt_from_the_indentation():
    pre = prescan("X <<'E'\n  a\n \n  E\n", "p")
    assert pre.heredocs[(1, 3)] == HeredocBody("E", True, [(2, 3, "a"), (3, 2, "")], 4, 4)
    assert pre.diagnostics == []


def test_a_line_indented_less_than_the_closing_delimiter_is_reported_where_it_is():
    pre = prescan("VAR a = 1\nWRITE \"f\" <<END\n    ok\n  short\n    END\n", "plan.tiss")
    [problem] = pre.diagnostics
    assert (problem.path, problem.line, problem.col) == ("plan.tiss", 4, 1)
    assert problem.message == "heredoc line is indented less than its closing END"
    assert problem.hint == ("indent every line of the body at least as far as the closing END "
                            "(line 5), using the same spaces or tabs")
    assert problem.source_line == "  short"
    assert pre.heredocs[(2, 11)].lines == [(3, 5, "ok"), (4, 1, "  short")]


def test_an_unclosed_heredoc_is_reported_at_its_opener_and_swallows_the_rest():
    pre = prescan("VAR a = 1\nWRITE \"f\" <<END\nbody\nVAR b = 2\n", "plan.tiss")
    [problem] = pre.diagnostics
    assert (problem.path, problem.line, problem.col) == ("plan.tiss", 2, 11)
    assert problem.message == "heredoc <<END is never closed"
    assert problem.hint == "end the heredoc with a line that holds only END"
    assert problem.source_line == 'WRITE "f" <<END'
    assert pre.unclosed_heredoc is True
    assert pre.text.split("\n") == ["VAR a = 1", 'WRITE "f" <<END', "", "", ""]


def test_header_pairs_and_the_entries_that_are_not_pairs():
    pre = prescan("#TISS! Language=Python odd Version=1.0 a=b=c =x\nVAR a = 1\n", "plan.tiss")
    assert pre.header == (("Language", "Python"), ("Version", "1.0"), ("a", "b=c"))
    assert [(d.path, d.line, d.col, d.message) for d in pre.diagnostics] == [
        ("plan.tiss", 1, 24, "header entry 'odd' is not a Key=Value pair"),
        ("plan.tiss", 1, 46, "header entry '=x' is not a Key=Value pair"),
    ]
    assert pre.diagnostics[0].hint == "write the header as: #TISS! Language=Python Version=1.0"
    assert pre.text.startswith("\nVAR a = 1")   # the header is not for the grammar


def test_two_heredocs_on_one_line_take_their_bodies_in_turn():
    pre = prescan("CMD <<A <<B\na\nA\nb\nB\nVAR z = 1\n", "p")
    assert pre.heredocs[(1, 5)].lines == [(2, 1, "a")]
    assert pre.heredocs[(1, 9)].lines == [(4, 1, "b")]
    assert pre.text.split("\n")[5] == "VAR z = 1"
