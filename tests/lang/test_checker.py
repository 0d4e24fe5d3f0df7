"""The static checker (tisslang/checker.py), one rule at a time, on parsed plans."""

from __future__ import annotations

import textwrap

import pytest

from tisslang import ast as A
from tisslang import parse
from tisslang.checker import check


def findings(source: str, **options) -> list[tuple[str, int, int, str]]:
    """(severity, line, col, message) of every diagnostic for ``source``."""
    program = parse(textwrap.dedent(source).lstrip("\n"), "plan.tiss")
    return [(d.severity, d.line, d.col, d.message) for d in check(program, **options)]


def messages(source: str, **options) -> list[str]:
    return [f"{severity}: {message}" for severity, _, _, message in findings(source, **options)]


# --- variables: set on no path / some paths / every path ---------------------------


def test_clean_plan_has_no_findings():
    assert findings("""
        TASK "t" {
            STEP "a" {
                RUN "ls" AS listing
                READ "x.txt" AS text
                VAR n = 3
                PROMPT_AGENT "hi" INTO answer
                CALL search {q: "{{text}}"} INTO hits
                ASSERT listing.EXIT_CODE == n AND answer IS_NOT_EMPTY
                LOG "{{hits | json}} {{LAST_RUN.STDOUT}} {{LAST_PROMPT}} {{BUDGET.RUN_COUNT}}"
            }
        }
    """) == []


def test_variable_never_set_is_an_error_at_its_position():
    assert findings("""
        RUN "echo hi"
        LOG "value: {{missing}}"
    """) == [("error", 2, 13, "variable 'missing' is never set")]


def test_use_before_set_says_so():
    assert messages("""
        ASSERT later == 1
        VAR later = 1
    """) == ["error: variable 'later' is used before it is set"]


def test_misspelled_variable_gets_a_did_you_mean_hint():
    program = parse('VAR result = 1\nASSERT reslt == 1\n')
    (diagnostic,) = check(program)
    assert diagnostic.hint == "did you mean result?"


def test_set_in_one_branch_only_is_a_warning():
    assert findings("""
        IF true {
            VAR x = 1
        }
        LOG "{{x}}"
    """) == [("warning", 4, 6, "variable 'x' may not be set on every path to here")]


def test_set_in_every_branch_is_fine():
    assert findings("""
        IF true {
            VAR x = 1
        } ELSE IF false {
            RUN "ls" AS x
        } ELSE {
            READ "f" AS x
        }
        LOG "{{x}}"
    """) == []


def test_missing_else_leaves_a_warning_even_with_every_if_branch_setting_it():
    assert messages("""
        IF true {
            VAR x = 1
        } ELSE IF false {
            VAR x = 2
        }
        LOG "{{x}}"
    """) == ["warning: variable 'x' may not be set on every path to here"]


def test_set_before_the_branches_stays_set():
    assert findings("""
        VAR x = 0
        IF x == 0 {
            VAR y = 1
        }
        LOG "{{x}}"
    """) == []


def test_try_sets_are_only_maybe_in_catch_but_definite_after_if_catch_sets_too():
    assert messages("""
        TRY {
            READ "settings.json" AS settings
        } CATCH {
            LOG "{{settings}}"
            VAR settings = "{}"
        }
        LOG "{{settings}}"
    """) == ["warning: variable 'settings' may not be set on every path to here"]


def test_try_without_catch_setting_leaves_a_warning():
    assert messages("""
        TRY {
            READ "a" AS text
        } CATCH {
            LOG "failed"
        }
        LOG "{{text}}"
    """) == ["warning: variable 'text' may not be set on every path to here"]


def test_retry_body_completes_once_so_its_sets_are_definite_after():
    assert findings("""
        RETRY 3 {
            RUN "make" AS build
            ASSERT build.EXIT_CODE == 0
        }
        LOG "{{build.STDOUT}}"
    """) == []


def test_retry_body_reading_what_a_previous_attempt_set_is_a_warning():
    assert messages("""
        RETRY 3 {
            LOG "previous: {{attempt}}"
            VAR attempt = 1
        }
    """) == ["warning: variable 'attempt' may not be set on every path to here"]


def test_choose_options_merge_like_branches():
    assert messages("""
        CHOOSE {
            STEP "a" {
                VAR both = 1
                VAR only_a = 1
            }
            OPTION "b" {
                VAR both = 2
            }
        }
        LOG "{{both}} {{only_a}}"
    """) == ["warning: variable 'only_a' may not be set on every path to here"]


