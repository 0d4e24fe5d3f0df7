"""TissLM: a decoder-only transformer with a hand-written backward pass.

    ids (B, T) -> token embedding (+ sinusoidal/learned positions) -> dropout
      -> n_layers x [ x + drop(attn(norm1(x))) ;  x + drop(ffn(norm2(x))) ]
      -> final norm -> logits (B, T, V)   (output matrix = embedding^T if tied)

Usage::

    m = TissLM(cfg, seed=0)
    loss = m.loss(ids, targets, train=True, rng=rng)  # caches what backward needs
    m.backward()                                      # fills m.grads (overwrites)
    logits = m.forward(ids)                           # eval mode, (B, T, V)

    cache = m.new_cache(batch_size, max_len)
    logits = m.forward_cached(ids_new, cache, pad_mask=None)

Training splits each batch into ``SHARDS`` groups of rows, each run by its own
copy of the layers (``Network``) over the same weights, in parallel threads
when that is faster (model/threads.py): data parallelism over the cores.
The split depends only on the batch size, so results do not depend on the
number of threads.

Constructing or loading a TissLM changes no process-wide setting and allocates
no gradient buffers (they come with the first ``backward``): a model that only
generates costs its weights. The trainer tunes the process for training
(``model.train.tune_process_for_training``: malloc thresholds, one BLAS thread).
"""

from __future__ import annotations

import math
import time

import numpy as np

from model.attention import CausalSelfAttention
from model.config import ModelConfig
from model.dropout import dropout_mask
from model.embedding import Embedding
from model.feedforward import make_feedforward
from model.kv_cache import CacheFullError, KVCache
from model.loss import cross_entropy
from model.norm import make_norm
from model.parameters import ParamStore
from model.positions import RotaryEmbedding, sinusoidal_table
from model.threads import ThreadChooser, in_parallel

SHARDS = 2  # training batches are split in (at most) this many groups of rows


class Block:
    """One pre-norm transformer block."""

    def __init__(self, cfg: ModelConfig, store: ParamStore, index: int,
                 rng: np.random.Generator, rope: RotaryEmbedding | None) -> None:
        name = f"blocks.{index}"
        # GPT-2's trick: shrink the init of the layers that write into the
        # residual stream, so its variance does not grow with depth.
        out_std = 0.02 / math.sqrt(2 * cfg.n_layers)
        self.index, self.dropout = index, cfg.dropout
        self.norm1 = make_norm(cfg.norm, store, f"{name}.norm1", cfg.d_model, cfg.norm_eps)
        self.attn = CausalSelfAttention(store, f"{name}.attn", cfg.d_model, cfg.n_heads,
                                        cfg.n_kv_heads, rng, out_std, rope)
        self.norm2 = make_norm(cfg.norm, store, f"{name}.norm2", cfg.d_model, cfg.norm_eps)
        self.ffn = make_feedforward(cfg.ffn, store, f"{name}.ffn", cfg.d_model, cfg.d_ff,
                                    rng, out_std)

    def forward(self, x, B, T, positions=None, cache=None, allowed=None,
                keep=True, rng=None):
        """x: (B*T, C) residual stream rows -> (B*T, C)."""
        a = self.attn.forward(self.norm1.forward(x, keep), B, T, positions, cache,
                              self.index, allowed, keep)
        mask_attn = self._drop(a, rng)
        x = x + a
        f = self.ffn.forward(self.norm2.forward(x, keep), keep)
        mask_ffn = self._drop(f, rng)
        x += f
        if keep:
            self.mask_attn, self.mask_ffn = mask_attn, mask_ffn
        return x

    def backward(self, dx, B, T):
        # x2 = x1 + drop(ffn(norm2(x1))): the residual passes dx straight through
        df = dx if self.mask_ffn is None else dx * self.mask_ffn
        dx = dx + self.norm2.backward(self.ffn.backward(df))
        # x1 = x0 + drop(attn(norm1(x0)))
        da = dx if self.mask_attn is None else dx * self.mask_attn
        dx += self.norm1.backward(self.attn.backward(da, B, T))
        return dx

    def _drop(self, y, rng):
        """Apply dropout in place when training; return the mask (or None)."""
        if rng is None or self.dropout == 0.0:
            return None
        mask = dropout_mask(y.shape, self.dropout, rng, y.dtype)
        y *= mask
        return mask


