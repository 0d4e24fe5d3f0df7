Feature: Every run is journaled in its run folder

  Scenario: Statements run in order and each one is journaled
    Given the plan:
      """
      TASK "order" {
        SETUP {
          LOG "setup"
        }
        STEP "one" {
          LOG "one"
        }
        STEP "two" {
          LOG "two"
        }
      }
      """
    When I run the plan
    Then the run succeeds
    And the log says ["setup", "one", "two"]
    And the steps are ["SETUP=succeeded", "one=succeeded", "two=succeeded"]
    And its run folder holds "plan.tiss", "events.jsonl" and "checkpoint.json"
    And the events are ["run_started", "step_started", "done", "step_done", "done", "step_started", "done", "step_done", "done", "step_started", "done", "step_done", "done", "done", "run_done"]

  Scenario: A paused run resumes with its state restored exactly
    Given the review policy is "pause"
    And the plan:
      """
      SET_BUDGET RUN_COUNT = 3
      TASK "t" {
        RUN "echo first" AS first
        VAR items = ["a", {k: 1}]
        PAUSE "look"
        VAR left = BUDGET.RUN_COUNT
        VAR same = first.STDOUT
      }
      """
    When I run the plan
    Then the run pauses
    When I resume it
    Then the run succeeds
    And the variable "left" is 2
    And the variable "same" is "first\n"
    And the variable "items" is ["a", {"k": 1}]

  Scenario: Resuming inside an IF arm keeps the arm even if its condition changed
    Given the review policy is "pause"
    And the plan:
      """
      TASK "t" {
        IF FILE "flag" NOT EXISTS {
          RUN "touch flag"
          PAUSE "flag is set now"
          VAR arm = "first"
        } ELSE {
          VAR arm = "else"
        }
      }
      """
    When I run the plan
    Then the run pauses
    When I resume it
    Then the run succeeds
    And the variable "arm" is "first"

  Scenario: Resuming inside CATCH does not run the TRY body again
    Given the review policy is "pause"
    And the plan:
      """
      TASK "t" {
        TRY {
          RUN "echo x >> tried"
          ASSERT FILE "missing" EXISTS
        } CATCH {
          PAUSE "the fallback needs a look"
          VAR error = LAST_ERROR.MESSAGE
        }
      }
      """
    When I run the plan
    Then the run pauses
    When I resume it
    Then the run succeeds
    And the workspace file "tried" is "x\n"
    And the variable "error" contains "FILE \"missing\" EXISTS failed"

  Scenario: Resuming inside a RETRY attempt keeps counting attempts
    Given the review policy is "pause"
    And the plan:
      """
      TASK "t" {
        RETRY 3 {
          RUN "echo x >> attempts"
          IF FILE "attempts" == "x\nx\n" {
            PAUSE "second attempt"
          }
          ASSERT FILE "attempts" == "x\nx\nx\n"
        }
      }
      """
    When I run the plan
    Then the run pauses
    When I resume it
    Then the run succeeds
    And the workspace file "attempts" is "x\nx\nx\n"
