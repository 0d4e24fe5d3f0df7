"""Every word of TissLang, once, with its role.

The parser (reserved names), its error hints, the formatter, the Pygments
lexer and the REPL's Tab completion all read this table. grammar.lark spells
the same words as its terminals (it mirrors the reference, docs/reference.md);
tests/lang/test_keywords.py keeps the two equal, so a new keyword is added
here and in the grammar, and nowhere else.
"""

from __future__ import annotations

COMMAND, STRUCTURE, CLAUSE, OPERATOR = "command", "structure", "clause", "operator"

# In the order hints suggest them (did-you-mean takes the first closest word).
ROLES = {
    # §2 program structure and §6 control flow: words that open a statement with a block
    "TASK": STRUCTURE, "SETUP": STRUCTURE, "STEP": STRUCTURE, "OPTION": STRUCTURE,
    # §3 commands: words that open a one-line statement
    "RUN": COMMAND, "WRITE": COMMAND, "APPEND": COMMAND, "READ": COMMAND,
    "ASSERT": COMMAND, "PROMPT_AGENT": COMMAND, "CALL": COMMAND, "VAR": COMMAND,
    "LOG": COMMAND, "SET_BUDGET": COMMAND, "REQUEST_REVIEW": COMMAND, "PAUSE": COMMAND,
    "IF": STRUCTURE, "ELSE": STRUCTURE, "PARALLEL": STRUCTURE, "CHOOSE": STRUCTURE,
    "ESTIMATE_COST": STRUCTURE, "TRY": STRUCTURE, "CATCH": STRUCTURE, "RETRY": STRUCTURE,
    # words inside a statement
    "TIMEOUT": CLAUSE, "AS": CLAUSE, "INTO": CLAUSE, "THEN": CLAUSE, "FILE": CLAUSE,
    # §4 word operators of expressions
    "NOT": OPERATOR, "AND": OPERATOR, "OR": OPERATOR, "CONTAINS": OPERATOR,
    "MATCHES": OPERATOR, "STARTS_WITH": OPERATOR, "ENDS_WITH": OPERATOR,
    "IS_EMPTY": OPERATOR, "IS_NOT_EMPTY": OPERATOR, "EXISTS": OPERATOR,
}


def _with_role(*roles: str) -> tuple[str, ...]:
    return tuple(word for word, role in ROLES.items() if role in roles)


COMMANDS = _with_role(COMMAND)
STRUCTURES = _with_role(STRUCTURE)
CLAUSES = _with_role(CLAUSE)
WORD_OPERATORS = _with_role(OPERATOR)
# Keywords that begin a statement.
STATEMENT_KEYWORDS = _with_role(COMMAND, STRUCTURE)
# Every upper-case word of the language.
KEYWORDS = frozenset(ROLES)
# The lower-case literals; with the keywords, the words a name cannot be.
LITERALS = ("true", "false", "null")
RESERVED = KEYWORDS | frozenset(LITERALS)

# SET_BUDGET's keys (§5): the checker's BUDGET fields, the runtime's budgets
# and the generation grammar's TIME_BUDGET / COUNT_BUDGET (tisslang/constrain.py)
# read this.
BUDGET_KEYS = ("EXECUTION_TIME", "API_CALLS", "TOKEN_COUNT", "RUN_COUNT")
DURATION_BUDGET = "EXECUTION_TIME"  # its value is a duration; the others count
