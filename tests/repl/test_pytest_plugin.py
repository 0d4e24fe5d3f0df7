"""The ``tisslang`` pytest plugin, as a user meets it: a project with
feature files, run by a separate pytest that finds the plugin through its
``pytest11`` entry point."""

from __future__ import annotations

import subprocess
import sys
import textwrap
import xml.etree.ElementTree as ElementTree

import pytest

PASSING = '''
Feature: every ready step
  Scenario: files, a plan file, review approved after the pause
    Given a workspace with file "plans/build.tiss" containing:
      """
      STEP "make" {
          RUN "exit 3" AS build
          ASSERT build.EXIT_CODE == 0
      }
      """
    When I run the plan:
      """
      VAR target = "app"
      STEP "first" { RUN "echo ok" }
      """
    Then the run succeeds
    When I run the plan "plans/build.tiss"
    Then the run fails
    And the run fails with "build.EXIT_CODE == 0 failed: build.EXIT_CODE was 3"
    And step "make" failed

  Scenario: answers given before the run
    When the reviewer approves
    And I run the plan:
      """
      VAR target = "app"
      STEP "make" {
          RUN "echo building {{target}}; echo warn >&2"
          WRITE "out/app.txt" "built {{target}}"
      }
      REQUEST_REVIEW "ship?"
      STEP "ship" { VAR shipped = true }
      """
    Then the run succeeds
    And step "make" succeeded
    And step "ship" succeeded
    And the output of step "make" contains "building app"
    And the output of step "make" contains "warn"
    And file "out/app.txt" contains "built app"
    And file "out/app.txt" exists
    And file "out/other.txt" does not exist
    And variable "shipped" is "true"
    And variable "LAST_REVIEW.VERDICT" is "approve"

  Scenario: paused, then rejected
    When I run the plan:
      """
      PAUSE "wait"
      VAR after = 1
      """
    Then the run is paused
    When the reviewer rejects
    Then the run is rejected

  Scenario: a plan from the project
    When I run the plan "plans_in_project/hello.tiss"
    Then the run succeeds
    And file "hello.txt" contains "hello\\nworld"
'''

FAILING = '''
Feature: scenarios that fail and say why
  Scenario: wrong file content
    When I run the plan:
      """
      STEP "write" { WRITE "a.txt" "actual text" }
      """
    Then file "a.txt" contains "expected text"

  Scenario: the run failed, the scenario expected success
    When I run the plan:
      """
      STEP "check" { ASSERT 1 == 2 }
      """
    Then the run succeeds

  Scenario: a plan that does not parse
    When I run the plan:
      """
      RUN ls
      """
    Then the run succeeds

  Scenario: a plan file that is not there
    When I run the plan "missing.tiss"
    Then the run succeeds

  Scenario: the run failed for another reason than the one expected
    When I run the plan:
      """
      STEP "check" { ASSERT 1 == 2 }
      """
    Then the run fails with "no such file"

  Scenario: a step that never ran
    When I run the plan:
      """
      STEP "real" { VAR x = 1 }
      """
    Then step "imagined" succeeded
'''

FIXTURES_ONLY = '''
from pathlib import Path


def test_runner_without_gherkin(tiss_runner, tiss_workspace):
    outcome = tiss_runner.run('WRITE "f.txt" "from python"\\n')
    assert outcome.status == "succeeded"
    assert (tiss_workspace / "f.txt").read_text() == "from python"
    assert tiss_runner.workspace == tiss_workspace
    assert tiss_runner.run("VAR one_line = 1").status == "succeeded"
    assert tiss_runner.variable("one_line") == 1
'''


def pytest_project(tmp_path, features: dict[str, str], *extra: str):
    """Write a small project (features, their test modules) and run pytest
    on it in a separate process; returns (exit code, output, {test: failure})."""
    project = tmp_path / "project"
    (project / "plans_in_project").mkdir(parents=True)
    (project / "plans_in_project" / "hello.tiss").write_text('WRITE "hello.txt" <<EOF\nhello\nworld\nEOF\n')
    (project / "pytest.ini").write_text("[pytest]\ntiss_sandbox = host\n")
    for name, text in features.items():
        (project / f"{name}.feature").write_text(textwrap.dedent(text))
        (project / f"test_{name}.py").write_text(f"from pytest_bdd import scenarios\nscenarios('{name}.feature')\n")
    (project / "test_fixtures.py").write_text(FIXTURES_ONLY)
    report = tmp_path / "report.xml"
    done = subprocess.run([sys.executable, "-m", "pytest", "-p", "no:cacheprovider", "-q",
                           f"--junitxml={report}", *extra], cwd=project, capture_output=True, text=True,
                          timeout=240)
    failures = {}
    cases = ElementTree.parse(report).iter("testcase") if report.exists() else ()
    for case in cases:
        failed = case.find("failure")
        failures[case.get("name")] = None if failed is None else failed.get("message", "") + failed.text
    return done.returncode, done.stdout + done.stderr, failures


def test_every_ready_step_passes_on_a_plan_that_does_what_it_says(tmp_path):
    code, output, results = pytest_project(tmp_path, {"passing": PASSING})
    assert code == 0, output
    assert len(results) == 5 and not any(results.values()), output


def test_failing_scenarios_explain_themselves(tmp_path):
    code, output, results = pytest_project(tmp_path, {"failing": FAILING})
    assert code == 1
    failures = {name.removeprefix("test_"): text for name, text in results.items() if text}
    assert len(failures) == 6, output
    assert "does not contain 'expected text'; it holds:\nactual text" in failures["wrong_file_content"]
    expected_success = failures["the_run_failed_the_scenario_expected_success"]
    assert "expected: the run succeeds; but it failed: " in expected_success and "1 == 2 failed" in expected_success
    assert "expected: the run fails with 'no such file'; but it failed: " in \
        failures["the_run_failed_for_another_reason_than_the_one_expected"]
    assert 'the plan does not parse:\n<plan>:1:5: error: expected a quoted string' in \
        failures["a_plan_that_does_not_parse"]
    assert "no plan file 'missing.tiss'; looked in:" in failures["a_plan_file_that_is_not_there"]
    assert "no step 'imagined' ran (steps that ran: 'real')" in failures["a_step_that_never_ran"]
    # The report shows the run's journal under its own heading.
    assert "TissLang run" in output and "step_done" in output and "journal:" in output
    assert "RunError" not in output and "TissSyntaxError" not in output


@pytest.mark.parametrize("flag, message", [
    ("--tiss-sandbox=nowhere", "invalid choice: 'nowhere'"),
    ("-o tiss_review=maybe", "tiss_review = 'maybe': use one of approve, reject, pause"),
])
def test_bad_settings_are_one_clear_error(tmp_path, flag, message):
    code, output, _ = pytest_project(tmp_path, {}, *flag.split())
    assert code != 0 and message in output


def test_the_plugin_keeps_its_name_and_lives_with_the_runtime_it_drives():
    from importlib.metadata import entry_points

    import runtime.pytest_plugin
    (plugin,) = [e for e in entry_points(group="pytest11") if e.name == "tisslang"]
    assert plugin.load() is runtime.pytest_plugin


def test_every_sandbox_choice_comes_from_one_list():
    from runtime import config, demo, pytest_plugin, run_cli
    from runtime.sandbox import BACKENDS
    assert BACKENDS == ("auto", "docker", "bwrap", "host")
    assert pytest_plugin.SANDBOXES is BACKENDS and run_cli.SANDBOXES is BACKENDS
    assert config.BACKENDS is BACKENDS and demo.BACKENDS is BACKENDS
