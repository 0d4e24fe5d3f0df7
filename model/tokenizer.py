"""TissLM's tokenizer: byte-level BPE with a regex pre-split and special tokens.

How text becomes ids:

1. Special tokens (``<|bos|>``, ``<|plan|>`` …) are cut out first; each is one id.
2. The rest is pre-split by ``SPLIT_PATTERN`` into "pieces" (a word with its
   leading space, a run of digits, a run of punctuation, a run of whitespace).
   Merges never cross a piece boundary, so " the" is learnt once, not once per
   neighbour.
3. Each piece is turned into its UTF-8 bytes (ids 0-255) and the learnt merges
   are applied, earliest learnt first, until none applies. The result is cached per
   piece, so a word seen before costs one dictionary look-up.

Id layout: 0-255 are the raw bytes, then the special tokens in order, then one
id per merge in the order they were learnt. Every byte string is encodable and
decodes back exactly, because the 256 byte ids are always present.

Training is the classic incremental algorithm (as in Sennrich's BPE and HF
``tokenizers``): count each distinct piece once with its frequency, keep pair
counts plus a pair -> pieces index, and take the best pair from a heap whose
stale entries are re-pushed lazily. Merging a pair only revisits the pieces that
contain it, never the whole corpus.

Tie-breaking (deterministic): the most frequent pair wins; among equally
frequent pairs, the one with the smaller first id, then the smaller second id.

The file format is documented in docs/tokenizer.md.
"""

from __future__ import annotations

import heapq
import json
import operator
import os
import re
from collections import Counter, defaultdict
from itertools import chain
from pathlib import Path
from typing import Iterable

from model.fileio import write_atomic

# GPT-4's (cl100k) pre-split, written for the standard-library ``re`` module,
# which lacks \p{L} and \p{N}. The translations:
#   letters  \p{L}  ->  [^\W\d_]      ("word" characters minus digits and "_")
#   numbers  \p{N}  ->  \d            (decimal digits)
#   other    [^\s\p{L}\p{N}]  ->  (?:[^\s\w]|_)
# The only difference from the original: non-decimal numerals such as "²" or
# "Ⅻ" count as letters here. Every character matches some alternative, so the
# pieces always join back to the input.
SPLIT_PATTERN = (
    r"'(?i:[sdmt]|ll|ve|re)"              # English contractions: 's 't 're 've 'm 'll 'd
    r"|(?:[^\r\n\w]|_)?[^\W\d_]+"         # a word, with one leading space or symbol
    r"|\d{1,3}"                           # numbers, at most three digits per piece
    r"| ?(?:[^\s\w]|_)+[\r\n]*"           # punctuation runs, with their line ends
    r"|\s*[\r\n]+"                        # line breaks (with the indentation before)
    r"|\s+(?!\S)"                         # spaces, leaving the last one to the next word
    r"|\s+"
)

# Special tokens: the model's framing tokens and the planner's markers. A plan
# prompt reads ``<|bos|><|goal|>…<|plan|>…tiss…<|endplan|><|eos|>``; the agent
# loop interleaves ``<|thought|>``, ``<|tool|>`` (a JSON call),
# ``<|observation|>`` (the tool's result) and ends with ``<|answer|>``.
DEFAULT_SPECIALS = (
    "<|bos|>", "<|eos|>", "<|pad|>",
    "<|goal|>", "<|plan|>", "<|endplan|>",
    "<|thought|>", "<|tool|>", "<|observation|>", "<|answer|>",
)

FORMAT_NAME = "tisslm-bpe"
FORMAT_VERSION = 1
N_BYTES = 256
# Distinct pieces kept in the encoding cache; past this the cache starts afresh
# so memory stays bounded on endless streams of new words.
CACHE_LIMIT = 200_000


class TokenizerFileError(ValueError):
    """A tokenizer file that cannot be loaded; the message names the file and the problem."""


