Feature: REQUEST_REVIEW and PAUSE wait for a person; resume continues

  Scenario: An approved review continues with the comment in LAST_REVIEW
    Given the reviewer answers "approve" with comment "looks fine"
    And the plan:
      """
      TASK "t" {
        STEP "deploy" {
          REQUEST_REVIEW "deploy to staging?"
          RUN "echo deployed > deployed.txt"
        }
      }
      """
    When I run the plan
    Then the run succeeds
    And the reviewer was asked "deploy to staging?"
    And the variable "LAST_REVIEW.COMMENT" is "looks fine"
    And the workspace file "deployed.txt" is "deployed\n"

  Scenario: A rejected review stops the task as rejected
    Given the reviewer answers "reject" with comment "not today"
    And the plan:
      """
      TASK "t" {
        REQUEST_REVIEW "deploy?"
        RUN "echo deployed > deployed.txt"
      }
      """
    When I run the plan
    Then the run is rejected
    And the error says "not today"
    And the workspace file "deployed.txt" does not exist

  Scenario: With the pause policy the run pauses and resume --approve continues
    Given the review policy is "pause"
    And the plan:
      """
      TASK "t" {
        RUN "echo before >> log.txt"
        REQUEST_REVIEW "go on?"
        RUN "echo after >> log.txt"
      }
      """
    When I run the plan
    Then the run pauses
    And the workspace file "log.txt" is "before\n"
    When I resume it with verdict "approve"
    Then the run succeeds
    And the workspace file "log.txt" is "before\nafter\n"
    And the variable "LAST_REVIEW.VERDICT" is "approve"

  Scenario: resume --reject ends a paused run as rejected
    Given the review policy is "pause"
    And the plan:
      """
      TASK "t" {
        REQUEST_REVIEW "go on?"
        RUN "echo after >> log.txt"
      }
      """
    When I run the plan
    Then the run pauses
    When I resume it with verdict "reject"
    Then the run is rejected
    And the workspace file "log.txt" does not exist

  Scenario: PAUSE stops until resumed, then goes on without a verdict
    Given the review policy is "pause"
    And the plan:
      """
      TASK "t" {
        VAR before = 1
        PAUSE "check the staging site by hand"
        VAR after = before
      }
      """
    When I run the plan
    Then the run pauses
    And the error says "check the staging site by hand"
    And the variable "after" was never set
    When I resume it
    Then the run succeeds
    And the variable "after" is 1

  Scenario: PAUSE with the approve policy does not stop
    Given the review policy is "approve"
    And the plan:
      """
      PAUSE "just a moment"
      VAR done = true
      """
    When I run the plan
    Then the run succeeds
    And the variable "done" is true
