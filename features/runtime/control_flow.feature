Feature: Control flow: IF, TRY/CATCH, RETRY, CHOOSE, ESTIMATE_COST

  Scenario: IF / ELSE IF / ELSE runs exactly one arm
    Given the plan:
      """
      TASK "t" {
        VAR n = 5
        IF n < 3 {
          VAR size = "small"
        } ELSE IF n < 10 THEN {
          VAR size = "medium"
        } ELSE {
          VAR size = "large"
        }
      }
      """
    When I run the plan
    Then the run succeeds
    And the variable "size" is "medium"

  Scenario: Conditions compare command output as a shell user expects
    Given the plan:
      """
      TASK "t" {
        RUN "echo 42"
        ASSERT LAST_RUN.STDOUT == 42
        ASSERT LAST_RUN.STDOUT > 9
        ASSERT LAST_RUN.STDOUT MATCHES "^4[0-9]$"
        ASSERT LAST_RUN.STDOUT STARTS_WITH "4" AND NOT (LAST_RUN.STDOUT ENDS_WITH "x")
        ASSERT LAST_RUN.STDERR IS_EMPTY
        ASSERT "  " IS_EMPTY
        ASSERT LAST_RUN.STDOUT NOT CONTAINS "7"
      }
      """
    When I run the plan
    Then the run succeeds

  Scenario: TRY runs CATCH with LAST_ERROR and the step goes on
    Given the plan:
      """
      TASK "t" {
        STEP "s" {
          TRY {
            VAR a = 1
            ASSERT a == 2
            VAR never = true
          } CATCH {
            VAR caught = LAST_ERROR.MESSAGE
          }
          LOG "after"
        }
      }
      """
    When I run the plan
    Then the run succeeds
    And the variable "caught" contains "a == 2 failed: a was 1"
    And the variable "never" was never set
    And the log says ["after"]

  Scenario: RETRY runs the body until it succeeds
    Given the plan:
      """
      TASK "t" {
        RETRY 5 {
          RUN "echo x >> tries; test $(wc -l < tries) -ge 3"
          ASSERT LAST_RUN.EXIT_CODE == 0
        }
        READ "tries" AS tries
      }
      """
    When I run the plan
    Then the run succeeds
    And the variable "tries" is "x\nx\nx\n"

  Scenario: RETRY gives up after n attempts with the last failure
    Given the plan:
      """
      TASK "t" {
        STEP "flaky" {
          RETRY 2 {
            RUN "echo x >> tries; exit 1"
            ASSERT LAST_RUN.EXIT_CODE == 0
          }
        }
      }
      """
    When I run the plan
    Then the run fails with "RETRY gave up after 2 attempts"
    And the workspace file "tries" is "x\nx\n"

  Scenario: CHOOSE with ESTIMATE_COST picks the cheapest option and runs it
    Given the plan:
      """
      TASK "t" {
        CHOOSE {
          OPTION "thorough" {
            ESTIMATE_COST {
              RUN "echo slow1"
              RUN "echo slow2"
              RUN "echo slow3"
            }
          }
          OPTION "quick" {
            ESTIMATE_COST {
              RUN "echo quick > chosen.txt"
            }
          }
        }
      }
      """
    When I run the plan
    Then the run succeeds
    And the workspace file "chosen.txt" is "quick\n"
    And the steps are ["quick=succeeded"]
    And the journal records a "choice" event with reason containing "cheapest estimate (1 RUN"
    And the variable "LAST_COST.RUN_COUNT" is 1

  Scenario: CHOOSE that fits no budget says so
    Given the plan:
      """
      SET_BUDGET RUN_COUNT = 1
      TASK "t" {
        CHOOSE {
          OPTION "a" {
            ESTIMATE_COST {
              RUN "echo 1"
              RUN "echo 2"
            }
          }
          OPTION "b" {
            ESTIMATE_COST {
              RUN "echo 1"
              PROMPT_AGENT "x"
              RUN "echo 2"
            }
          }
        }
      }
      """
    When I run the plan
    Then the run fails with "no CHOOSE option fits the remaining budget"

  Scenario: CHOOSE with policy first runs the first option
    Given the choose policy is "first"
    And the plan:
      """
      CHOOSE {
        STEP "A" { VAR picked = "A" }
        STEP "B" { VAR picked = "B" }
      }
      """
    When I run the plan
    Then the run succeeds
    And the variable "picked" is "A"

  Scenario: CHOOSE with policy model asks the model to score the options
    Given a model that answers "unused"
    And the choose policy is "model"
    And the plan:
      """
      CHOOSE {
        STEP "A" { VAR picked = "A" }
        STEP "B" { VAR picked = "B" }
      }
      """
    When I run the plan
    Then the run succeeds
    And the variable "picked" is "B"
    And the journal records a "choice" event with reason containing "the model's choice"

  Scenario: CHOOSE with policy model and no model is a clear error
    Given no language model is installed
    And the choose policy is "model"
    And the plan:
      """
      CHOOSE {
        STEP "A" { VAR picked = "A" }
        STEP "B" { VAR picked = "B" }
      }
      """
    When I run the plan
    Then the run fails with "no language model is configured"

  Scenario: ESTIMATE_COST outside CHOOSE only costs, it runs nothing
    Given the plan:
      """
      ESTIMATE_COST {
        RUN "echo no > ran.txt"
        PROMPT_AGENT "x"
      }
      """
    When I run the plan
    Then the run succeeds
    And the workspace file "ran.txt" does not exist
    And the variable "LAST_COST.RUN_COUNT" is 1
    And the variable "LAST_COST.API_CALLS" is 1
    And the variable "LAST_COST.TOKEN_COUNT" is 256
