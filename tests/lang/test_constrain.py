"""Grammar-constrained decoding (tisslang/constrain.py, docs/decoding.md):
TissLM's own encoding of each example plan is accepted token by token, and
constrained output from random weights always parses."""

from pathlib import Path

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings, strategies as st

import tisslang
from model.config import ModelConfig
from model.model import TissLM
from model.tokenizer import Tokenizer
from tisslang.constrain import PlanConstraint, PlanVocabulary

EXAMPLES = sorted(Path(__file__).parents[2].joinpath("examples").glob("*.tiss"))
# Objects with two or more pairs are outside the generation grammar (a
# duplicate key is not context-free): docs/decoding.md lists these.
NOT_COVERED = {"09_budget_and_directives.tiss", "14_conditions.tiss"}


@pytest.fixture(scope="module")
def tokenizer():
    return Tokenizer.train([p.read_text() for p in EXAMPLES], 600)


@pytest.fixture(scope="module")
def vocabulary(tokenizer):
    return PlanVocabulary(tokenizer.token_bytes, tokenizer.encode_bytes, tokenizer.eos_id,
                          tokenizer.special_ids.values())


@pytest.mark.parametrize("path", [p for p in EXAMPLES if p.name not in NOT_COVERED],
                         ids=lambda p: p.name)
def test_every_token_of_an_example_is_allowed(path, tokenizer, vocabulary):
    constraint = PlanConstraint(vocabulary)
    for token in tokenizer.encode(path.read_text()):
        assert constraint.allowed_mask()[token], (constraint.text[-60:], tokenizer.token_bytes[token])
        constraint.advance(token)
    assert constraint.is_accepting()


def test_a_token_outside_the_grammar_is_masked(tokenizer, vocabulary):
    constraint = PlanConstraint(vocabulary)
    for token in tokenizer.encode('TASK "x" {\n    RUN '):
        constraint.advance(token)
    mask = constraint.allowed_mask()
    assert mask[tokenizer.encode('"')[0]]
    assert not mask[tokenizer.encode("}")[0]]


def _constrained_sample(model, vocabulary, seed: int, budget: int, hard_cap: int) -> bytes | None:
    """Sample constrained tokens; past ``budget`` take the end as soon as it is allowed."""
    rng = np.random.default_rng(seed)
    constraint = PlanConstraint(vocabulary)
    ids = [vocabulary.eos_id]  # any start token
    for step in range(hard_cap):
        logits = model.forward(np.asarray([ids[-model.cfg.context_length + 1:]]))[0, -1]
        allowed = constraint.allowed_mask()
        allowed[vocabulary.eos_id] = constraint.is_accepting()
        if step >= budget and constraint.is_accepting():
            return constraint.text
        logits = np.where(allowed, logits, -np.inf)
        probs = np.exp(logits - logits.max())
        token = int(rng.choice(len(probs), p=probs / probs.sum()))
        if token == vocabulary.eos_id:
            return constraint.text
        constraint.advance(token)
        ids.append(token)
    return None


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(seed=st.integers(0, 2**31 - 1), weights=st.integers(0, 1000), budget=st.integers(1, 60))
def test_constrained_output_from_random_weights_parses(seed, weights, budget, tokenizer, vocabulary):
    model = TissLM(ModelConfig(vocab_size=tokenizer.vocab_size, context_length=64, n_layers=1,
                               d_model=16, n_heads=2), seed=weights)
    text = _constrained_sample(model, vocabulary, seed, budget, hard_cap=400)
    if text is not None:  # ended: the text is a whole plan
        tisslang.parse(text.decode("utf-8"))
