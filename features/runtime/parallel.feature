Feature: PARALLEL runs its children at the same time and waits for all

  Scenario: Two sleeping branches overlap in time
    Given the plan:
      """
      TASK "t" {
        PARALLEL {
          STEP "left" {
            RUN "sleep 1" AS left
          }
          STEP "right" {
            RUN "sleep 1" AS right
          }
        }
        ASSERT left.STARTED_AT < right.ENDED_AT AND right.STARTED_AT < left.ENDED_AT
      }
      """
    When I run the plan
    Then the run succeeds
    And the steps are ["left=succeeded", "right=succeeded"]

  Scenario: Each branch sees its own LAST_RUN
    Given the plan:
      """
      TASK "t" {
        PARALLEL {
          STEP "a" {
            RUN "sleep 0.2; echo a"
            ASSERT LAST_RUN.STDOUT == "a\n"
          }
          STEP "b" {
            RUN "echo b"
            ASSERT LAST_RUN.STDOUT == "b\n"
          }
        }
        ASSERT LAST_RUN.STDOUT == "b\n"
      }
      """
    When I run the plan
    Then the run succeeds

  Scenario: Every failing branch is reported, and the others still finish
    Given the plan:
      """
      TASK "t" {
        PARALLEL {
          STEP "one" {
            RUN "exit 1"
            ASSERT LAST_RUN.EXIT_CODE == 0
          }
          STEP "two" {
            RUN "sleep 0.3; echo done > two.txt"
          }
          STEP "three" {
            ASSERT FILE "missing.txt" EXISTS
          }
        }
      }
      """
    When I run the plan
    Then the run fails with "2 of the PARALLEL children failed"
    And the error says "LAST_RUN.EXIT_CODE == 0 failed"
    And the error says "FILE \"missing.txt\" EXISTS failed"
    And the workspace file "two.txt" is "done\n"