def test_estimate_cost_sets_nothing():
    assert messages("""
        ESTIMATE_COST {
            RUN "ls" AS costed
        }
        LOG "{{costed}}"
    """) == ["error: variable 'costed' is never set"]


def test_parallel_children_all_run_so_their_sets_are_definite_after():
    assert findings("""
        PARALLEL {
            RUN "a" AS first
            STEP "b" {
                RUN "b" AS second
            }
        }
        LOG "{{first}} {{second}}"
    """) == []


def test_reading_a_sibling_parallel_branch_variable_is_a_warning():
    assert messages("""
        PARALLEL {
            RUN "a" AS first
            LOG "{{first}}"
        }
    """) == ["warning: variable 'first' is set by another PARALLEL branch, "
             "which may not have run yet"]


def test_two_parallel_branches_writing_one_variable():
    assert findings("""
        PARALLEL {
            RUN "a" AS out
            STEP "b" {
                IF true {
                    VAR out = 2
                }
            }
        }
    """) == [("error", 5, 13, "two PARALLEL branches set the variable 'out'")]


def test_one_parallel_branch_writing_a_variable_twice_is_fine():
    assert findings("""
        PARALLEL {
            STEP "a" {
                VAR n = 1
                VAR n = 2
            }
            VAR m = 1
        }
    """) == []


# --- built-ins --------------------------------------------------------------------------


def test_last_error_is_certain_in_catch_uncertain_after_it_and_in_retry_and_unset_before():
    assert findings("""
        LOG "{{LAST_ERROR}}"
        TRY {
            RUN "x"
        } CATCH {
            LOG "{{LAST_ERROR.MESSAGE}}"
            IF true {
                LOG "{{LAST_ERROR}}"
            }
        }
        LOG "{{LAST_ERROR}}"
    """) == [
        ("error", 1, 6, "LAST_ERROR is only set inside CATCH (and between RETRY attempts)"),
        ("warning", 10, 6, "LAST_ERROR may not be set here: only a failure sets it "
                           "(in CATCH, or before a RETRY attempt after the first)"),
    ]
    assert messages("""
        RETRY 3 {
            PROMPT_AGENT "fix this: {{LAST_ERROR.MESSAGE}}" INTO fix
        }
    """) == ["warning: LAST_ERROR may not be set here: only a failure sets it "
             "(in CATCH, or before a RETRY attempt after the first)"]


def test_last_call_is_set_by_call():
    assert messages("""
        LOG "{{LAST_CALL}}"
        CALL search {q: "x"}
        LOG "{{LAST_CALL}}"
    """) == ["error: variable 'LAST_CALL' is used before it is set"]


def test_builtins_cannot_be_assigned():
    assert messages('RUN "ls" AS LAST_RUN\n') == [
        "error: 'LAST_RUN' is built in and cannot be set"]


def test_unknown_last_run_field_with_suggestion():
    program = parse('RUN "ls"\nASSERT LAST_RUN.EXIT_COD == 0\n')
    (diagnostic,) = check(program)
    assert diagnostic.message == "LAST_RUN has no field 'EXIT_COD'"
    assert diagnostic.hint == "did you mean LAST_RUN.EXIT_CODE?"


def test_unknown_budget_field():
    assert messages('LOG "{{BUDGET.RUNS}}"\n') == ["error: BUDGET has no field 'RUNS'"]


def test_fields_of_last_error_and_last_review():
    assert messages("""
        TRY {
            RUN "x"
        } CATCH {
            LOG "{{LAST_ERROR.MESSAGE}} {{LAST_ERROR.KIND}} {{LAST_ERROR.MESAGE}}"
        }
        REQUEST_REVIEW "ok?"
        LOG "{{LAST_REVIEW.COMMENT}} {{LAST_REVIEW.VERDICT}} {{LAST_REVIEW.TEXT}}"
    """) == ["error: LAST_ERROR has no field 'MESAGE'", "error: LAST_REVIEW has no field 'TEXT'"]


# --- SET_BUDGET, durations, directives ---------------------------------------------------


def test_unknown_budget_key_with_did_you_mean():
    program = parse('SET_BUDGET EXECUTION_TIM = 5m\n', "plan.tiss")
    (diagnostic,) = check(program)
    assert (diagnostic.line, diagnostic.col, diagnostic.message) == (
        1, 1, "unknown SET_BUDGET key 'EXECUTION_TIM'")
    assert diagnostic.hint == "did you mean EXECUTION_TIME?"
    assert diagnostic.path == "plan.tiss"


