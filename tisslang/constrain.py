"""Grammar-constrained decoding of TissLang plans (docs/decoding.md).

``PlanConstraint`` is an incremental acceptor over a model's tokens: at each
step ``allowed_mask()`` says which tokens keep the output a prefix of some
plan that ``tisslang.parse`` accepts, ``advance(token)`` moves on, and
``is_accepting()`` says whether the text so far is a whole plan. The model
side (model/generate.py) only sees that protocol; the caller hands in the
tokenizer's byte strings, so tisslang never imports model.

Given ``max_tokens`` (the tokens the caller will let it emit), the constraint
also steers to a finished plan: it keeps a short way to end the text (an
*ending*, found by a small search) and allows only tokens that still leave
room for it, so the last token budgeted completes the plan.

The grammar is tisslang/generation.lark (why it differs from grammar.lark is
written at its top) with the heredoc terminals built here, and the matcher is
llguidance's (chosen by measurement, docs/decoding.md).
"""

from __future__ import annotations

import re
from functools import lru_cache
from pathlib import Path

import numpy as np

from .keywords import BUDGET_KEYS, DURATION_BUDGET

GRAMMAR_FILE = Path(__file__).with_name("generation.lark")
# The heredoc delimiters a generated plan may use, and the indentations of
# the closing delimiter (the body's lines must be indented at least as far).
DELIMITERS = ("EOF", "PY", "SH", "JSON", "CSV", "MD", "TXT", "PROMPT")
CLOSING_INDENTS = (0, 4, 8, 12, 16)
# What an ending is built from, tried in this order: close a heredoc, a
# string, a hole, a block, a list, a group, a line; then fill a required slot
# (a statement, a separator, a value, a name, a budget key, a heredoc delimiter). Bytes the grammar
# forces (the rest of a keyword) come before all of them.
_CLOSERS = (b'"', b"}}", b"}", b"]", b")",
            b"\x80", b"\x90", b"\xa0")  # the last three end a UTF-8 character begun
_FILLERS = (b'LOG ""', b"\n", b":", b"=", b"{", b" ", b"1", b"s", b"X",
            min(BUDGET_KEYS, key=len).encode(), b"EOF", b"raw", b"AS", b"CATCH", b"EXISTS")
# only right after a capital or `_`: the rest of a keyword begun (`S` -> `STEP`)
_LETTERS = tuple(bytes([c]) for c in b"ABCDEFGHIJKLMNOPQRSTUVWXYZ_")
_OPENER = re.compile(rb"<<'?(" + "|".join(DELIMITERS).encode() + rb")(?![A-Za-z0-9_])")
# The search gives up past this many bytes or tries (a plan nests far less).
_MAX_ENDING, _MAX_TRIES = 256, 4000
# Checking one token gives up sooner: the token is then refused, which is safe.
_CHECK_TRIES = 60
# How much one token may lengthen the ending beyond its own bytes: what it
# opens needs closers and fillers (`READ` -> ` "" AS s`), and a keyword begun
# its rest (`E` -> `STIMATE_COST{}`). Past this margin from the end no token
# is checked; closer, each token is (``PlanConstraint._fits``).
_OPENS_AT_MOST = 24
# Bytes that, added to a string, comment or heredoc body, leave its ending
# as it was (when that ending begins by leaving the text: `"` or a newline);
# the others are checked by a search.
_STAYS_IN_TEXT = frozenset(range(256)) - frozenset(b'"\\{}\n\r')
_HOLE = r"\{\{ ?[A-Za-z_][A-Za-z0-9_]*(\.[A-Za-z_][A-Za-z0-9_]*)* ?(\| ?(trim|json|raw) ?)*\}\}"
_NAME = r"[a-z_][A-Za-z0-9_]*"
_AS, _TIMEOUT = rf" AS {_NAME}", r" TIMEOUT [1-9][0-9]{0,3}(ms|s|m|h)"  # each at most once


class ConstraintError(ValueError):
    """The constraint cannot be built, or a token was fed that it does not allow."""