class Tokenizer:
    """A trained byte-level BPE vocabulary. Build one with ``train`` or ``load``."""

    def __init__(self, merges: Iterable[tuple[int, int]],
                 special_tokens: Iterable[str] = DEFAULT_SPECIALS,
                 pattern: str = SPLIT_PATTERN):
        self.pattern = pattern
        self._split = re.compile(pattern).findall
        specials = list(special_tokens)
        _check_specials(specials)
        self._specials = {tok: N_BYTES + i for i, tok in enumerate(specials)}
        self.merges = [tuple(pair) for pair in merges]
        first_merge = N_BYTES + len(specials)
        # rank of a pair = its new id; lower ids were learnt earlier and apply first
        self._ranks = {pair: first_merge + i for i, pair in enumerate(self.merges)}
        self._token_bytes = [bytes([b]) for b in range(N_BYTES)]
        self._token_bytes += [tok.encode("utf-8") for tok in specials]
        for new_id, (a, b) in enumerate(self.merges, start=first_merge):
            if not (_is_mergeable(a, first_merge, new_id) and _is_mergeable(b, first_merge, new_id)):
                raise ValueError(f"merge {new_id - first_merge} ({a}, {b}) refers to a special "
                                 f"token or to an id not defined before id {new_id}")
            self._token_bytes.append(self._token_bytes[a] + self._token_bytes[b])
        if len(self._ranks) != len(self.merges):
            raise ValueError("the same pair is merged twice")
        self._cache: dict[str, tuple[int, ...]] = {}
        self._special_splitters: dict[frozenset, re.Pattern] = {}

    # --- training -------------------------------------------------------------

    @classmethod
    def train(cls, texts: Iterable[str], vocab_size: int,
              special_tokens: Iterable[str] = DEFAULT_SPECIALS,
              pattern: str = SPLIT_PATTERN) -> "Tokenizer":
        """Learn merges from ``texts`` until the vocabulary has ``vocab_size`` ids.

        ``vocab_size`` counts everything: 256 bytes + special tokens + merges.
        Special-token strings inside the texts are skipped, not learnt. If the
        corpus runs out of pairs first, training stops early and the result
        has a smaller ``vocab_size``.
        """
        if isinstance(texts, (str, bytes)):
            raise ValueError("texts must be an iterable of strings, not one string; "
                             "pass [text] to train on a single text")
        specials = list(special_tokens)
        _check_specials(specials)
        n_merges = vocab_size - N_BYTES - len(specials)
        if n_merges < 0:
            raise ValueError(f"vocab_size {vocab_size} is too small: it must be at least "
                             f"{N_BYTES + len(specials)} (256 bytes + {len(specials)} special tokens)")
        split = re.compile(pattern).findall
        cut_specials = _special_splitter(specials)
        piece_counts: Counter[str] = Counter()
        for text in texts:
            # split() returns text, special, text, …: keep only the text
            for part in (cut_specials.split(text)[::2] if cut_specials else [text]):
                piece_counts.update(split(part))
        word_counts = {_piece_bytes(piece): n for piece, n in piece_counts.items()}
        merges = learn_merges(word_counts, n_merges, first_id=N_BYTES + len(specials))
        return cls(merges, specials, pattern)

    # --- encoding -------------------------------------------------------------

    def encode(self, text: str, allowed_special="all") -> list[int]:
        """Ids for ``text``. ``allowed_special`` says which special-token strings in the
        text become their single id: "all", "none", or a set of them; the others are
        encoded as ordinary text. Lone surrogates U+DC80..U+DCFF stand for raw bytes
        0x80..0xFF (Python's surrogateescape convention)."""
        if not isinstance(text, str):
            raise TypeError(f"encode takes a str, not {type(text).__name__}; "
                            "use encode_bytes for bytes")
        splitter = self._splitter_for(allowed_special)
        if splitter is None:
            return self._encode_ordinary(text)
        ids: list[int] = []
        # re.split with one capture group alternates: text, special, text, special, ...
        for i, part in enumerate(splitter.split(text)):
            if i % 2:
                ids.append(self._specials[part])
            elif part:
                ids.extend(self._encode_ordinary(part))
        return ids

    def encode_bytes(self, data: bytes) -> list[int]:
        """Ids for any byte string (never special tokens); ``decode_bytes`` gives it back."""
        # surrogateescape maps each invalid byte to one lone surrogate, which the
        # pre-split treats as a symbol and _piece_bytes maps back to that byte.
        return self._encode_ordinary(bytes(data).decode("utf-8", errors="surrogateescape"))

    def _encode_ordinary(self, text: str) -> list[int]:
        pieces = self._split(text)
        cache = self._cache
        new = set(pieces).difference(cache)  # C-speed when cache is a dict
        if len(cache) + len(new) > CACHE_LIMIT:
            cache.clear()
            new = set(pieces)
        for piece in new:
            cache[piece] = self._bpe(_piece_bytes(piece))
        return list(chain.from_iterable(map(cache.__getitem__, pieces)))

    def _bpe(self, data: bytes) -> tuple[int, ...]:
        """Apply the merges to one piece, earliest-learnt pair first, leftmost first.

        A pair's rank is the id it merges into. The piece is a linked list of
        ids and a heap holds (rank, position) of every mergeable neighbour
        pair, so a piece of n bytes costs O(n log n) even when it is one long
        run of letters (rescanning the whole piece per merge would be
        quadratic). Merging never creates a pair of lower rank than the one
        just applied, so this equals applying every merge in order.
        """
        ids: list[int | None] = list(data)  # None marks a position merged into its left neighbour
        n = len(ids)
        rank_of = self._ranks.get
        after = list(range(1, n + 1))  # next live position (n = end)
        before = list(range(-1, n - 1))  # previous live position (-1 = start)
        heap = [(rank, i) for i, rank in enumerate(map(rank_of, zip(ids, ids[1:])))
                if rank is not None]
        heapq.heapify(heap)
        while heap:
            rank, i = heapq.heappop(heap)
            j = after[i]
            if ids[i] is None or j == n or rank_of((ids[i], ids[j])) != rank:
                continue  # stale: that pair was changed by an earlier merge
            ids[i], ids[j] = rank, None
            k = after[i] = after[j]
            if k < n:
                before[k] = i
                self._push_pair(heap, rank_of((rank, ids[k])), i)
            if before[i] >= 0:
                self._push_pair(heap, rank_of((ids[before[i]], rank)), before[i])
        return tuple(token for token in ids if token is not None)

    @staticmethod
    def _push_pair(heap: list, rank: int | None, position: int) -> None:
        if rank is not None:
            heapq.heappush(heap, (rank, position))

    def _splitter_for(self, allowed_special) -> re.Pattern | None:
        if allowed_special == "all":
            allowed = frozenset(self._specials)
        elif allowed_special == "none":
            allowed = frozenset()
        elif isinstance(allowed_special, (set, frozenset, list, tuple)):
            allowed = frozenset(allowed_special)
            unknown = sorted(allowed - self._specials.keys())
            if unknown:
                raise ValueError(f"allowed_special names unknown special tokens {unknown}; "
                                 f"this tokenizer has {sorted(self._specials)}")
        else:
            raise ValueError(f'allowed_special must be "all", "none" or a set of special '
                             f"tokens, not {allowed_special!r}")
        if not allowed:
            return None
        if allowed not in self._special_splitters:
            self._special_splitters[allowed] = _special_splitter(allowed)
        return self._special_splitters[allowed]

    # --- decoding -------------------------------------------------------------

    def decode_bytes(self, ids: Iterable[int]) -> bytes:
        """The exact bytes behind ``ids`` (special tokens give their own text)."""
        table = self._token_bytes
        try:
            ids = [operator.index(i) for i in ids]  # ints and NumPy ints, not floats
        except TypeError:
            raise ValueError("token ids must be integers") from None
        if ids and not (0 <= min(ids) and max(ids) < len(table)):
            bad = next(i for i in ids if not 0 <= i < len(table))
            raise ValueError(f"token id {bad} is not in this vocabulary "
                             f"(ids run from 0 to {len(table) - 1})")
        return b"".join([table[i] for i in ids])

    def decode(self, ids: Iterable[int]) -> str:
        """Text for ``ids``; bytes that are not valid UTF-8 (e.g. a cut-off
        character at the end of a generation) become U+FFFD."""
        return self.decode_bytes(ids).decode("utf-8", errors="replace")

    # --- vocabulary -----------------------------------------------------------

    @property
    def vocab_size(self) -> int:
        return len(self._token_bytes)

    @property
    def token_bytes(self) -> list[bytes]:
        """The bytes of every id, indexed by id (for constrained decoding and inspection)."""
        return list(self._token_bytes)

    @property
    def special_ids(self) -> dict[str, int]:
        return dict(self._specials)

    @property
    def special_tokens(self) -> dict[str, int]:
        """Same as ``special_ids`` (the name used by tiktoken-style code)."""
        return self.special_ids

    def special_id(self, token: str) -> int:
        try:
            return self._specials[token]
        except KeyError:
            raise ValueError(f"this tokenizer has no special token {token!r}; retrain it with "
                             f"special_tokens including it (it has {sorted(self._specials)})") from None

    # The framing tokens; None when a tokenizer was trained without them (like
    # model.data.ByteTokenizer), so callers can test for them.
    @property
    def bos_id(self) -> int | None:
        return self._specials.get("<|bos|>")

    @property
    def eos_id(self) -> int | None:
        return self._specials.get("<|eos|>")

    @property
    def pad_id(self) -> int | None:
        return self._specials.get("<|pad|>")

    # --- files ----------------------------------------------------------------

    def to_json(self) -> dict:
        return {
            "format": FORMAT_NAME,
            "version": FORMAT_VERSION,
            "pattern": self.pattern,
            "special_tokens": list(self._specials),
            "merges": [list(pair) for pair in self.merges],
        }

    def save(self, path: str | os.PathLike) -> None:
        """Write the JSON file atomically (temporary file, then rename)."""
        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        write_atomic(path, self._json_text())

    def _json_text(self) -> str:
        """``to_json`` laid out for people: one merge per line."""
        data = self.to_json()
        merges = data.pop("merges")
        head = json.dumps(data, ensure_ascii=False, indent=1)[:-2]  # drop the closing "\n}"
        lines = ",\n".join(f"  [{a}, {b}]" for a, b in merges)
        return f'{head},\n "merges": [\n{lines}\n ]\n}}\n'

    @classmethod
    def load(cls, path: str | os.PathLike) -> "Tokenizer":
        path = Path(path)
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
        except FileNotFoundError:
            raise TokenizerFileError(f"{path}: no such tokenizer file\n"
                                     "hint: train one with `tiss tokenizer train`") from None
        except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
            raise TokenizerFileError(f"{path}: not a JSON tokenizer file ({exc})") from None
        try:
            return cls.from_json(data)
        except ValueError as exc:
            raise TokenizerFileError(f"{path}: {exc}\nhint: the format is described in "
                                     "docs/tokenizer.md; retrain with `tiss tokenizer train`") from None

    @classmethod
    def from_json(cls, data) -> "Tokenizer":
        if not isinstance(data, dict) or data.get("format") != FORMAT_NAME:
            raise ValueError(f'not a TissLM tokenizer (expected "format": "{FORMAT_NAME}")')
        if data.get("version") != FORMAT_VERSION:
            raise ValueError(f"unsupported version {data.get('version')!r} "
                             f"(this code reads version {FORMAT_VERSION})")
        pattern = data.get("pattern")
        specials = data.get("special_tokens")
        merges = data.get("merges")
        if not isinstance(pattern, str):
            raise ValueError('"pattern" must be a string')
        try:
            re.compile(pattern)
        except re.error as exc:
            raise ValueError(f'"pattern" is not a valid regular expression ({exc})') from None
        if not isinstance(specials, list):
            raise ValueError('"special_tokens" must be a list of strings')
        if not isinstance(merges, list) or not all(
                isinstance(m, list) and len(m) == 2 and all(type(i) is int for i in m)
                for m in merges):
            raise ValueError('"merges" must be a list of [id, id] pairs of integers')
        return cls(merges, specials, pattern)


