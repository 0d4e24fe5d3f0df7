Feature: SET_BUDGET limits a task and BUDGET.KEY shows what is left

  Scenario: RUN_COUNT stops the task at the first RUN over the limit
    Given the plan:
      """
      SET_BUDGET RUN_COUNT = 2
      TASK "t" {
        RUN "echo 1 >> ran"
        VAR left = BUDGET.RUN_COUNT
        RUN "echo 2 >> ran"
        RUN "echo 3 >> ran"
      }
      """
    When I run the plan
    Then the run fails with "budget exceeded: RUN_COUNT"
    And the variable "left" is 1
    And the workspace file "ran" is "1\n2\n"

  Scenario: A budget error is not caught by TRY
    Given the plan:
      """
      SET_BUDGET RUN_COUNT = 1
      TASK "t" {
        TRY {
          RUN "echo hi"
          RUN "echo again"
        } CATCH {
          VAR caught = true
        }
      }
      """
    When I run the plan
    Then the run fails with "budget exceeded: RUN_COUNT would reach 2, the limit is 1"
    And the variable "caught" was never set

  Scenario: EXECUTION_TIME cuts a long command short
    Given the plan:
      """
      SET_BUDGET EXECUTION_TIME = "1s"
      TASK "t" {
        RUN "sleep 10"
      }
      """
    When I run the plan
    Then the run fails with "budget exceeded: EXECUTION_TIME"

  Scenario: API_CALLS and TOKEN_COUNT count model calls
    Given a model that answers "one two three"
    And the plan:
      """
      SET_BUDGET API_CALLS = 5
      SET_BUDGET TOKEN_COUNT = 4
      TASK "t" {
        PROMPT_AGENT "first"
        VAR calls_left = BUDGET.API_CALLS
        VAR tokens_left = BUDGET.TOKEN_COUNT
        PROMPT_AGENT "second"
      }
      """
    When I run the plan
    Then the run fails with "budget exceeded: TOKEN_COUNT"
    And the variable "calls_left" is 4
    And the variable "tokens_left" is 1

  Scenario: Reading a budget that was never set is an error
    Given the plan:
      """
      VAR left = BUDGET.RUN_COUNT
      """
    When I run the plan
    Then the run fails with "BUDGET.RUN_COUNT is not set"

  Scenario: EXECUTION_TIME spent before a pause is still spent after resume
    Given the review policy is "pause"
    And the plan:
      """
      SET_BUDGET EXECUTION_TIME = "1h"
      TASK "t" {
        RUN "sleep 0.5"
        PAUSE "look at it"
        ASSERT BUDGET.EXECUTION_TIME <= 3599.5
      }
      """
    When I run the plan
    Then the run pauses
    When I resume it
    Then the run succeeds