@pytest.mark.parametrize("value, message", [
    ('"soon"', 'error: invalid duration "soon" for SET_BUDGET EXECUTION_TIME'),
    ("30", "error: invalid duration 30 for SET_BUDGET EXECUTION_TIME: it has no unit"),
    ("0s", "error: SET_BUDGET EXECUTION_TIME must be longer than zero, got 0s"),
    ("true", "error: SET_BUDGET EXECUTION_TIME needs a duration"),
])
def test_invalid_execution_time(value, message):
    assert messages(f"SET_BUDGET EXECUTION_TIME = {value}\n") == [message]


@pytest.mark.parametrize("value", ['"5m"', "5m", "1.5h", '"250ms"'])
def test_valid_execution_time(value):
    assert messages(f"SET_BUDGET EXECUTION_TIME = {value}\n") == []


@pytest.mark.parametrize("value", ["0", "-3", "2.5", '"ten"'])
def test_count_budgets_need_positive_whole_numbers(value):
    assert messages(f"SET_BUDGET RUN_COUNT = {value}\n") == [
        "error: SET_BUDGET RUN_COUNT needs a positive whole number"]


def test_invalid_run_timeout():
    assert findings('RUN "sleep 1" TIMEOUT "forever"\n') == [
        ("error", 1, 23, 'invalid duration "forever" for RUN TIMEOUT')]
    assert messages('RUN "sleep 1" TIMEOUT 0ms\n') == [
        "error: RUN TIMEOUT must be longer than zero, got 0ms"]


def test_invalid_timeout_directive():
    assert messages('@timeout "3 minutes"\n') == [
        'error: invalid duration "3 minutes" for @timeout']
    assert messages('@timeout "3m"\n') == []


def test_unknown_directive_is_a_warning_with_suggestion():
    program = parse('@persona "x"\n@persnoa "y"\n')
    (diagnostic,) = check(program)
    assert diagnostic.severity == "warning"
    assert diagnostic.message == "unknown directive '@persnoa' (it has no effect)"
    assert diagnostic.hint == "did you mean @persona?"


@pytest.mark.parametrize("line, message", [
    ('@output "yaml"', 'error: @output must be "json" or "text", not "yaml"'),
    ('@network "maybe"', 'error: @network must be "on" or "off", not "maybe"'),
    ('@max_output "lots"', 'error: invalid size "lots" for @max_output'),
    ('@max_output "1.5MB"', 'error: invalid size "1.5MB" for @max_output'),
    ("@max_output 0", 'error: @max_output needs a size such as "64KB" or a number of bytes'),
    ('@env "A=1"', "error: @env needs an object of variables"),
    ("@persona 3", "error: @persona needs a quoted string"),
])
def test_directive_values(line, message):
    assert messages(line + "\n") == [message]


@pytest.mark.parametrize("line", ['@max_output "64KB"', '@max_output "2 mb"', "@max_output 4096",
                                  '@output "json"', '@network "off"', '@env {A: "1"}',
                                  '@image "python:3.12-slim"', '@language "python"'])
def test_valid_directive_values(line):
    assert messages(line + "\n") == []


@pytest.mark.parametrize("statement, message", [
    ('WRITE "/etc/motd" "x"', 'error: path "/etc/motd" is absolute; files must be inside the workspace'),
    ('READ "../secret" AS s', 'error: path "../secret" leaves the workspace through \'..\''),
    ('APPEND "logs/../../x" "y"', 'error: path "logs/../../x" leaves the workspace through \'..\''),
    ('ASSERT FILE "~/x" EXISTS', 'error: path "~/x" is absolute; files must be inside the workspace'),
    ('WRITE "" "x"', "error: empty file path"),
    ('READ "a/.." AS a', 'error: path "a/.." is the workspace itself, not a file'),
    ('WRITE ".tiss/runs/x" "y"', 'error: path ".tiss/runs/x" is inside .tiss/, the run folder, '
                                 "which plans cannot use"),
])
def test_paths_must_stay_in_the_workspace(statement, message):
    assert messages(statement + "\n") == [message]


def test_paths_inside_the_workspace_are_fine():
    assert messages('WRITE "a/../b.txt" "x"\nVAR d = "out"\nWRITE "{{d}}/../../x" "y"\n'
                    'ASSERT FILE "./b.txt" EXISTS\n') == []


# --- expressions and control-flow shapes ----------------------------------------------------


def test_matches_regex_must_compile():
    ((severity, line, col, message),) = findings("""
        VAR text = "abc"
        ASSERT text MATCHES "([a-z]+"
    """)
    assert (severity, line, col) == ("error", 2, 21)
    assert message.startswith("MATCHES pattern does not compile: missing )")