# --- training -------------------------------------------------------------------


def merge_pair(ids: list[int], pair: tuple[int, int], new_id: int) -> list[int]:
    """Replace every occurrence of ``pair`` in ``ids``, scanning left to right."""
    a, b = pair
    out = []
    i, n = 0, len(ids)
    while i < n:
        if ids[i] == a and i + 1 < n and ids[i + 1] == b:
            out.append(new_id)
            i += 2
        else:
            out.append(ids[i])
            i += 1
    return out


def learn_merges(word_counts: dict[bytes, int], n_merges: int, first_id: int) -> list[tuple[int, int]]:
    """The incremental BPE training loop over distinct words and their counts."""
    words = [list(word) for word in word_counts]
    freqs = list(word_counts.values())
    pair_counts: dict[tuple[int, int], int] = defaultdict(int)
    words_with: dict[tuple[int, int], set[int]] = defaultdict(set)  # pair -> word indices
    for w, (word, freq) in enumerate(zip(words, freqs)):
        for pair in zip(word, word[1:]):
            pair_counts[pair] += freq
            words_with[pair].add(w)
    # Heap entries (-count, a, b): Python's tuple order gives exactly the
    # documented tie-break (highest count, then smallest ids).
    heap = [(-count, a, b) for (a, b), count in pair_counts.items()]
    heapq.heapify(heap)

    merges: list[tuple[int, int]] = []
    while heap and len(merges) < n_merges:
        neg_count, a, b = heapq.heappop(heap)
        count = pair_counts.get((a, b), 0)
        if count != -neg_count:
            # Stale: counts of existing pairs only ever go down, so re-push the
            # true count and look again (unless the pair is gone).
            if count > 0:
                heapq.heappush(heap, (-count, a, b))
            continue
        new_id = first_id + len(merges)
        merges.append((a, b))
        delta: dict[tuple[int, int], int] = defaultdict(int)
        for w in words_with.pop((a, b)):
            old = words[w]
            new = merge_pair(old, (a, b), new_id)
            if len(new) == len(old):  # index entry left over from an earlier merge
                continue
            words[w] = new
            freq = freqs[w]
            for pair in zip(old, old[1:]):
                delta[pair] -= freq
            for pair in zip(new, new[1:]):
                delta[pair] += freq
                if new_id in pair:
                    words_with[pair].add(w)
        for pair, change in delta.items():
            if change == 0:
                continue
            pair_counts[pair] += change
            if pair_counts[pair] <= 0:
                del pair_counts[pair]
            elif new_id in pair:  # a pair that did not exist before this merge
                heapq.heappush(heap, (-pair_counts[pair], *pair))
    return merges


