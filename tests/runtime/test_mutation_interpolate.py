"""runtime/interpolate.py: the cases its surviving mutants showed untested
(bench/mutation.py): non-ASCII text through JSON, and the unknown-filter error."""

from __future__ import annotations

import pytest

from runtime.errors import RunError
from runtime.interpolate import render, to_text
from tisslang import ast


def fill(value, *filters, shell=False):
    part = ast.Interpolation(ast.Ref("x"), tuple(filters), span=ast.Span(7, 3, 7, 20))
    return render(ast.Template((part,)), lambda ref: value, shell=shell)


def test_non_ascii_text_inside_a_json_value_stays_readable():
    assert to_text(["café", {"clé": "naïve"}]) == '["café", {"clé": "naïve"}]'
    assert fill({"k": "été"}) == '{"k": "été"}'


def test_json_filter_keeps_non_ascii_text():
    assert fill("été", "json") == '"été"'


def test_whole_numbers_read_without_a_decimal_point():
    assert fill(3) == "3"
    assert fill(3.0) == "3"
    assert fill(2.5) == "2.5"
    assert fill(True) == "true"


def test_an_unknown_filter_names_itself_its_line_and_the_known_filters():
    with pytest.raises(RunError) as caught:
        fill("v", "upper")
    error = caught.value
    assert error.message == "unknown filter 'upper' in {{ … | upper }}"
    assert error.line == 7
    assert error.hint == "the filters are: trim, json, raw"
