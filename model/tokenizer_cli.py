"""``tiss tokenizer train|encode|decode``: build and try TissLM's BPE tokenizer.

    tiss tokenizer train shakespeare --vocab-size 4096 -o tokenizer.json
    tiss tokenizer encode -t tokenizer.json "To be, or not to be"
    tiss tokenizer decode -t tokenizer.json 428 318 44 545 337
"""

from __future__ import annotations

import argparse
import sys
import time


def register(subparsers) -> None:
    parser = subparsers.add_parser(
        "tokenizer", help="train and try TissLM's byte-level BPE tokenizer",
        description="Train TissLM's byte-level BPE tokenizer and use it from the shell.")
    parser.set_defaults(func=lambda args: _usage(parser))
    actions = parser.add_subparsers(dest="action", metavar="ACTION")

    train = actions.add_parser(
        "train", help="learn a vocabulary from a corpus",
        description="Learn BPE merges from text files, directories (their .txt/.py/.md/.tiss "
                    "files) or the built-in corpora `shakespeare` and `stdlib`.")
    train.add_argument("corpus", nargs="+", help="files, directories, shakespeare or stdlib")
    train.add_argument("--vocab-size", type=int, default=4096,
                       help="total ids: 256 bytes + special tokens + merges (default 4096)")
    train.add_argument("-o", "--output", default="tokenizer.json",
                       help="where to write the tokenizer (default tokenizer.json)")
    train.set_defaults(func=_train)

    encode = actions.add_parser("encode", help="print the ids of a text")
    encode.add_argument("text", nargs="?", default="-", help="the text (default: read stdin)")
    encode.add_argument("-t", "--tokenizer", default="tokenizer.json")
    encode.add_argument("--tokens", action="store_true",
                        help="print each token's text next to its id, one per line")
    encode.set_defaults(func=_encode)

    decode = actions.add_parser("decode", help="print the text of some ids")
    decode.add_argument("ids", nargs="*", help="token ids (default: read them from stdin)")
    decode.add_argument("-t", "--tokenizer", default="tokenizer.json")
    decode.set_defaults(func=_decode)


def _usage(parser: argparse.ArgumentParser) -> int:
    parser.print_help(sys.stderr)
    return 2


def _train(args) -> int:
    from model.data import DataError, corpus_files
    from model.tokenizer import Tokenizer

    try:
        files = corpus_files(args.corpus)
        started = time.perf_counter()
        tokenizer = Tokenizer.train(map(_read, files), args.vocab_size)
        seconds = time.perf_counter() - started
        tokenizer.save(args.output)
        # compression on the corpus, a file at a time so big corpora fit in memory
        n_bytes = n_tokens = 0
        for path in files:
            data = path.read_bytes()
            n_bytes += len(data)
            n_tokens += len(tokenizer.encode_bytes(data))
    except (DataError, ValueError, OSError) as exc:
        return _fail(exc)
    n_merges = len(tokenizer.merges)
    print(f"trained {tokenizer.vocab_size} ids (256 bytes, {len(tokenizer.special_ids)} special, "
          f"{n_merges} merges) on {len(files)} file(s), {n_bytes / 1e6:.2f} MB, in {seconds:.1f} s")
    if tokenizer.vocab_size < args.vocab_size:
        print(f"note: the corpus ran out of pairs to merge before --vocab-size {args.vocab_size}")
    print(f"{n_bytes / max(n_tokens, 1):.2f} bytes per token on the corpus; wrote {args.output}")
    return 0


def _read(path) -> str:
    # surrogateescape keeps bytes that are not UTF-8, so any file trains exactly
    return path.read_bytes().decode("utf-8", errors="surrogateescape")


def _encode(args) -> int:
    from model.tokenizer import Tokenizer

    text = sys.stdin.read() if args.text == "-" else args.text
    try:
        tokenizer = Tokenizer.load(args.tokenizer)
        ids = tokenizer.encode(text)
    except ValueError as exc:
        return _fail(exc)
    if args.tokens:
        for token_id in ids:
            shown = tokenizer.decode_bytes([token_id]).decode("utf-8", errors="backslashreplace")
            print(token_id, repr(shown))
    else:
        print(" ".join(map(str, ids)))
    return 0


def _decode(args) -> int:
    from model.tokenizer import Tokenizer

    words = args.ids or sys.stdin.read().split()
    try:
        tokenizer = Tokenizer.load(args.tokenizer)
        bad = next((w for w in words if not (w.isascii() and w.isdigit())), None)
        if bad is not None:
            raise ValueError(f"{bad!r} is not a token id (ids are whole numbers >= 0)")
        text = tokenizer.decode([int(w) for w in words])
    except ValueError as exc:
        return _fail(exc)
    sys.stdout.write(text + ("" if text.endswith("\n") else "\n"))
    return 0


def _fail(exc: Exception) -> int:
    print(f"error: {exc}", file=sys.stderr)
    return 2