# --- helpers --------------------------------------------------------------------


def _piece_bytes(piece: str) -> bytes:
    try:
        return piece.encode("utf-8", errors="surrogateescape")
    except UnicodeEncodeError as exc:
        raise ValueError(f"text contains the lone surrogate U+{ord(exc.object[exc.start]):04X}, "
                         "which has no UTF-8 encoding; clean the text (e.g. "
                         "s.encode('utf-8', 'replace').decode()) or pass bytes to "
                         "encode_bytes") from None


def _special_splitter(specials: Iterable[str]) -> re.Pattern | None:
    """A regex whose ``split`` keeps the special tokens (longest first wins)."""
    specials = sorted(specials, key=len, reverse=True)
    if not specials:
        return None
    return re.compile("(" + "|".join(map(re.escape, specials)) + ")")


def _is_mergeable(token_id, first_merge: int, new_id: int) -> bool:
    """Merges combine bytes or earlier merges, never special tokens or later ids."""
    return 0 <= token_id < N_BYTES or first_merge <= token_id < new_id


def _check_specials(specials: list) -> None:
    if not all(isinstance(tok, str) and tok for tok in specials):
        raise ValueError(f"special tokens must be non-empty strings, got {specials!r}")
    if len(set(specials)) != len(specials):
        raise ValueError(f"special tokens must be distinct, got {specials!r}")
