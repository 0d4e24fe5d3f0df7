"""``tiss tokenizer train|encode|decode`` end to end, through the real dispatcher."""

from __future__ import annotations

import io

import pytest

from model.tokenizer import Tokenizer
from runtime.cli import main


@pytest.fixture
def corpus(tmp_path):
    path = tmp_path / "corpus.txt"
    path.write_text("To be, or not to be, that is the question:\n" * 30
                    + "Whether 'tis nobler in the mind to suffer\n" * 10, encoding="utf-8")
    return path


def test_train_then_encode_and_decode(corpus, tmp_path, capsys):
    out = tmp_path / "tok.json"
    assert main(["tokenizer", "train", str(corpus), "--vocab-size", "300", "-o", str(out)]) == 0
    report = capsys.readouterr().out
    assert "trained 300 ids" in report and "bytes per token" in report
    tok = Tokenizer.load(out)
    assert tok.vocab_size == 300

    assert main(["tokenizer", "encode", "-t", str(out), "<|bos|>To be, or not"]) == 0
    ids = [int(i) for i in capsys.readouterr().out.split()]
    assert ids == tok.encode("<|bos|>To be, or not") and ids[0] == tok.bos_id

    assert main(["tokenizer", "decode", "-t", str(out), *map(str, ids)]) == 0
    assert capsys.readouterr().out == "<|bos|>To be, or not\n"


def test_encode_and_decode_read_stdin(corpus, tmp_path, capsys, monkeypatch):
    out = tmp_path / "tok.json"
    main(["tokenizer", "train", str(corpus), "--vocab-size", "280", "-o", str(out)])
    capsys.readouterr()
    monkeypatch.setattr("sys.stdin", io.StringIO("the question\n"))
    assert main(["tokenizer", "encode", "-t", str(out)]) == 0
    ids = capsys.readouterr().out
    monkeypatch.setattr("sys.stdin", io.StringIO(ids))
    assert main(["tokenizer", "decode", "-t", str(out)]) == 0
    assert capsys.readouterr().out == "the question\n"


def test_train_notes_an_exhausted_corpus(tmp_path, capsys):
    tiny = tmp_path / "tiny.txt"
    tiny.write_text("ab ab")
    assert main(["tokenizer", "train", str(tiny), "--vocab-size", "4096",
                 "-o", str(tmp_path / "t.json")]) == 0
    assert "ran out of pairs" in capsys.readouterr().out


@pytest.mark.parametrize("argv, message", [
    (["tokenizer", "train", "/no/such/corpus.txt"], "corpus not found: /no/such/corpus.txt"),
    (["tokenizer", "train", "CORPUS", "--vocab-size", "10"], "vocab_size 10 is too small"),
    (["tokenizer", "encode", "-t", "/no/such.json", "hi"], "no such tokenizer file"),
    (["tokenizer", "decode", "-t", "TOK", "12", "x1"], "'x1' is not a token id"),
    (["tokenizer", "decode", "-t", "TOK", "99999"], "token id 99999 is not in this vocabulary"),
])
def test_bad_input_is_one_clear_error(corpus, tmp_path, capsys, argv, message):
    tok_path = tmp_path / "tok.json"
    Tokenizer.train([corpus.read_text()], vocab_size=280).save(tok_path)
    argv = [{"CORPUS": str(corpus), "TOK": str(tok_path)}.get(a, a) for a in argv]
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: ") and message in err and "Traceback" not in err


def test_tokenizer_without_action_prints_usage(capsys):
    assert main(["tokenizer"]) == 2
    assert "train" in capsys.readouterr().err