def test_interpolated_regex_is_left_to_run_time():
    assert messages('VAR p = "("\nVAR t = "x"\nASSERT t MATCHES "{{p}}"\n') == []


def test_choose_needs_two_options():
    assert findings("""
        CHOOSE {
            STEP "only" {
                RUN "ls"
            }
        }
    """) == [("error", 1, 1, "CHOOSE needs at least two options, found 1")]


def test_retry_below_one():
    assert messages("RETRY 0 {\n}\n") == ["error: RETRY needs at least 1 attempt, got 0"]
    assert messages("RETRY 1 {\n}\n") == []


def test_unknown_tool_when_the_registry_is_known():
    source = 'CALL serch {q: "x"}\nCALL search {q: "y"}\n'
    assert messages(source) == []  # no registry given: no opinion
    program = parse(source)
    (diagnostic,) = check(program, tools={"search", "read_file"})
    assert diagnostic.message == "unknown tool 'serch'"
    assert diagnostic.hint == "did you mean search?"


def test_an_unknown_tool_hint_names_the_registered_tools_not_a_command():
    program = parse('CALL launch_rocket {}\n')
    (diagnostic,) = check(program, tools={"search", "read_file"})
    assert diagnostic.hint == "registered tools: read_file, search"
    (diagnostic,) = check(program, tools=set())
    assert diagnostic.hint == "no tools are registered"
    many = {f"tool_{n:02}" for n in range(12)}
    (diagnostic,) = check(program, tools=many)
    assert diagnostic.hint.endswith("tool_09 and 2 more")


def test_findings_are_sorted_and_carry_the_source_line_when_given():
    source = 'LOG "{{b}}"\nLOG "{{a}}"\n'
    found = check(parse(source, "p.tiss"), source=source)
    assert [(d.line, d.source_line) for d in found] == [(1, 'LOG "{{b}}"'), (2, 'LOG "{{a}}"')]
    assert found[0].format().splitlines()[0] == "p.tiss:1:6: error: variable 'b' is never set"


def test_hand_built_tree_without_positions():
    program = A.Program(header=(), body=(
        A.Log(A.Template((A.Interpolation(A.Ref("ghost")),))),))
    (diagnostic,) = check(program)
    assert (diagnostic.line, diagnostic.col, diagnostic.message) == (
        0, 0, "variable 'ghost' is never set")


def test_deeply_nested_plans_do_not_hit_the_recursion_limit():
    depth = 100  # the deepest the parser accepts
    source = "".join("IF true {\n" for _ in range(depth)) + 'VAR x = 1\n' + "}\n" * depth
    assert messages(source + 'LOG "{{x}}"\n') == [
        "warning: variable 'x' may not be set on every path to here"]


def test_parallel_branches_share_built_ins_without_conflict():
    assert findings("""
        PARALLEL {
            CALL search {q: "a"} INTO first
            CALL search {q: "b"} INTO second
            RUN "x"
            RUN "y"
        }
        LOG "{{LAST_CALL}} {{first}} {{second}}"
    """) == []


def test_suggestions_have_a_shared_budget_so_huge_plans_stay_linear():
    known = "".join(f"VAR value_{i} = {i}\n" for i in range(1000))
    unknown = "".join(f'LOG "{{{{valeu_{i}}}}}"\n' for i in range(100))
    found = check(parse(known + unknown))
    hints = [d.hint for d in found]
    assert hints[0] == "did you mean value_0?"
    suggested = [h for h in hints if h.startswith("did you mean")]
    assert 0 < len(suggested) < len(hints)
    assert hints[-1].startswith("set it first: VAR valeu_99 = …")


def test_maybe_warnings_say_which_construct_made_the_variable_uncertain():
    program = parse(textwrap.dedent("""
        IF true {
            VAR a = 1
        }
        TRY {
            VAR b = 1
        } CATCH {
            LOG "{{b}}"
        }
        RETRY 2 {
            LOG "{{c}}"
            VAR c = 1
        }
        CHOOSE {
            STEP "x" {
                IF false {
                    VAR d = 1
                }
            }
            STEP "y" {
                VAR e = 1
            }
        }
        LOG "{{a}} {{d}} {{e}}"
    """).lstrip("\n"))
    hints = [(d.line, d.hint.split(";")[0]) for d in check(program)]
    assert hints == [
        (7, "the TRY on line 4 may fail before setting it"),
        (10, "only an earlier attempt of the RETRY on line 9 sets it"),
        (23, "not every branch of the IF on line 1 sets it"),
        (23, "not every branch of the IF on line 15 sets it"),
        (23, "not every option of the CHOOSE on line 13 sets it"),
    ]