def _budget_terminals() -> str:
    """TIME_BUDGET (the key whose value is a duration) and COUNT_BUDGET."""
    counts = [key for key in BUDGET_KEYS if key != DURATION_BUDGET]
    return (f'TIME_BUDGET: "{DURATION_BUDGET}"\n'
            "COUNT_BUDGET: " + " | ".join(f'"{key}"' for key in counts))


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
            text = r"[^\n\r]*" if raw else rf"([^{{\n\r]|\{{[^{{\n\r]|{_HOLE})*\{{?"
            for indent in CLOSING_INDENTS:
                pad = " " * indent
                line = rf'((/[ \t]*/ | /{pad}{text}/) & ~/[ \t]*{delim}[ \t]*/)'
                bodies.append((opener, rf'("\n" {line})*', rf'/\n{pad}{delim}\n[ \t]*/'))
    terminals = []
    for name, clauses in (("HEREDOC", ""),
                          ("HEREDOC_RUN", rf"({_AS}({_TIMEOUT})?|{_TIMEOUT}({_AS})?)?"),
                          ("HEREDOC_INTO", rf"( INTO {_NAME})?")):
        rest = f" /{clauses}/" if clauses else ""
        alternatives = [f'"{opener}"{rest} {lines} {close}' for opener, lines, close in bodies]
        terminals.append(f"{name}: " + "\n    | ".join(alternatives))
    return "\n".join(terminals)


@lru_cache(maxsize=64)
def generation_grammar(markers: tuple[str, ...] | None = None) -> str:
    """The Lark text llguidance compiles. With ``markers`` (the planner's
    slots, runtime/slots.py: ``("«F0»", "«T0»")``), strings and heredoc bodies
    may hold ``«`` and ``»`` only as one of those markers, so a plan names no
    literal the goal did not have."""
    text = GRAMMAR_FILE.read_text() + "\n" + _heredoc_terminals() + "\n" + _budget_terminals() + "\n"
    if markers is None:
        return text
    slot = "|".join(re.escape(m) for m in markers)
    slot = f"|{slot}" if slot else ""
    # every "any character of text" class in a string or body: refuse « and »,
    # then allow the markers as wholes
    for plain in (r'[^"\\\n\r{]', r"[^{\n\r]", r"[^\n\r]"):
        text = text.replace(plain, f"(?:{plain[:-1]}«»]{slot})")
    return text


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
        self._grammars: dict[tuple[str, ...], str] = {}
        # one token id for each single byte, for steering to a complete plan
        self.byte_ids = {t[0]: i for i, t in reversed(list(enumerate(token_bytes)))
                         if len(t) == 1 and i not in set(special_ids)}
        self.token_bytes = token_bytes
        self.token_ids = {t: i for i, t in enumerate(token_bytes) if i not in set(special_ids)}
        self.lengths = np.asarray([len(t) for t in token_bytes])
        # the tokens that may complete an object's key (its `:` or closing `"`)
        self.may_close_key = np.asarray([b":" in t or b'"' in t for t in token_bytes])
        self.colons = np.asarray([t.count(b":") for t in token_bytes])
        self.longest = int(self.lengths.max())

    def grammar_for(self, markers: tuple[str, ...] | None) -> str:
        """The compiled-once grammar text for ``markers`` (see generation_grammar)."""
        if markers is None:
            return self.grammar
        import llguidance

        if markers not in self._grammars:
            self._grammars[markers] = llguidance.grammar_from("lark", generation_grammar(markers))
        return self._grammars[markers]


@lru_cache(maxsize=4)
def vocabulary_of(tokenizer) -> PlanVocabulary:
    """``tokenizer`` compiled for the constraint, once per tokenizer. Any object
    with ``token_bytes``, ``encode_bytes``, ``eos_id`` and ``special_ids``
    serves (TissLM's model/tokenizer.py has them)."""
    return PlanVocabulary(tokenizer.token_bytes, tokenizer.encode_bytes, tokenizer.eos_id,
                          tokenizer.special_ids.values())


def for_tokenizer(tokenizer, max_tokens: int | None = None,
                  markers: tuple[str, ...] | None = None) -> "PlanConstraint":
    """A fresh constraint over ``tokenizer``'s tokens that ends a whole plan
    within ``max_tokens`` (``tiss model generate --constrain tisslang``);
    ``markers``: the only slot markers its strings may hold (the planner's)."""
    if getattr(tokenizer, "eos_id", None) is None:
        raise ConstraintError("this tokenizer has no end-of-sequence token, so a constrained "
                              "output could never end; train one with special tokens "
                              "(`tiss tokenizer train`)")
    return PlanConstraint(vocabulary_of(tokenizer), max_tokens=max_tokens, markers=markers)


