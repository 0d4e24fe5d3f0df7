Feature: Data never becomes shell syntax, and files stay in the workspace

  Scenario: An interpolated value inside RUN is one quoted argument
    Given the workspace file "precious.txt" contains "keep me"
    And the plan:
      """
      TASK "t" {
        VAR x = "a; rm -f precious.txt"
        RUN "echo {{x}}"
        VAR y = "$(touch pwned) `touch pwned2` | cat > precious.txt"
        RUN "echo {{y}}"
      }
      """
    When I run the plan
    Then the run succeeds
    And the variable "LAST_RUN.STDOUT" is "$(touch pwned) `touch pwned2` | cat > precious.txt\n"
    And the workspace file "precious.txt" is "keep me"
    And the workspace file "pwned" does not exist
    And the workspace file "pwned2" does not exist

  Scenario: The raw filter opts out of quoting on purpose
    Given the plan:
      """
      TASK "t" {
        VAR cmd = "echo one; echo two"
        RUN "{{cmd | raw}}"
      }
      """
    When I run the plan
    Then the run succeeds
    And the variable "LAST_RUN.STDOUT" is "one\ntwo\n"

  Scenario: trim and json filters
    Given the plan:
      """
      TASK "t" {
        VAR padded = "  hi  "
        VAR data = {name: "x", n: [1, 2]}
        WRITE "out.txt" "[{{padded | trim}}] {{data | json}}"
      }
      """
    When I run the plan
    Then the run succeeds
    And the workspace file "out.txt" is "[hi] {\"name\": \"x\", \"n\": [1, 2]}"

  Scenario Outline: Paths that leave the workspace are refused and nothing is written
    Given a symlink "link" in the workspace pointing to "elsewhere/"
    And the plan:
      """
      VAR target = "<path>"
      WRITE "{{target}}" "evil"
      """
    When I run the plan
    Then the run fails with "<message>"
    And nothing was written outside the workspace

    Examples:
      | path                | message                              |
      | $OUTSIDE/evil.txt   | is absolute                          |
      | ../escaped.txt      | leaves the workspace through '..'    |
      | a/../../escaped.txt | leaves the workspace through '..'    |
      | link/evil.txt       | leads outside the workspace          |
      | .tiss/runs/x        | inside .tiss/                        |

  Scenario Outline: A constant path that leaves the workspace is refused before anything runs
    Given the plan:
      """
      RUN "touch ran.txt"
      WRITE "<path>" "evil"
      """
    When I try to run the plan
    Then it is refused before it starts with "<message>"
    And the workspace file "ran.txt" does not exist
    And nothing was written outside the workspace

    Examples:
      | path                | message                           |
      | $OUTSIDE/evil.txt   | is absolute                       |
      | ../escaped.txt      | leaves the workspace through '..' |
      | .tiss/runs/x        | inside .tiss/                     |

  Scenario: A symlinked file pointing outside cannot be read
    Given a symlink "secret" in the workspace pointing to "outside.txt"
    And the plan:
      """
      READ "secret" AS s
      """
    When I run the plan
    Then the run fails with "leads outside the workspace"

  Scenario: A symlinked file pointing outside cannot be written
    Given a symlink "secret" in the workspace pointing to "outside.txt"
    And the plan:
      """
      WRITE "secret" "evil"
      """
    When I run the plan
    Then the run fails with "leads outside the workspace"
    And nothing was written outside the workspace
