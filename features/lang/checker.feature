Feature: The checker finds what the grammar cannot see
  `tiss check` parses a plan and then checks it: variables used before they
  are set (flow-sensitive through IF, TRY, RETRY, PARALLEL and CHOOSE),
  budgets, durations, directives, regexes and the shape of control flow.
  Errors make the check fail; warnings are printed but do not.

  Scenario: A plan where everything is set before use is clean
    Given the plan:
      """
      TASK "build" {
          STEP "compile" {
              RUN "make" TIMEOUT 5m AS build
              READ "VERSION" AS version
              ASSERT build.EXIT_CODE == 0
              LOG "built {{version | trim}} in {{build.DURATION}}s"
          }
      }
      """
    When I check it
    Then the checker reports nothing

  Scenario: A variable that is never set is an error with its position
    Given the plan:
      """
      RUN "ls" AS listing
      LOG "{{listng.STDOUT}}"
      """
    When I check it
    Then the checker reports:
      """
      2:6: error: variable 'listng' is never set
      """
    And the hint at line 2 says "did you mean listing?"

  Scenario: A variable set on only some paths is a warning
    Given the plan:
      """
      RUN "test -f config.json" AS probe
      IF probe.EXIT_CODE == 0 {
          READ "config.json" AS config
      }
      LOG "{{config}}"
      """
    When I check it
    Then the checker reports:
      """
      5:6: warning: variable 'config' may not be set on every path to here
      """
    And the hint at line 5 says "not every branch of the IF on line 2 sets it; set config before it, or on every path"

  Scenario: Setting a variable in every branch of IF, TRY and CHOOSE makes it definite
    Given the plan:
      """
      IF true {
          VAR a = 1
      } ELSE {
          VAR a = 2
      }
      TRY {
          READ "b.txt" AS b
      } CATCH {
          LOG "{{LAST_ERROR}}"
          VAR b = ""
      }
      CHOOSE {
          OPTION "one" {
              VAR c = 1
          }
          OPTION "two" {
              VAR c = 2
          }
      }
      RETRY 2 {
          RUN "flaky" AS d
      }
      LOG "{{a}} {{b}} {{c}} {{d}}"
      """
    When I check it
    Then the checker reports nothing

  Scenario: LAST_ERROR is set only by a failure: in CATCH, or between RETRY attempts
    Given the plan:
      """
      RUN "false"
      LOG "{{LAST_ERROR}}"
      TRY {
          RUN "false"
      } CATCH {
          LOG "{{LAST_ERROR.MESSAGE}}"
      }
      RETRY 3 {
          LOG "{{LAST_ERROR.MESSAGE}}"
      }
      """
    When I check it
    Then the checker reports:
      """
      2:6: error: LAST_ERROR is only set inside CATCH (and between RETRY attempts)
      9:10: warning: LAST_ERROR may not be set here: only a failure sets it (in CATCH, or before a RETRY attempt after the first)
      """

  Scenario: Two PARALLEL branches writing the same variable
    Given the plan:
      """
      PARALLEL {
          RUN "a" AS out
          RUN "b" AS out
      }
      """
    When I check it
    Then the checker reports:
      """
      3:5: error: two PARALLEL branches set the variable 'out'
      """

  Scenario: Reading what another PARALLEL branch sets is a race
    Given the plan:
      """
      PARALLEL {
          RUN "make" AS build
          LOG "{{build.EXIT_CODE}}"
      }
      LOG "{{build.EXIT_CODE}}"
      """
    When I check it
    Then the checker reports:
      """
      3:10: warning: variable 'build' is set by another PARALLEL branch, which may not have run yet
      """

  Scenario Outline: Static rules on single statements
    Given the plan:
      """
      <statement>
      """
    When I check it
    Then the checker reports:
      """
      <finding>
      """

    Examples:
      | statement                          | finding                                                          |
      | SET_BUDGET RUN_CONT = 3            | 1:1: error: unknown SET_BUDGET key 'RUN_CONT'                    |
      | SET_BUDGET EXECUTION_TIME = "soon" | 1:29: error: invalid duration "soon" for SET_BUDGET EXECUTION_TIME |
      | SET_BUDGET API_CALLS = 0           | 1:24: error: SET_BUDGET API_CALLS needs a positive whole number  |
      | RUN "sleep 9" TIMEOUT "long"       | 1:23: error: invalid duration "long" for RUN TIMEOUT             |
      | @timeout "ten minutes"             | 1:10: error: invalid duration "ten minutes" for @timeout         |
      | @persnoa "a tester"                | 1:1: warning: unknown directive '@persnoa' (it has no effect)    |
      | ASSERT "x" MATCHES "[a-"           | 1:20: error: MATCHES pattern does not compile: unterminated character set at position 0 |
      | RETRY 0 { RUN "x" }                | 1:1: error: RETRY needs at least 1 attempt, got 0                |
      | CHOOSE { STEP "only" { RUN "x" } } | 1:1: error: CHOOSE needs at least two options, found 1           |
      | RUN "x" AS LAST_RUN                | 1:1: error: 'LAST_RUN' is built in and cannot be set              |
      | ASSERT LAST_RUN.EXIT == 0          | 1:8: error: LAST_RUN has no field 'EXIT'                         |
      | WRITE "/etc/motd" "hi"             | 1:7: error: path "/etc/motd" is absolute; files must be inside the workspace |
      | READ "../notes.txt" AS notes       | 1:6: error: path "../notes.txt" leaves the workspace through '..' |

  Scenario: The budget key gets a did-you-mean hint
    Given the plan:
      """
      SET_BUDGET EXECUTION_TIM = 5m
      """
    When I check it
    Then the hint at line 1 says "did you mean EXECUTION_TIME?"

  Scenario: tiss check prints each problem with the line and a caret, and fails on errors
    Given the plan:
      """
      @persnoa "x"
      LOG "{{nothing}}"
      """
    When I run "tiss check" on it
    Then the exit code is 2
    And the output is:
      """
      plan.tiss:1:1: warning: unknown directive '@persnoa' (it has no effect)
          @persnoa "x"
          ^
      hint: did you mean @persona?
      plan.tiss:2:6: error: variable 'nothing' is never set
          LOG "{{nothing}}"
               ^
      hint: set it first: VAR nothing = …, RUN … AS nothing, READ … AS nothing or … INTO nothing
      """

  Scenario: Warnings alone do not fail tiss check
    Given the plan:
      """
      @persnoa "x"
      """
    When I run "tiss check" on it
    Then the exit code is 0
