Feature: Parsing TissLang plans into the typed AST
  Every construct of the language reference (TISSLANG.md) parses to the node
  the checker, the formatter and the runtime work on. Paths like "body.0.alias"
  walk the JSON form of the tree (`tiss parse --json`).

  Scenario: A block-form TASK with a STEP holding a RUN
    Given the plan:
      """
      TASK "build the project" {
          STEP "compile" {
              RUN "make -j2"
          }
      }
      """
    When I parse it
    Then the JSON at "body.0.type" is "Task"
    And the JSON at "body.0.leaf" is false
    And the JSON at "body.0.body.0.type" is "Step"
    And the JSON at "body.0.body.0.description.parts.0.value" is "compile"
    And the JSON at "body.0.body.0.body.0.command.parts.0.value" is "make -j2"
    And the JSON at "body.0.body.0.body.0.line" is 3

  Scenario: A leaf-form TASK takes the rest of the file as its body
    Given the plan:
      """
      @persona "a careful engineer"
      SET_BUDGET RUN_COUNT = 5
      TASK "leaf"
      STEP "one" { RUN "a" }
      STEP "two" { RUN "b" }
      """
    When I parse it
    Then the JSON at "body.0.type" is "Directive"
    And the JSON at "body.1.type" is "SetBudget"
    And the JSON at "body.2.leaf" is true
    And the JSON at "body.2.body.1.description.parts.0.value" is "two"

  Scenario: A file without TASK is a fragment of statements
    Given the plan:
      """
      VAR greeting = "hi"
      LOG "{{greeting}}"
      """
    When I parse it
    Then the program has 2 statements
    And the JSON at "body.1.message.parts.0.type" is "Interpolation"

  Scenario: RUN with TIMEOUT and AS
    Given the plan:
      """
      RUN "pytest -q" TIMEOUT 30s AS tests
      """
    When I parse it
    Then the JSON at "body.0.type" is "Run"
    And the JSON at "body.0.timeout" is {"type": "Duration", "line": 1, "col": 25, "end_line": 1, "end_col": 28, "seconds": 30.0, "text": "30s"}
    And the JSON at "body.0.alias" is "tests"

  Scenario Outline: Durations, bare or quoted, in a duration position
    Given the plan:
      """
      RUN "x" TIMEOUT <written>
      """
    When I parse it
    Then the JSON at "body.0.timeout.type" is "Duration"
    And the JSON at "body.0.timeout.seconds" is <seconds>

    Examples:
      | written | seconds |
      | 500ms   | 0.5     |
      | 30s     | 30.0    |
      | "5m"    | 300.0   |
      | 2h      | 7200.0  |

  Scenario: A quoted string that is not a duration stays a string for the checker
    Given the plan:
      """
      SET_BUDGET EXECUTION_TIME = "soon"
      """
    When I parse it
    Then the JSON at "body.0.value.type" is "Template"

  Scenario: A heredoc keeps blank lines, comment lines and trailing spaces
    Given the plan:
      """
      WRITE "notes.md" <<EOF
      # Title

      text with two trailing spaces  
      EOF
      """
    When I parse it
    Then the JSON at "body.0.content.type" is "Heredoc"
    And the JSON at "body.0.content.delimiter" is "EOF"
    And the heredoc body of statement 1 is "# Title\n\ntext with two trailing spaces  \n"
    And the program has no comments

  Scenario: An indented heredoc loses the closing delimiter's indentation
    Given the plan:
      """
      STEP "write" {
          WRITE "app.py" <<PYTHON
          def main():
              return 1
          PYTHON
      }
      """
    When I parse it
    Then the heredoc body of statement 1.1 is "def main():\n    return 1\n"

  Scenario: A raw heredoc does not interpolate
    Given the plan:
      """
      RUN <<'SH'
      echo {{not_a_variable}}
      SH
      """
    When I parse it
    Then the JSON at "body.0.command.raw" is true
    And the heredoc body of statement 1 is "echo {{not_a_variable}}\n"

  Scenario: Interpolation with fields and filters, in a heredoc
    Given the plan:
      """
      WRITE "report.txt" <<EOF
      exit={{build.EXIT_CODE}} out={{LAST_RUN.STDOUT | trim | json}}
      EOF
      """
    When I parse it
    Then the JSON at "body.0.content.body.parts.1.ref.name" is "build"
    And the JSON at "body.0.content.body.parts.1.ref.fields" is ["EXIT_CODE"]
    And the JSON at "body.0.content.body.parts.3.filters" is ["trim", "json"]
    And the JSON at "body.0.content.body.parts.3.line" is 2

  Scenario: Every command of section 3
    Given the plan:
      """
      WRITE "a.txt" "inline text"
      APPEND "a.txt" 'more'
      READ "a.txt" AS text
      ASSERT text IS_NOT_EMPTY
      PROMPT_AGENT "Summarise {{text}}" INTO summary
      CALL web_search {query: "lark parser", "max results": 3} INTO hits
      VAR count = 3
      LOG "done"
      SET_BUDGET API_CALLS = 10
      REQUEST_REVIEW "ship it?"
      PAUSE "waiting for the data"
      """
    When I parse it
    Then the statement types are Write, Append, Read, Assert, PromptAgent, Call, Var, Log, SetBudget, RequestReview, Pause
    And the JSON at "body.4.into" is "summary"
    And the JSON at "body.5.tool" is "web_search"
    And the JSON at "body.5.args.entries.1.key" is "max results"
    And the JSON at "body.5.args.entries.1.value.value" is 3

  Scenario: Conditions use the usual precedence
    Given the plan:
      """
      ASSERT NOT a == 1 OR b CONTAINS "x" AND FILE "out.txt" EXISTS
      """
    When I parse it
    Then the JSON at "body.0.condition.op" is "OR"
    And the JSON at "body.0.condition.left.type" is "Not"
    And the JSON at "body.0.condition.right.op" is "AND"
    And the JSON at "body.0.condition.right.right.type" is "Predicate"
    And the JSON at "body.0.condition.right.right.operand.type" is "FileRef"

  Scenario Outline: Comparison and predicate operators
    Given the plan:
      """
      ASSERT <condition>
      """
    When I parse it
    Then the JSON at "body.0.condition.op" is "<op>"

    Examples:
      | condition                      | op           |
      | x == 1                         | ==           |
      | x != 1                         | !=           |
      | x <= 1                         | <=           |
      | x >= 1                         | >=           |
      | x < 1                          | <            |
      | x > 1                          | >            |
      | x CONTAINS "a"                 | CONTAINS     |
      | x NOT CONTAINS "a"             | NOT_CONTAINS |
      | x MATCHES "^[0-9]+$"           | MATCHES      |
      | x STARTS_WITH "a"              | STARTS_WITH  |
      | x ENDS_WITH "a"                | ENDS_WITH    |
      | x IS_EMPTY                     | IS_EMPTY     |
      | x IS_NOT_EMPTY                 | IS_NOT_EMPTY |
      | FILE "a" EXISTS                | EXISTS       |
      | FILE "a" NOT EXISTS            | NOT_EXISTS   |
      | (a == 1 OR b == 2) AND c == 3  | AND          |

  Scenario: IF, ELSE IF and ELSE on one line or split, with or without THEN
    Given the plan:
      """
      IF LAST_RUN.EXIT_CODE == 0 THEN { LOG "ok" } ELSE IF x > 1 { LOG "x" }
      # a comment between the arms
      ELSE {
          LOG "no"
      }
      """
    When I parse it
    Then the program has 1 statements
    And the JSON at "body.0.type" is "If"
    And the JSON at "body.0.branches.1.condition.op" is ">"
    And the JSON at "body.0.orelse.0.message.parts.0.value" is "no"
    And the JSON at "body.0.end_line" is 5

  Scenario: Control-flow blocks of section 6
    Given the plan:
      """
      TASK "t" {
          SETUP "tools" { RUN "pip install -q ruff" }
          CHOOSE {
              OPTION "quick" { ESTIMATE_COST { RUN "ruff check ." } }
              STEP "thorough" { RUN "pytest" }
          }
          PARALLEL { STEP "a" { RUN "a" } STEP "b" { RUN "b" } }
          TRY { RUN "flaky" } CATCH { LOG "{{LAST_ERROR}}" }
          RETRY 3 { PROMPT_AGENT "fix the tests" }
      }
      """
    When I parse it
    Then the task's statement types are Setup, Choose, Parallel, Try, Retry
    And the JSON at "body.0.body.0.description.parts.0.value" is "tools"
    And the JSON at "body.0.body.1.body.0.keyword" is "OPTION"
    And the JSON at "body.0.body.1.body.1.keyword" is "STEP"
    And the JSON at "body.0.body.3.catch.0.type" is "Log"
    And the JSON at "body.0.body.4.count" is 3

  Scenario: SETUP without a description
    Given the plan:
      """
      SETUP {
          RUN "make deps"
      }
      """
    When I parse it
    Then the JSON at "body.0.type" is "Setup"
    And the JSON at "body.0.description" is null

  Scenario: Directives take any value
    Given the plan:
      """
      @timeout "30s"
      @env {PYTHONHASHSEED: "0", "DEBUG": "1"}
      @future_thing 42
      """
    When I parse it
    Then the JSON at "body.0.name" is "timeout"
    And the JSON at "body.1.value.entries.0.key" is "PYTHONHASHSEED"
    And the JSON at "body.2.value.value" is 42

  Scenario: Literals: numbers, booleans, null, lists and objects
    Given the plan:
      """
      VAR v = [12, -3, 2.5, true, false, null, 'single', {k: [], "k 2": 1}]
      """
    When I parse it
    Then the JSON at "body.0.value.items.1.value" is -3
    And the JSON at "body.0.value.items.2.value" is 2.5
    And the JSON at "body.0.value.items.5.value" is null
    And the JSON at "body.0.value.items.7.entries.1.key" is "k 2"

  Scenario: String escapes are decoded
    Given the plan:
      """
      LOG "tab\there \"quoted\" \u{1F600} back\\slash"
      """
    When I parse it
    Then the JSON at "body.0.message.parts.0.value" is "tab\there \"quoted\" \ud83d\ude00 back\\slash"

  Scenario: The header is metadata and comments are kept with their place
    Given the plan:
      """
      #TISS! Language=Python Version=1.0
      # what this plan does
      RUN "make"   # build it
      """
    When I parse it
    Then the JSON at "header" is [{"key": "Language", "value": "Python"}, {"key": "Version", "value": "1.0"}]
    And the program has 1 statements
    And comment 1 is " what this plan does" at line 2, column 1
    And comment 2 is " build it" at line 3, column 14

  Scenario: Windows line endings parse like Unix ones
    Given the plan with Windows line endings:
      """
      STEP "a" {
          WRITE "f" <<EOF
          line
          EOF
      }
      """
    When I parse it
    Then the heredoc body of statement 1.1 is "line\n"
