Feature: Commands run in order and leave their results in the state

  Scenario: RUN records its exit code, output, duration and timeout flag
    Given the plan:
      """
      TASK "t" {
        STEP "build" {
          RUN "echo out; echo err >&2; exit 3" AS build
        }
      }
      """
    When I run the plan
    Then the run succeeds
    And the variable "build.EXIT_CODE" is 3
    And the variable "build.STDOUT" is "out\n"
    And the variable "build.STDERR" is "err\n"
    And the variable "LAST_RUN.TIMED_OUT" is false
    And the steps are ["build=succeeded"]

  Scenario: A non-zero exit does not fail the step; ASSERT does, with the actual values
    Given the plan:
      """
      TASK "t" {
        STEP "test" {
          RUN "echo boom >&2; exit 1"
          ASSERT LAST_RUN.EXIT_CODE == 0
          LOG "never"
        }
        STEP "after" {
          LOG "never either"
        }
      }
      """
    When I run the plan
    Then the run fails with "LAST_RUN.EXIT_CODE == 0 failed: LAST_RUN.EXIT_CODE was 1; STDERR: boom"
    And the error says "<plan>:4:5: error:"
    And the steps are ["test=failed"]
    And the log says []

  Scenario: A RUN that times out is stopped and recorded; ASSERT decides
    Given the plan:
      """
      TASK "t" {
        STEP "slow" {
          RUN "sleep 5; echo late > late.txt" TIMEOUT 300ms
          VAR timed_out = LAST_RUN.TIMED_OUT
          VAR code = LAST_RUN.EXIT_CODE
          ASSERT NOT LAST_RUN.TIMED_OUT
        }
      }
      """
    When I run the plan
    Then the run fails with "NOT LAST_RUN.TIMED_OUT failed: LAST_RUN.TIMED_OUT was true"
    And the variable "timed_out" is true
    And the variable "code" is 124
    And the workspace file "late.txt" does not exist

  Scenario: LAST_RUN reads as an empty record before the first RUN
    Given the plan:
      """
      LOG "stderr so far: [{{LAST_RUN.STDERR}}]"
      """
    When I run the plan
    Then the run succeeds
    And the log says ["stderr so far: []"]

  Scenario: A heredoc script runs as one shell script
    Given the plan:
      """
      TASK "t" {
        RUN <<SH
          x=4
          echo "$((x * 2))"
          SH
        ASSERT LAST_RUN.STDOUT == 8
      }
      """
    When I run the plan
    Then the run succeeds

  Scenario: A PYTHON heredoc runs with python3
    Given the plan:
      """
      TASK "t" {
        RUN <<PYTHON
      print(sum(range(5)))
      PYTHON
        ASSERT LAST_RUN.STDOUT == 10
      }
      """
    When I run the plan
    Then the run succeeds

  Scenario: WRITE creates parents, APPEND adds, READ reads back
    Given the plan:
      """
      TASK "t" {
        WRITE "a/b/c.txt" <<EOF
      first
      EOF
        APPEND "a/b/c.txt" "second\n"
        READ "a/b/c.txt" AS text
        ASSERT FILE "a/b/c.txt" EXISTS
        ASSERT FILE "nope.txt" NOT EXISTS
      }
      """
    When I run the plan
    Then the run succeeds
    And the workspace file "a/b/c.txt" is "first\nsecond\n"
    And the variable "text" is "first\nsecond\n"

  Scenario: READ of a missing file fails with its name
    Given the plan:
      """
      READ "missing.txt" AS text
      """
    When I run the plan
    Then the run fails with "file 'missing.txt' does not exist"

  Scenario: VAR evaluates expressions and LOG interpolates
    Given the plan:
      """
      TASK "t" {
        VAR n = 3
        VAR items = ["a", "b"]
        VAR big = n > 2 AND items CONTAINS "b"
        LOG "n={{n}} items={{items}} big={{big}}"
      }
      """
    When I run the plan
    Then the run succeeds
    And the variable "big" is true
    And the log says ["n=3 items=[\"a\", \"b\"] big=true"]

  Scenario: Using a variable that was never set names it and its line
    Given the plan:
      """
      TASK "t" {
        IF FILE "flag" EXISTS {
          VAR maybe = 1
        }
        LOG "value: {{maybe}}"
      }
      """
    When I run the plan
    Then the run fails with "<plan>:5:3: error: variable 'maybe' is not set"

  Scenario: PROMPT_AGENT asks the model with the scope's persona
    Given a model that answers "print('hi')"
    And the plan:
      """
      TASK "t" {
        @persona "a careful engineer"
        PROMPT_AGENT "write code" INTO code
      }
      """
    When I run the plan
    Then the run succeeds
    And the variable "code" is "print('hi')"
    And the variable "LAST_PROMPT" is "print('hi')"
    And the model was asked "write code" as "a careful engineer"

  Scenario: PROMPT_AGENT without a configured model is a clear error
    Given no language model is installed
    And the plan:
      """
      PROMPT_AGENT "hello"
      """
    When I run the plan
    Then the run fails with "no language model is configured"

  Scenario: CALL of a tool that does not exist says so
    Given the plan:
      """
      CALL web_search {query: "x"} INTO found
      """
    When I run the plan
    Then the run fails with "unknown tool 'web_search'"

  Scenario: SETUP runs first and its failure is a setup failure
    Given the plan:
      """
      TASK "t" {
        SETUP "prepare" {
          ASSERT FILE "config.yml" EXISTS
        }
        STEP "work" {
          LOG "working"
        }
      }
      """
    When I run the plan
    Then the run fails with "setup failed"
    And the steps are ["SETUP: prepare=failed"]
