"""model/tokenizer.py: id layout of special tokens, merge validation at its
boundaries, the encoding cache's bound, the file layout and every error's
words. Written for the mutants bench/mutation.py found surviving."""

from __future__ import annotations

import json

import pytest

import model.tokenizer as tokenizer_module
from model.tokenizer import Tokenizer, TokenizerFileError


def test_special_tokens_follow_the_bytes_in_order():
    tok = Tokenizer([(97, 98)], special_tokens=["<a>", "<b>", "<é>"])
    assert tok.special_ids == {"<a>": 256, "<b>": 257, "<é>": 258}
    assert tok.token_bytes[258] == "<é>".encode("utf-8")
    assert tok.encode("ab<b>") == [259, 257]


def test_merges_may_use_byte_zero_but_never_themselves_or_later_ids():
    assert Tokenizer([(0, 0)], special_tokens=[]).encode_bytes(b"\0\0") == [256]
    with pytest.raises(ValueError) as caught:
        Tokenizer([(97, 97), (257, 1)], special_tokens=[])
    assert str(caught.value) == ("merge 1 (257, 1) refers to a special token or to an id "
                                 "not defined before id 257")
    with pytest.raises(ValueError) as caught:
        Tokenizer([(1, 256)], special_tokens=["<s>"])
    assert str(caught.value).startswith("merge 0 (1, 256) refers to a special token")


def test_a_pair_merged_twice_is_refused():
    with pytest.raises(ValueError) as caught:
        Tokenizer([(97, 98), (97, 98)], special_tokens=[])
    assert str(caught.value) == "the same pair is merged twice"


@pytest.mark.parametrize("specials", [[5], [""], [None]])
def test_special_tokens_must_be_non_empty_strings(specials):
    with pytest.raises(ValueError) as caught:
        Tokenizer([], special_tokens=specials)
    assert str(caught.value) == f"special tokens must be non-empty strings, got {specials!r}"


def test_training_keeps_its_pattern_and_refuses_one_string():
    tok = Tokenizer.train(["aaaa bbbb"] * 5, vocab_size=260, special_tokens=[], pattern=r"\S+|\s")
    assert tok.pattern == r"\S+|\s"
    with pytest.raises(ValueError) as caught:
        Tokenizer.train("one text", vocab_size=300)
    assert str(caught.value) == ("texts must be an iterable of strings, not one string; "
                                 "pass [text] to train on a single text")


def test_the_longest_special_token_wins():
    tok = Tokenizer([], special_tokens=["<x>", "<x>y"])
    assert tok.encode("<x>y") == [257]
    assert tok.encode("<x>z") == [256, ord("z")]


def test_encode_names_the_wrong_type():
    with pytest.raises(TypeError) as caught:
        Tokenizer([]).encode(b"bytes")
    assert str(caught.value) == "encode takes a str, not bytes; use encode_bytes for bytes"


def test_decode_accepts_every_id_from_zero_and_names_the_first_bad_one():
    tok = Tokenizer([], special_tokens=["<s>"])
    assert tok.decode_bytes([0, 256]) == b"\0<s>"
    with pytest.raises(ValueError) as caught:
        tok.decode_bytes([1, 257, -1])
    assert str(caught.value) == "token id 257 is not in this vocabulary (ids run from 0 to 256)"
    with pytest.raises(ValueError) as caught:
        tok.decode_bytes([0, 300])   # id 0 is fine: the bad one is named
    assert str(caught.value).startswith("token id 300 is not in this vocabulary")
    with pytest.raises(ValueError) as caught:
        tok.decode_bytes([1.0])
    assert str(caught.value) == "token ids must be integers"


def test_the_encoding_cache_stays_bounded_and_results_stay_right(monkeypatch):
    monkeypatch.setattr(tokenizer_module, "CACHE_LIMIT", 3)
    tok = Tokenizer([(97, 98)], special_tokens=[])
    for i in range(10):
        assert tok.encode(f"ab{i}") == [256, ord(str(i))]
        assert len(tok._cache) <= 3


def test_a_saved_file_is_readable_by_people_and_loads_back(tmp_path):
    tok = Tokenizer([(97, 98), (257, 99)], special_tokens=["<é>"])
    path = tmp_path / "deep" / "er" / "tok.json"
    tok.save(path)
    text = path.read_text(encoding="utf-8")
    assert '"<é>"' in text                       # not escaped to \u00e9
    assert '\n "format": "tisslm-bpe",\n' in text   # one space of indentation
    assert text.endswith('"merges": [\n  [97, 98],\n  [257, 99]\n ]\n}\n')
    again = Tokenizer.load(path)
    assert again.to_json() == tok.to_json()


def test_load_errors_say_how_to_get_a_good_file(tmp_path):
    with pytest.raises(TokenizerFileError) as caught:
        Tokenizer.load(tmp_path / "none.json")
    assert str(caught.value) == f"{tmp_path / 'none.json'}: no such tokenizer file\nhint: train one with `tiss tokenizer train`"
    bad = tmp_path / "bad.json"
    bad.write_text(json.dumps({"format": "tisslm-bpe", "version": 1, "pattern": 3}))
    with pytest.raises(TokenizerFileError) as caught:
        Tokenizer.load(bad)
    assert str(caught.value) == (f'{bad}: "pattern" must be a string\nhint: the format is described in '
                                 "docs/tokenizer.md; retrain with `tiss tokenizer train`")


@pytest.mark.parametrize("change, message", [
    ({"special_tokens": "x"}, '"special_tokens" must be a list of strings'),
    ({"merges": [[1, 2, 3]]}, '"merges" must be a list of [id, id] pairs of integers'),
])
def test_from_json_names_the_bad_field(change, message):
    data = {**Tokenizer([]).to_json(), **change}
    with pytest.raises(ValueError) as caught:
        Tokenizer.from_json(data)
    assert str(caught.value) == message


def test_from_json_keeps_the_pattern():
    data = {**Tokenizer([]).to_json(), "pattern": r"\S+|\s"}
    assert Tokenizer.from_json(data).pattern == r"\S+|\s"


def test_a_lone_surrogate_outside_the_byte_range_is_explained():
    with pytest.raises(ValueError) as caught:
        Tokenizer([]).encode("a\ud800b")
    assert str(caught.value) == ("text contains the lone surrogate U+D800, which has no UTF-8 encoding; "
                                 "clean the text (e.g. s.encode('utf-8', 'replace').decode()) "
                                 "or pass bytes to encode_bytes")
