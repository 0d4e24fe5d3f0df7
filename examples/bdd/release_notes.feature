Feature: Publishing the release notes
  examples/bdd/release_notes.tiss gathers changes/*.txt into RELEASE.md
  and publishes it only after a person approves.

  Scenario: the reviewer approves, the notes are published
    Given a workspace with file "changes/001.txt" containing:
      """
      Faster parser
      """
    And a workspace with file "changes/002.txt" containing:
      """
      A REPL with human review
      """
    When I run the plan "examples/bdd/release_notes.tiss"
    Then the run is paused
    When the reviewer approves
    Then the run succeeds
    And step "publish" succeeded
    And the output of step "count" contains "2 entries"
    And file "public/RELEASE.md" contains "- A REPL with human review"
    And variable "published" is "public/RELEASE.md"

  Scenario: the reviewer rejects, nothing is published
    Given a workspace with file "changes/001.txt" containing:
      """
      Faster parser
      """
    When the reviewer rejects
    And I run the plan "examples/bdd/release_notes.tiss"
    Then the run is rejected
    And file "RELEASE.md" exists
    And file "public/RELEASE.md" does not exist

  Scenario: without any change there is nothing to publish
    When I run the plan "examples/bdd/release_notes.tiss"
    Then the run fails with "FILE \"RELEASE.md\" IS_NOT_EMPTY failed"
    And step "collect" failed

  Scenario: a plan written in the feature itself
    When I run the plan:
      """
      VAR greeting = "hello"
      WRITE "greeting.txt" "{{greeting}}, world"
      """
    Then the run succeeds
    And file "greeting.txt" contains "hello, world"
    And variable "greeting" is "hello"