class PlanConstraint:
    """Only TissLang plans: ``allowed_mask()``, ``advance(token_id)``,
    ``is_accepting()`` (the protocol model/generate.py takes)."""

    def __init__(self, vocabulary: PlanVocabulary, max_tokens: int | None = None,
                 markers: tuple[str, ...] | None = None):
        import llguidance

        self.vocabulary = vocabulary
        self._grammar = vocabulary.grammar_for(markers)
        # a byte of `«` or `»` in text may begin a marker, which needs its rest
        self._stays_in_text = _STAYS_IN_TEXT - frozenset("«»".encode()) if markers else _STAYS_IN_TEXT
        # what finishes a marker begun (`F0»` after `«`): the ending search's first tries
        self._marker_rests = tuple(dict.fromkeys(
            m.encode()[i:] for m in markers or () for i in range(2, len(m.encode()))))
        self._matcher = llguidance.LLMatcher(vocabulary.lltokenizer, self._grammar,
                                             log_level=0)
        if self._matcher.is_error():
            raise ConstraintError(f"the generation grammar does not compile: "
                                  f"{self._matcher.get_error()}")
        # sized from llguidance's vocabulary, which may be the model's plus an
        # end-of-sequence token of its own (a tokenizer without one)
        self._bits = np.zeros((vocabulary.lltokenizer.vocab_size + 31) // 32, dtype=np.int32)
        self.text = b""
        self._pairs = 0  # object pairs written so far (a duplicate key needs one)
        # steering (None: no budget, the caller stops the text wherever it likes)
        self.remaining = max_tokens
        self._ending: bytes | None = None
        self._ending_at_most = 0  # an upper bound on len(ending) while it is stale
        if max_tokens is not None:
            self._ending = self.ending()  # the shortest plan: one statement
            self._ending_at_most = len(self._ending)
            if len(self._ending) > max_tokens:
                raise ConstraintError(f"a budget of {max_tokens} tokens is too small for a "
                                      f"plan: give at least {len(self._ending)} "
                                      f"(a plan holds at least one statement)")

    def allowed_mask(self) -> np.ndarray:
        """A bool per token: True when the token keeps the text a plan prefix
        (and, under a budget, leaves room to finish it)."""
        self._matcher.unsafe_compute_mask_ptr(self._bits.ctypes.data, self._bits.nbytes)
        bits = np.unpackbits(self._bits.view(np.uint8), bitorder="little")
        mask = bits[:self.vocabulary.size].astype(bool)
        self._mask_duplicate_keys(mask)
        if self.remaining is not None:
            mask = self._leave_room(mask)
        return mask

    def advance(self, token_id: int) -> None:
        piece = self.vocabulary.token_bytes[token_id] if token_id < self.vocabulary.size else b""
        pair = b":" in piece and self._has_pair_colon(piece)  # before the matcher moves on
        if not self._matcher.consume_token(int(token_id)):
            raise ConstraintError(f"token {token_id} ({self.vocabulary.token_bytes[token_id]!r}) "
                                  f"cannot follow {self.text[-40:]!r}: "
                                  f"{self._matcher.get_error()}")
        if token_id == self.vocabulary.eos_id:
            return
        self._pairs += pair
        self.text += piece
        if self.remaining is not None:
            self.remaining -= 1
            if self._ending is not None and self._ending.startswith(piece):
                self._ending = self._ending[len(piece):]  # still the way to end
                self._ending_at_most = len(self._ending)
            else:
                self._ending = None
                self._ending_at_most += len(piece) + _OPENS_AT_MOST

    def is_accepting(self) -> bool:
        return self._matcher.is_accepting()

    def ending(self, longest: int = _MAX_ENDING) -> bytes:
        """A short text (at most ``longest`` bytes if one is found) that makes
        the text so far a whole plan (b"" if it is one)."""
        found = _ending_of(self._matcher, self.text, self.vocabulary.byte_ids, longest, _MAX_TRIES,
                           extra=self._marker_rests)
        if found is None and longest < _MAX_ENDING:
            found = self.ending()
        if found is None:
            raise ConstraintError(f"no way found to finish a plan after {self.text[-60:]!r}")
        return found

    def _mask_duplicate_keys(self, mask: np.ndarray) -> None:
        """Refuse a token that completes a key already in its object: a CFG
        cannot, so a token that may close a key (once the text holds a pair,
        or two `:` of its own) is kept only if an ending after it parses."""
        v = self.vocabulary
        if self._pairs:
            check = np.flatnonzero(mask & v.may_close_key)
        else:
            check = np.flatnonzero(mask & (v.colons > 1))
        for token in check:
            piece = v.token_bytes[token]
            if not self._may_complete_key(piece):
                continue
            probe = self._matcher.deep_copy()
            probe.consume_token(int(token))
            mask[token] = _ending_of(probe, self.text + piece, v.byte_ids, _MAX_ENDING,
                                     _CHECK_TRIES, check_keys=b":" in piece,
                                     extra=self._marker_rests) is not None

    def _may_complete_key(self, piece: bytes) -> bool:
        """Whether ``piece`` writes an object's `:` (one outside text) or
        closes a string a `:` may follow (a key): a few byte checks that spare
        most tokens the search."""
        byte_ids, validate = self.vocabulary.byte_ids, self._matcher.validate_tokens
        ids, control, colon = [byte_ids[b] for b in piece], byte_ids[1], byte_ids[ord(":")]
        for at, byte in enumerate(piece):
            if byte == ord(":") and validate(ids[:at] + [control]) != at + 1:
                return True
            if byte == ord('"') and validate(ids[:at + 1] + [colon]) == at + 2 \
                    and validate(ids[:at + 1] + [control]) != at + 2:
                return True
        return False

    def _has_pair_colon(self, piece: bytes) -> bool:
        """Whether a `:` of ``piece`` (about to be added) is an object's, not text."""
        control = self.vocabulary.byte_ids[1]
        probe = self._matcher.deep_copy()
        done = 0
        for at in (i for i, byte in enumerate(piece) if byte == ord(":")):
            probe.consume_tokens([self.vocabulary.byte_ids[b] for b in piece[done:at]])
            done = at
            if probe.validate_tokens([control]) != 1:
                return True
        return False

    def _leave_room(self, mask: np.ndarray) -> np.ndarray:
        """Keep a token only if an ending still fits in the budget after it;
        the tokens that follow the ending itself always do."""
        def far() -> bool:  # any token fits
            return self.remaining - 1 - self._ending_at_most >= \
                self.vocabulary.longest + _OPENS_AT_MOST
        if far():
            return mask
        if self._ending is None:
            self._ending = self.ending(longest=self.remaining)
            self._ending_at_most = len(self._ending)
            if far():
                return mask
        grammar = mask.copy()
        mask &= self.vocabulary.lengths < self.remaining  # room for it and one more
        # a token with _OPENS_AT_MOST to spare fits, as when far from the end;
        # the others are checked one by one
        spare = self.remaining - 1 - len(self._ending) - _OPENS_AT_MOST
        check = np.flatnonzero(mask & (self.vocabulary.lengths > spare))
        in_text = len(check) > 0 and self._more_text_same_ending()
        for token in check:
            mask[token] = self._fits(int(token), in_text)
        for end in range(1, len(self._ending) + 1):
            token = self.vocabulary.token_ids.get(self._ending[:end])
            if token is not None:
                mask[token] = grammar[token]
        return mask

    def _more_text_same_ending(self) -> bool:
        """Whether the text is free text (a string, comment or heredoc body)
        whose ending another character leaves unchanged (not on a line that
        may yet be the heredoc's delimiter)."""
        control = self.vocabulary.byte_ids[1]
        if self._matcher.validate_tokens([control]) != 1:
            return False
        probe = self._matcher.deep_copy()
        probe.consume_token(control)
        after = _ending_of(probe, self.text + b"\x01", self.vocabulary.byte_ids,
                           len(self._ending), 300, extra=self._marker_rests)
        return after == self._ending

    def _fits(self, token: int, in_text: bool) -> bool:
        """Whether some ending after ``token`` fits in the tokens left then
        (counting a byte a token, which never undercounts)."""
        piece, room = self.vocabulary.token_bytes[token], self.remaining - 1
        if in_text and self._stays_in_text.issuperset(piece):
            # more of the same text: the same ending, after the rest of a
            # UTF-8 character the piece may leave begun
            return len(self._ending) + _utf8_missing(self.text + piece) <= room
        probe = self._matcher.deep_copy()
        probe.consume_token(token)
        return _ending_of(probe, self.text + piece, self.vocabulary.byte_ids, room, _CHECK_TRIES,
                          extra=self._marker_rests) is not None

    # model/backend.py's TokenConstraint spelling of the same protocol
    def allowed(self, token_ids) -> np.ndarray:
        return self.allowed_mask()[np.asarray(token_ids)]

    def done(self) -> bool:
        return self.is_accepting()


def _utf8_missing(text: bytes) -> int:
    """How many continuation bytes the UTF-8 character ``text`` ends in lacks."""
    for back in range(1, min(4, len(text)) + 1):
        byte = text[-back]
        if byte < 0x80:
            return 0
        if byte >= 0xC0:  # the lead byte says how long its character is
            size = 2 if byte < 0xE0 else 3 if byte < 0xF0 else 4
            return max(0, size - back)
    return 0


def _ending_of(matcher, text: bytes, byte_ids: dict, longest: int, tries: int,
               check_keys: bool = False, extra: tuple[bytes, ...] = ()) -> bytes | None:
    """An ending of at most ``longest`` bytes for ``text`` (the matcher's
    state), or None if none was found within ``tries``. An ending that writes
    a `:` (or any, with ``check_keys``: the text's last token may have
    completed a key) is kept only if the whole text parses: no duplicate key."""
    def no_duplicate_key(tail: bytes) -> bool:
        return not (check_keys or b":" in tail) or _parses(text + tail)
    opened = _OPENER.findall(text)
    found = _finish(matcher.deep_copy(), byte_ids, opened[-1] if opened else None, text[-16:],
                    b"", longest, [tries], no_duplicate_key, extra=extra)
    return None if found is _DUPLICATE else found


def _parses(text: bytes) -> bool:
    from . import TissSyntaxError, parse  # tisslang imports this module lazily
    try:
        parse(text.decode("utf-8"))
    except (TissSyntaxError, UnicodeDecodeError):
        return False
    return True


# _finish's answer when an ending repeated a key: the search goes back to the
# last piece that wrote a `:` (what completed the key) and tries another there.
_DUPLICATE = object()


def _finish(matcher, byte_ids: dict, delim: bytes | None, before: bytes, tail: bytes,
            longest: int, tries: list[int], valid, filled: bool = False,
            extra: tuple[bytes, ...] = ()) -> bytes | None:
    """Depth first, trying the pieces in order: the first way found from the
    matcher's state to an accepting one (the matcher is left as it was).
    ``tail`` is what this search has added so far, after ``before``; ``delim``
    the delimiter of the last heredoc opened before that, the only one whose
    line closes it (another would be a line of its body); ``valid(tail)``
    has the last word on an ending; ``extra`` pieces are tried first (the
    rest of a slot marker begun).

    Two rules keep the search from looping: a filler is never repeated
    (`VAR s s`), and inside free text (a string, comment or heredoc body,
    where a control character would be allowed) a piece that stays in the
    text is tried only after those that leave it, and never twice in a row
    (``filled``): `"{` needs one character before its `"`, a comment never
    needs `""""`."""
    if len(tail) > longest:
        return None
    if matcher.is_accepting():
        return b"" if valid(tail) else _DUPLICATE
    if len(tail) == longest or tries[0] <= 0:
        return None
    tries[0] -= 1
    opened = _OPENER.findall(before + tail)
    delim = opened[-1] if opened else delim
    heredoc_end = (b"\n" + delim + b"\n",) if delim else ()
    forced = matcher.compute_ff_bytes()
    if forced:
        pieces = [forced]
    else:
        last = next((p for p in heredoc_end + _FILLERS if tail.endswith(p)), None)
        word = (before + tail)[-1:] in _LETTERS
        pieces = [p for p in extra + heredoc_end + _CLOSERS + _FILLERS + (_LETTERS if word else ())
                  if p != last]
    control = byte_ids[1]
    in_text = matcher.validate_tokens([control]) == 1
    leaving, staying = [], []
    for piece in pieces:
        ids = [byte_ids[b] for b in piece]
        if matcher.validate_tokens(ids) != len(ids):
            continue
        stays = in_text and matcher.validate_tokens(ids + [control]) > len(ids)
        (staying if stays else leaving).append((piece, ids, stays))
    for piece, ids, stays in leaving + ([] if filled else staying):
        matcher.consume_tokens(ids)
        rest = _finish(matcher, byte_ids, delim, before, tail + piece, longest, tries, valid,
                       stays, extra)
        matcher.rollback(len(ids))
        if rest is _DUPLICATE:
            if b":" in piece:
                continue
            return _DUPLICATE
        if rest is not None:
            return piece + rest
    return None