class Network:
    """The layers, bound to one ParamStore; forward keeps what backward needs."""

    def __init__(self, cfg: ModelConfig, store: ParamStore, rng: np.random.Generator) -> None:
        self.cfg, self.store = cfg, store
        self.tok_emb = Embedding(store, "tok_emb", cfg.vocab_size, cfg.d_model, rng)
        self.pos_table = None
        rope = None
        if cfg.positions == "rope":
            rope = RotaryEmbedding(cfg.head_dim, cfg.context_length, cfg.rope_base, store.dtype)
        elif cfg.positions == "sinusoidal":
            self.pos_table = sinusoidal_table(cfg.context_length, cfg.d_model, store.dtype)
        else:
            store.normal("pos_emb", (cfg.context_length, cfg.d_model), 0.02, rng)
        self.blocks = [Block(cfg, store, i, rng, rope) for i in range(cfg.n_layers)]
        self.norm_f = make_norm(cfg.norm, store, "norm_f", cfg.d_model, cfg.norm_eps)
        if not cfg.tied_embeddings:
            store.normal("lm_head", (cfg.d_model, cfg.vocab_size), 0.02, rng)
        self.saved = None

    def output_matrix(self) -> np.ndarray:
        """(C, V): the tied embedding transposed, or the separate lm_head."""
        if self.cfg.tied_embeddings:
            return self.store.params["tok_emb"].T
        return self.store.params["lm_head"]

    def logits(self, ids, positions=None, cache=None, allowed=None, keep=False, rng=None):
        """ids (B, T) -> logits rows (B*T, V), and the final hidden rows h (B*T, C)."""
        B, T = ids.shape
        x = self.tok_emb.forward(ids).reshape(B * T, -1)
        if self.pos_table is not None or "pos_emb" in self.store.params:
            table = self.pos_table if self.pos_table is not None else self.store.params["pos_emb"]
            pos = table[:T] if positions is None else table[positions]       # (T|B,T, C)
            x = (x.reshape(B, T, -1) + pos).reshape(B * T, -1)
        mask_emb = None
        if rng is not None and self.cfg.dropout > 0.0:
            mask_emb = dropout_mask(x.shape, self.cfg.dropout, rng, x.dtype)
            x = x * mask_emb
        for block in self.blocks:
            x = block.forward(x, B, T, positions, cache, allowed, keep, rng)
        h = self.norm_f.forward(x, keep)
        if keep:
            self.saved = (ids, h, mask_emb)
        return h @ self.output_matrix()

    def loss(self, ids, targets, rng) -> float:
        """Mean cross-entropy over the valid targets of these rows; keeps dL/dlogits."""
        logits = self.logits(ids, keep=True, rng=rng)                        # (B*T, V)
        value, self.dlogits = cross_entropy(logits, targets.reshape(-1),
                                            self.cfg.label_smoothing)
        return value

    def backward(self) -> None:
        """Fill this network's grads for its last ``loss`` (overwriting)."""
        ids, h, mask_emb = self.saved
        dlogits = self.dlogits
        self.saved = self.dlogits = None
        B, T = ids.shape
        grads = self.store.grads
        # logits = h @ W_out
        if self.cfg.tied_embeddings:
            d_out = dlogits.T @ h                                            # (V, C)
        else:
            d_out = np.matmul(h.T, dlogits, out=grads["lm_head"])            # (C, V)
        dx = dlogits @ self.output_matrix().T                                # (B*T, C)
        dx = self.norm_f.backward(dx)
        for block in reversed(self.blocks):
            dx = block.backward(dx, B, T)
        if mask_emb is not None:
            dx *= mask_emb
        if "pos_emb" in grads:
            np.sum(dx.reshape(B, T, -1), axis=0, out=grads["pos_emb"][:T])
            grads["pos_emb"][T:] = 0.0
        self.tok_emb.backward(ids, dx)
        if self.cfg.tied_embeddings:
            grads["tok_emb"] += d_out


