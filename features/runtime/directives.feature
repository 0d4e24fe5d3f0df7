Feature: Directives apply to their block and everything nested in it

  Scenario: @env reaches commands, inner blocks add to it and win
    Given the plan:
      """
      @env {GREETING: "hello", WHO: "world"}
      TASK "t" {
        RUN "echo $GREETING $WHO"
        VAR outer = LAST_RUN.STDOUT
        STEP "inner" {
          @env {WHO: "inner"}
          RUN "echo $GREETING $WHO"
          VAR inner = LAST_RUN.STDOUT
        }
        RUN "echo $WHO"
        VAR after = LAST_RUN.STDOUT
      }
      """
    When I run the plan
    Then the run succeeds
    And the variable "outer" is "hello world\n"
    And the variable "inner" is "hello inner\n"
    And the variable "after" is "world\n"

  Scenario: @timeout is the default RUN timeout in its block
    Given the plan:
      """
      TASK "t" {
        STEP "quick" {
          @timeout "300ms"
          RUN "sleep 5"
          VAR stopped = LAST_RUN.TIMED_OUT
        }
      }
      """
    When I run the plan
    Then the run succeeds
    And the variable "stopped" is true

  Scenario: @max_output caps what a command's output keeps
    Given the plan:
      """
      TASK "t" {
        @max_output "1KB"
        RUN "head -c 100000 /dev/zero | tr '\\0' a"
        ASSERT LAST_RUN.STDOUT CONTAINS "output cap of 1024 bytes"
      }
      """
    When I run the plan
    Then the run succeeds

  Scenario: @output "json" parses the model's answer
    Given a model that answers "{\"files\": [\"a.py\"]}"
    And the plan:
      """
      @output "json"
      PROMPT_AGENT "which files?" INTO answer
      VAR first = answer.files
      """
    When I run the plan
    Then the run succeeds
    And the variable "first" is ["a.py"]

  Scenario: @output "json" with an answer that is not JSON fails at the prompt
    Given a model that answers "Sure! The files are a.py and b.py."
    And the plan:
      """
      @output "json"
      PROMPT_AGENT "which files?" INTO answer
      VAR after = 1
      """
    When I run the plan
    Then the run fails with "the model's answer is not valid JSON, but @output is \"json\""
    And the error says "answer began: 'Sure! The files are a.py and b.py.'"
    And the variable "answer" was never set
    And the variable "after" was never set
