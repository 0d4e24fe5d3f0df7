Feature: One canonical layout for every plan
  `tiss fmt` rewrites a plan in the canonical style: 4-space indentation, one
  statement per line, double quotes, one blank line between STEPs, comments
  where they were, heredoc bodies untouched. Formatting twice changes nothing,
  and the formatted plan always means the same as the original.

  Scenario: Indentation, one statement per line, blank lines between STEPs
    Given the plan:
      """
      TASK "t" { STEP "a" { RUN "x" } STEP "b" {
        LOG "y"
            LOG "z" } }
      """
    When I format it
    Then the result is:
      """
      TASK "t" {
          STEP "a" {
              RUN "x"
          }

          STEP "b" {
              LOG "y"
              LOG "z"
          }
      }
      """
    And formatting the result again changes nothing
    And the result parses to the same AST

  Scenario: Quotes are normalised to double quotes and re-escaped
    Given the plan:
      """
      LOG 'He said "hi" and it\'s fine'
      RUN 'echo done'   AS   done
      """
    When I format it
    Then the result is:
      """
      LOG "He said \"hi\" and it's fine"
      RUN "echo done" AS done
      """
    And the result parses to the same AST

  Scenario: Comments stay where they were
    Given the plan:
      """
      # What the plan does
      TASK "t" {   # the task
        # before the step
        STEP "a" {
          RUN "x"     # trailing
        } # after the step
      # at the end
      }
      """
    When I format it
    Then the result is:
      """
      # What the plan does
      TASK "t" {  # the task
          # before the step
          STEP "a" {
              RUN "x"  # trailing
          }  # after the step
          # at the end
      }
      """
    And formatting the result again changes nothing

  Scenario: A heredoc body is kept byte for byte, re-indented with its delimiter
    Given the plan:
      """
      STEP "write" {
      WRITE "hello.py" <<PY
      def hello():
          # a Python comment, not a TissLang one

          return "{{greeting}}"
      PY
      }
      """
    When I format it
    Then the result is:
      """
      STEP "write" {
          WRITE "hello.py" <<PY
          def hello():
              # a Python comment, not a TissLang one

              return "{{greeting}}"
          PY
      }
      """
    And the result parses to the same AST

  Scenario: THEN is dropped and ELSE / CATCH share the closing brace's line
    Given the plan:
      """
      IF true THEN { LOG "a" }
      ELSE IF false THEN { LOG "b" }
      ELSE { LOG "c" }
      TRY { RUN "x" }
      CATCH { LOG "{{LAST_ERROR}}" }
      """
    When I format it
    Then the result is:
      """
      IF true {
          LOG "a"
      } ELSE IF false {
          LOG "b"
      } ELSE {
          LOG "c"
      }
      TRY {
          RUN "x"
      } CATCH {
          LOG "{{LAST_ERROR}}"
      }
      """
    And the result parses to the same AST

  Scenario: Conditions get the parentheses that show how they group
    Given the plan:
      """
      ASSERT ((1 == 1)) AND 2 == 2 OR NOT 3 == 4
      """
    When I format it
    Then the result is:
      """
      ASSERT (1 == 1 AND 2 == 2) OR NOT (3 == 4)
      """
    And the result parses to the same AST

  Scenario: tiss fmt --check reports a file that would change
    Given the plan:
      """
      RUN 'x'
      """
    When I run "tiss fmt --check" on it
    Then the exit code is 1
    And the output is:
      """
      would reformat plan.tiss
      """
    And the file is unchanged

  Scenario: tiss fmt rewrites the file in place
    Given the plan:
      """
      RUN 'x'
      """
    When I run "tiss fmt" on it
    Then the exit code is 0
    And the file now reads:
      """
      RUN "x"
      """