class TissLM:
    def __init__(self, cfg: ModelConfig, seed: int = 0) -> None:
        self.cfg = cfg
        self.dtype = np.dtype(cfg.dtype)
        self._rng = np.random.default_rng(seed + 1)  # dropout, when no rng is given
        self.store = ParamStore(self.dtype)
        self.net = Network(cfg, self.store, np.random.default_rng(seed))
        self._shards: list[Network] | None = None  # built by the first loss(): training only
        self.threads = ThreadChooser()  # run shards in parallel or not: model/threads.py
        self._step = None  # (networks used, weights, start time) between loss and backward

    @property
    def shards(self) -> list[Network]:
        """The layers once per shard of a training batch: more copies over the
        same weights, each with its own grads (their initial draws are thrown away)."""
        if self._shards is None:
            self._shards = [self.net] + [
                Network(self.cfg, ParamStore(self.dtype, shared_params=self.store.params),
                        np.random.default_rng(0))
                for _ in range(SHARDS - 1)]
        return self._shards

    @property
    def params(self) -> dict[str, np.ndarray]:
        return self.store.params

    @property
    def grads(self) -> dict[str, np.ndarray]:
        return self.store.grads

    def num_params(self) -> int:
        return sum(p.size for p in self.params.values())

    # -- checks ----------------------------------------------------------------
    def _check_ids(self, ids) -> np.ndarray:
        ids = np.asarray(ids)
        if ids.ndim != 2 or not np.issubdtype(ids.dtype, np.integer):
            raise ValueError(f"token ids must be a 2-D integer array (batch, time), "
                             f"got shape {ids.shape} of {ids.dtype}")
        if ids.size and (ids.min() < 0 or ids.max() >= self.cfg.vocab_size):
            bad = int(ids.max() if ids.max() >= self.cfg.vocab_size else ids.min())
            raise ValueError(f"token id {bad} is outside the vocabulary "
                             f"[0, {self.cfg.vocab_size}); check the tokenizer matches the model")
        if ids.shape[1] > self.cfg.context_length:
            raise ValueError(f"sequence of {ids.shape[1]} tokens is longer than the model's "
                             f"context_length ({self.cfg.context_length})")
        return ids

    # -- forward ---------------------------------------------------------------
    def forward(self, ids, pad_mask=None) -> np.ndarray:
        """Evaluation forward: ids (B, T) -> logits (B, T, V); no dropout.

        With left padding, ``pad_mask`` (B, T) marks real tokens: pads are kept
        out of attention and positions count only real tokens.
        """
        ids = self._check_ids(ids)
        B, T = ids.shape
        if pad_mask is not None:
            cache = self.new_cache(B, T)
            return self.forward_cached(ids, cache, pad_mask)
        return self.net.logits(ids).reshape(B, T, -1)

    # -- training --------------------------------------------------------------
    def loss(self, ids, targets, train: bool = True,
             rng: np.random.Generator | None = None) -> float:
        """Mean cross-entropy of next-token targets (B, T); negative targets are
        ignored. Keeps what ``backward`` needs. Dropout is active only when
        ``train`` is true (drawing from ``rng``, or the model's own generator)."""
        ids = self._check_ids(ids)
        targets = np.asarray(targets)
        if targets.shape != ids.shape:
            raise ValueError(f"targets shape {targets.shape} differs from ids shape {ids.shape}")
        started = time.perf_counter()
        # rows for each shard; a shard whose targets are all ignored sits out
        B = ids.shape[0]
        splits = [slice(i * B // SHARDS, (i + 1) * B // SHARDS) for i in range(SHARDS)]
        splits = [rows for rows in splits if (targets[rows] >= 0).any()] or [slice(0, B)]
        counts = np.array([(targets[rows] >= 0).sum() for rows in splits], dtype=np.float64)
        drop_rngs = [None] * len(splits)
        if train and self.cfg.dropout > 0.0:  # one generator per shard, drawn in order
            parent = rng if rng is not None else self._rng
            drop_rngs = [np.random.default_rng(s) for s in parent.integers(0, 2**63, len(splits))]
        values = [0.0] * len(splits)
        shards = self.shards  # built here, before the worker threads use them

        def shard_loss(i):
            values[i] = shards[i].loss(ids[splits[i]], targets[splits[i]], drop_rngs[i])

        workers = self.threads.begin_step() if train else self.threads.chosen
        in_parallel(shard_loss, len(splits), workers)
        weights = counts / counts.sum()
        self._step = (len(splits), weights, started, train)
        return float(np.dot(weights, values))

    def backward(self) -> None:
        """Fill ``grads`` with dL/dparam for the last ``loss`` call (overwriting)."""
        if self._step is None:
            raise RuntimeError("backward() needs a loss(...) call first")
        n, weights, started, train = self._step
        self._step = None
        in_parallel(lambda i: self.shards[i].backward(), n,
                    self.threads.workers if train else self.threads.chosen)
        if n > 1:  # the batch mean: weight each shard by its share of the targets
            for name, g in self.grads.items():
                g *= weights[0]
                for shard, w in zip(self.shards[1:n], weights[1:]):
                    g += w * shard.store.grads[name]
        if train:
            self.threads.end_step(time.perf_counter() - started)

    # -- generation ------------------------------------------------------------
    def new_cache(self, batch_size: int, max_len: int | None = None) -> KVCache:
        max_len = self.cfg.context_length if max_len is None else max_len
        if max_len > self.cfg.context_length:
            raise ValueError(f"a cache of {max_len} tokens exceeds the model's "
                             f"context_length ({self.cfg.context_length})")
        return KVCache(self.cfg.n_layers, batch_size, max_len, self.cfg.n_kv_heads,
                       self.cfg.head_dim, self.dtype)

    def forward_cached(self, ids_new, cache: KVCache, pad_mask=None) -> np.ndarray:
        """Feed t new tokens per row, (B, t); returns their logits (B, t, V).

        Keys/values go into ``cache``. ``pad_mask`` (B, t), True for real
        tokens, supports left padding: each row's logits equal its unbatched ones.
        """
        ids_new = self._check_ids(ids_new)
        B, t = ids_new.shape
        if pad_mask is None:
            pad_mask = np.ones((B, t), dtype=bool)
        pad_mask = np.asarray(pad_mask, dtype=bool)
        if pad_mask.shape != ids_new.shape:
            raise ValueError(f"pad_mask shape {pad_mask.shape} differs from ids shape {ids_new.shape}")
        positions = cache.begin(pad_mask)
        if positions.size and positions.max() >= self.cfg.context_length:
            raise CacheFullError(f"position {int(positions.max())} is beyond the model's "
                                 f"context_length ({self.cfg.context_length})")
        allowed = cache.attention_mask(t)
        logits = self.net.logits(ids_new, positions, cache, allowed)
        cache.commit(pad_mask)
        return logits.reshape(B, t, -1)
