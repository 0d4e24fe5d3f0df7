"""Grammar-constrained decoding of TissLang plans (docs/decoding.md).

``PlanConstraint`` is an incremental acceptor over a model's tokens: at each
step ``allowed_mask()`` says which tokens keep the output a prefix of some
plan that ``tisslang.parse`` accepts, ``advance(token)`` moves on, and
``is_accepting()`` says whether the text so far is a whole plan. The model
side (model/generate.py) only sees that protocol; the caller hands in the
tokenizer's byte strings, so tisslang never imports model.

The grammar is tisslang/generation.lark (why it differs from grammar.lark is
written at its top) with the heredoc terminals built here, and the matcher is
llguidance's (chosen by measurement, docs/decoding.md).
"""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path

import numpy as np

GRAMMAR_FILE = Path(__file__).with_name("generation.lark")
# The heredoc delimiters a generated plan may use, and the indentations of
# the closing delimiter (the body's lines must be indented at least as far).
DELIMITERS = ("EOF", "PY", "SH", "JSON", "CSV", "MD", "TXT", "PROMPT")
CLOSING_INDENTS = (0, 4, 8, 12, 16)
_HOLE = r"\{\{ ?[A-Za-z_][A-Za-z0-9_]*(\.[A-Za-z_][A-Za-z0-9_]*)* ?(\| ?(trim|json|raw) ?)*\}\}"
_NAME = r"[a-z_][A-Za-z0-9_]*"


class ConstraintError(ValueError):
    """The constraint cannot be built, or a token was fed that it does not allow."""


def _heredoc_terminals() -> str:
    """HEREDOC, HEREDOC_RUN and HEREDOC_INTO: opener, rest of the opener's
    line, body, closing delimiter and the newline after it, as regular
    expressions (one alternative per delimiter and closing indentation, which
    is what makes a heredoc context-free here)."""
    bodies = []
    for delim in DELIMITERS:
        for raw in (True, False):
            opener = f"<<'{delim}'" if raw else f"<<{delim}"
            # a plain body's lines interpolate: `{{` only opens a valid hole
            text = r"[^\n]*" if raw else rf"([^{{\n]|\{{[^{{\n]|{_HOLE})*\{{?"
            for indent in CLOSING_INDENTS:
                pad = " " * indent
                line = rf'((/[ \t]*/ | /{pad}{text}/) & ~/[ \t]*{delim}[ \t]*/)'
                bodies.append((opener, rf'("\n" {line})*', rf'/\n{pad}{delim}\n[ \t]*/'))
    terminals = []
    for name, clauses in (("HEREDOC", ""),
                          ("HEREDOC_RUN", rf"( AS {_NAME}| TIMEOUT [0-9]{{1,4}}(ms|s|m|h))*"),
                          ("HEREDOC_INTO", rf"( INTO {_NAME})?")):
        rest = f" /{clauses}/" if clauses else ""
        alternatives = [f'"{opener}"{rest} {lines} {close}' for opener, lines, close in bodies]
        terminals.append(f"{name}: " + "\n    | ".join(alternatives))
    return "\n".join(terminals)


@lru_cache(maxsize=1)
def generation_grammar() -> str:
    """The Lark text llguidance compiles."""
    return GRAMMAR_FILE.read_text() + "\n" + _heredoc_terminals() + "\n"


class _Tokens:
    """The shape llguidance.TokenizerWrapper reads: token byte strings, eos, and
    an encoder (only used by llguidance for forced text; greedy is enough)."""

    def __init__(self, token_bytes: list[bytes], eos_id: int | None, special_ids, encode):
        self._encode = encode
        self.tokens = list(token_bytes)
        self.eos_token_id = eos_id
        self.bos_token_id = None
        self.special_token_ids = sorted(special_ids)

    def __call__(self, data: bytes) -> list[int]:
        return self._encode(data)


class PlanVocabulary:
    """A tokenizer's vocabulary compiled once for llguidance; shared by every
    constraint over it (building it walks all the tokens)."""

    def __init__(self, token_bytes: list[bytes], encode, eos_id: int | None = None,
                 special_ids=()):
        import llguidance

        self.size = len(token_bytes)
        self.eos_id = eos_id
        wrapper = llguidance.TokenizerWrapper(_Tokens(token_bytes, eos_id, special_ids, encode))
        self.lltokenizer = llguidance.LLTokenizer(wrapper, n_vocab=self.size)
        self.grammar = llguidance.grammar_from("lark", generation_grammar())
        # one token id for each single byte, for steering to a complete plan
        self.byte_ids = {t[0]: i for i, t in reversed(list(enumerate(token_bytes)))
                         if len(t) == 1 and i not in set(special_ids)}
        self.token_bytes = token_bytes


class PlanConstraint:
    """Only TissLang plans: ``allowed_mask()``, ``advance(token_id)``,
    ``is_accepting()`` (the protocol model/generate.py takes)."""

    def __init__(self, vocabulary: PlanVocabulary):
        import llguidance

        self.vocabulary = vocabulary
        self._matcher = llguidance.LLMatcher(vocabulary.lltokenizer, vocabulary.grammar,
                                             log_level=0)
        if self._matcher.is_error():
            raise ConstraintError(f"the generation grammar does not compile: "
                                  f"{self._matcher.get_error()}")
        self._bits = np.zeros((vocabulary.size + 31) // 32, dtype=np.int32)
        self.text = b""

    def allowed_mask(self) -> np.ndarray:
        """A bool per token: True when the token keeps the text a plan prefix."""
        self._matcher.unsafe_compute_mask_ptr(self._bits.ctypes.data, self._bits.nbytes)
        bits = np.unpackbits(self._bits.view(np.uint8), bitorder="little")
        return bits[:self.vocabulary.size].astype(bool)

    def advance(self, token_id: int) -> None:
        if not self._matcher.consume_token(int(token_id)):
            raise ConstraintError(f"token {token_id} ({self.vocabulary.token_bytes[token_id]!r}) "
                                  f"cannot follow {self.text[-40:]!r}: "
                                  f"{self._matcher.get_error()}")
        if token_id != self.vocabulary.eos_id:
            self.text += self.vocabulary.token_bytes[token_id]

    def is_accepting(self) -> bool:
        return self._matcher.is_accepting()

    def accepts_bytes(self, data: bytes) -> bool:
        """Whether ``data`` (as single-byte tokens) may come next; changes nothing."""
        probe = self._matcher.deep_copy()
        return all(b in self.vocabulary.byte_ids and probe.consume_token(self.vocabulary.byte_ids[b])
                   for b in data)

    # model/backend.py's TokenConstraint spelling of the same protocol
    def allowed(self, token_ids) -> np.ndarray:
        return self.allowed_mask()[np.asarray(token_ids)]

    def done(self) -> bool:
        return self.is_accepting()
