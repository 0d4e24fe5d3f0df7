Feature: Syntax errors say what, where and how to fix it
  A parse error names the file, line and column, shows the line with a caret,
  and says in words what was expected, with a hint for the common mistakes.

  Scenario: A command without quotes
    Given the plan:
      """
      TASK "t" {
          RUN ls -la
      }
      """
    When I parse it
    Then parsing fails at line 2, column 9 with "expected a quoted string or a heredoc (<<EOF) after RUN, found 'ls'"
    And the hint says 'quote it: RUN "ls -la"'
    And the error prints as:
      """
      plan.tiss:2:9: error: expected a quoted string or a heredoc (<<EOF) after RUN, found 'ls'
              RUN ls -la
                  ^
      hint: quote it: RUN "ls -la"
      """

  Scenario Outline: A lower-case keyword suggests the upper-case one
    Given the plan:
      """
      <line>
      """
    When I parse it
    Then parsing fails at line 1, column <col> with "keywords are upper case: '<word>' should be '<upper>'"
    And the hint says "did you mean <upper>?"

    Examples:
      | line                         | col | word | upper |
      | run "ls"                     | 1   | run  | RUN   |
      | step "a" { RUN "x" }         | 1   | step | STEP  |
      | ASSERT a and b               | 10  | and  | AND   |
      | IF a then { LOG "x" }        | 6   | then | THEN  |
      | RUN "x" as result            | 9   | as   | AS    |

  Scenario Outline: A misspelled command suggests the closest one
    Given the plan:
      """
      STEP "s" {
          <line>
      }
      """
    When I parse it
    Then parsing fails at line 2, column 5 with "unknown command '<word>'"
    And the hint says "did you mean <guess>?"

    Examples:
      | line                  | word         | guess         |
      | RUNN "ls"             | RUNN         | RUN           |
      | ASERT x == 1          | ASERT        | ASSERT        |
      | PROMT_AGENT "hi"      | PROMT_AGENT  | PROMPT_AGENT  |
      | REQUST_REVIEW "ok?"   | REQUST_REVIEW | REQUEST_REVIEW |
      | WIRTE "a" "b"         | WIRTE        | WRITE         |

  Scenario: An unclosed block points at the line that opened it
    Given the plan:
      """
      TASK "t" {
          STEP "first" {
              RUN "a"
          STEP "second" {
              RUN "b"
          }
      }
      """
    When I parse it
    Then parsing fails at line 2, column 18 with "unclosed '{': this block is never closed"

  Scenario: An unclosed heredoc points at the WRITE that opened it
    Given the plan:
      """
      STEP "s" {
          WRITE "a.py" <<PYTHON
          print("hi")
      }
      """
    When I parse it
    Then there is 1 error
    And parsing fails at line 2, column 18 with "heredoc <<PYTHON is never closed"
    And the hint says "end the heredoc with a line that holds only PYTHON"

  Scenario: A heredoc line indented less than its closing delimiter
    Given the plan:
      """
      WRITE "a" <<EOF
          ok
        too far left
          EOF
      """
    When I parse it
    Then parsing fails at line 3, column 1 with "heredoc line is indented less than its closing EOF"

  Scenario: An unterminated string
    Given the plan:
      """
      LOG "hello
      LOG "next"
      """
    When I parse it
    Then parsing fails at line 1, column 5 with "unterminated string"
    And the hint says "add the closing \" at the end of the string"

  Scenario: A raw newline inside a string
    Given the plan:
      """
      LOG "first line
      second line"
      """
    When I parse it
    Then there is 1 error
    And parsing fails at line 1, column 5 with "a quoted string cannot span lines"

  Scenario: STEP directly inside STEP
    Given the plan:
      """
      STEP "outer" {
          STEP "inner" { RUN "x" }
      }
      """
    When I parse it
    Then parsing fails at line 2, column 5 with "a STEP cannot directly contain another STEP"

  Scenario: ELSE without IF
    Given the plan:
      """
      RUN "x"
      ELSE { RUN "y" }
      """
    When I parse it
    Then parsing fails at line 2, column 1 with "ELSE without IF"

  Scenario: A second TASK
    Given the plan:
      """
      TASK "one" { RUN "a" }
      TASK "two" { RUN "b" }
      """
    When I parse it
    Then parsing fails at line 2, column 1 with "a plan has at most one TASK"
    And the hint says "make this a STEP inside the first TASK"

  Scenario: SETUP after a STEP
    Given the plan:
      """
      TASK "t" {
          STEP "s" { RUN "a" }
          SETUP { RUN "b" }
      }
      """
    When I parse it
    Then parsing fails at line 3, column 5 with "SETUP after a STEP"

  Scenario: A malformed interpolation is a parse error with its position
    Given the plan:
      """
      STEP "s" {
          LOG "value: {{ build..STDOUT }}"
      }
      """
    When I parse it
    Then parsing fails at line 2, column 17 with "malformed interpolation"

  Scenario: An unclosed interpolation
    Given the plan:
      """
      LOG "value: {{ name"
      """
    When I parse it
    Then parsing fails at line 1, column 13 with "unclosed interpolation"

  Scenario: An unknown filter suggests a known one
    Given the plan:
      """
      LOG "{{ name | trimm }}"
      """
    When I parse it
    Then parsing fails at line 1, column 6 with "unknown filter 'trimm'"
    And the hint says "did you mean 'trim'? the filters are: trim, json, raw"

  Scenario: Several errors are all reported
    Given the plan:
      """
      TASK "t" {
          STEP "a" {
              RUN ls
              LOG hello
          }
          STEP "b" {
              run "x"
          }
      }
      """
    When I parse it
    Then there are 3 errors
    And error 1 is at line 3 with "after RUN"
    And error 2 is at line 4 with "after LOG"
    And error 3 is at line 7 with "keywords are upper case"

  Scenario: A number where a duration belongs
    Given the plan:
      """
      RUN "sleep 1" TIMEOUT 30
      """
    When I parse it
    Then parsing fails at line 1, column 23 with "a duration such as 30s"
    And the hint says "give it a unit: 30s, 30m, 30ms or 30h"

  Scenario: IF without a condition
    Given the plan:
      """
      IF { LOG "x" }
      """
    When I parse it
    Then parsing fails at line 1, column 4 with "IF needs a condition before its block"

  Scenario: A single = in a condition
    Given the plan:
      """
      ASSERT LAST_RUN.EXIT_CODE = 0
      """
    When I parse it
    Then parsing fails at line 1, column 27 with "a single '=' only assigns"
    And the hint says "compare with =="

  Scenario: TRY without CATCH
    Given the plan:
      """
      TRY { RUN "x" }
      RUN "y"
      """
    When I parse it
    Then parsing fails at line 1, column 1 with "TRY without CATCH"

  Scenario: A keyword used as a variable name
    Given the plan:
      """
      VAR STEP = 1
      """
    When I parse it
    Then parsing fails at line 1, column 5 with "'STEP' is a keyword, not a variable name"
