"""Grammar-constrained decoding (tisslang/constrain.py, docs/decoding.md):
TissLM's own encoding of each example plan is accepted token by token, and
every prefix of one has an ending that parses, and budgeted constrained
output from random weights always ends as a whole plan."""

from pathlib import Path

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings, strategies as st

import tisslang
from model.config import ModelConfig
from model.generate import SamplingParams, generate_ids
from model.model import TissLM
from model.tokenizer import Tokenizer
from tisslang.constrain import ConstraintError, PlanConstraint, PlanVocabulary
from tisslang.checker import check
from tisslang.keywords import BUDGET_KEYS, DURATION_BUDGET

EXAMPLES = sorted(Path(__file__).parents[2].joinpath("examples").glob("*.tiss"))
NOT_COVERED: set[str] = set()  # examples outside the generation grammar


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



def test_set_budget_is_only_generated_as_the_checker_accepts_it(tokenizer, vocabulary):
    """A key or value the checker refuses (`SET_BUDGET EOF4GU = 1`,
    `SET_BUDGET EXECUTION_TIME = 43`, both written by a barely trained
    planner) is never generated."""
    def allowed(text):
        constraint = PlanConstraint(vocabulary)
        for token in tokenizer.encode(text):
            if not constraint.allowed_mask()[token]:
                return False
            constraint.advance(token)
        return True
    for key in BUDGET_KEYS:
        value = "5m" if key == DURATION_BUDGET else "3"
        assert allowed(f"SET_BUDGET {key} = {value}\n")
        assert not check(tisslang.parse(f'SET_BUDGET {key} = {value}\nLOG "x"\n'))
    assert not allowed("SET_BUDGET X")
    assert not allowed("SET_BUDGET RUN_COUNTS")
    assert not allowed(f"SET_BUDGET {DURATION_BUDGET} = 43\n")
    assert not allowed(f"SET_BUDGET {DURATION_BUDGET} = 0s")
    assert not allowed("SET_BUDGET RUN_COUNT = 0")
    assert not allowed("SET_BUDGET RUN_COUNT = 2s")

@pytest.mark.parametrize("path", [p for p in EXAMPLES if p.name not in NOT_COVERED],
                         ids=lambda p: p.name)
def test_every_prefix_of_an_example_has_an_ending_that_parses(path, tokenizer, vocabulary):
    constraint = PlanConstraint(vocabulary)
    for token in tokenizer.encode(path.read_text()):
        constraint.advance(token)
        tisslang.parse((constraint.text + constraint.ending()).decode("utf-8"))


CAP = 400  # a budget far past where a random model tends to stop
SHORTEST = len(b'LOG ""')  # the shortest plan steering finds: one statement


@pytest.mark.parametrize("text", ["", "\n", 'TASK "x" {}', 'TASK "x" {\n}', 'TASK "x"\n',
                                  '#TISS! Language=Python\n'])
def test_a_plan_without_a_statement_is_not_accepted(text, tokenizer, vocabulary):
    """Either a token of it is masked (`}` closing an empty TASK) or, all
    allowed, the text is only a prefix of a plan."""
    constraint = PlanConstraint(vocabulary)
    for token in tokenizer.encode(text):
        if not constraint.allowed_mask()[token]:
            return
        constraint.advance(token)
    assert not constraint.is_accepting()


def test_a_budget_too_small_for_one_statement_is_refused(vocabulary):
    with pytest.raises(ConstraintError, match=f"at least {SHORTEST}"):
        PlanConstraint(vocabulary, max_tokens=SHORTEST - 1)


@settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(seed=st.integers(0, 2**31 - 1), weights=st.integers(0, 1000),
       budget=st.one_of(st.integers(SHORTEST, 60), st.just(CAP)))
def test_every_budgeted_run_from_random_weights_ends_with_a_plan(seed, weights, budget,
                                                                 tokenizer, vocabulary):
    """The real generation loop, random weights and seeds: whatever the budget,
    the output is a whole plan when the tokens run out (or the model stops)."""
    model = TissLM(ModelConfig(vocab_size=tokenizer.vocab_size, context_length=CAP + 2,
                               n_layers=1, d_model=16, n_heads=2), seed=weights)
    constraint = PlanConstraint(vocabulary, max_tokens=budget)
    new_ids, _ = generate_ids(model, [[tokenizer.bos_id]],
                              SamplingParams(max_new_tokens=budget, seed=seed),
                              eos_id=tokenizer.eos_id, constraint=constraint)
    assert len(new_ids[0]) <= budget
    assert constraint.is_accepting(), constraint.text[-80:]
    tisslang.parse(tokenizer.decode(new_ids[0]))


@settings(max_examples=12, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(seed=st.integers(0, 2**31 - 1), budget=st.integers(SHORTEST, 60))
def test_random_walks_through_the_generation_grammar_parse(seed, budget, vocabulary):
    """generation.lark stays inside what tisslang.parse accepts: a walk that
    picks uniformly among the allowed tokens (no model, so no taste for any
    part of the grammar) always ends with a plan that parses."""
    rng = np.random.default_rng(seed)
    constraint = PlanConstraint(vocabulary, max_tokens=budget)
    while constraint.remaining > 0:
        allowed = np.flatnonzero(constraint.allowed_mask())
        if not len(allowed) or (constraint.is_accepting() and rng.random() < 0.05):
            break
        constraint.advance(int(rng.choice(allowed)))
    assert constraint.is_accepting(), constraint.text[-80:]
    tisslang.parse(constraint.text.decode("utf-8"))


@pytest.fixture(scope="module")
def bytes_only():
    """The byte-level tokenizer without merges or special tokens: 256 ids, no
    end-of-sequence token (llguidance then adds one of its own)."""
    tokenizer = Tokenizer([], [])
    return tokenizer, PlanVocabulary(tokenizer.token_bytes, tokenizer.encode_bytes)


def test_a_byte_vocabulary_accepts_every_example_byte_by_byte(bytes_only):
    tokenizer, vocabulary = bytes_only
    for path in EXAMPLES:
        if path.name in NOT_COVERED:
            continue
        constraint = PlanConstraint(vocabulary)
        for token in tokenizer.encode(path.read_text()):
            assert len(constraint.allowed_mask()) == 256
            assert constraint.allowed_mask()[token], (path.name, constraint.text[-60:])
            constraint.advance(token)
        assert constraint.is_accepting(), path.name


@settings(max_examples=5, deadline=None)
@given(seed=st.integers(0, 2**31 - 1), budget=st.integers(SHORTEST, 80))
def test_a_constrained_run_over_a_byte_vocabulary_parses(seed, budget, bytes_only):
    tokenizer, vocabulary = bytes_only
    model = TissLM(ModelConfig(vocab_size=256, context_length=budget + 2,
                               n_layers=1, d_model=16, n_heads=2), seed=seed % 1000)
    constraint = PlanConstraint(vocabulary, max_tokens=budget)
    new_ids, _ = generate_ids(model, [tokenizer.encode("\n")],
                              SamplingParams(max_new_tokens=budget, seed=seed),
                              constraint=constraint)
    assert constraint.is_accepting(), constraint.text[-80:]
    tisslang.parse(tokenizer.decode(new_ids[0]))


@pytest.mark.parametrize("text, closing", [("{a: 1, a", ":"), ('{a: 1, "a', '"'),
                                           ('{"a": 1, b: {a: 2}, a', ":"),
                                           ("{a: 1, b: 2, b", ":")])
def test_a_token_completing_a_duplicate_key_is_masked(text, closing, bytes_only):
    """A CFG cannot exclude a duplicate key, so the constraint does."""
    tokenizer, vocabulary = bytes_only
    constraint = PlanConstraint(vocabulary)
    for token in tokenizer.encode('TASK "x" {\n    VAR o = ' + text):
        assert constraint.allowed_mask()[token]
        constraint.advance(token)
    mask = constraint.allowed_mask()
    assert not mask[ord(closing)]
    assert mask[ord("1")]  # another key (`a1`) is still welcome


@settings(max_examples=15, deadline=None)
@given(seed=st.integers(0, 2**31 - 1), budget=st.integers(SHORTEST, 60))
def test_random_walks_inside_an_object_never_repeat_a_key(seed, budget, bytes_only):
    """Byte by byte from an open object, with few keys to pick from (uniform
    bytes make `a` and `s` keys often): the plan parses, so no key repeats."""
    tokenizer, vocabulary = bytes_only
    rng = np.random.default_rng(seed)
    constraint = PlanConstraint(vocabulary, max_tokens=budget + 20)
    for token in tokenizer.encode('VAR o = {a: 1, s: 2, '):
        constraint.advance(token)
    while constraint.remaining > 0:
        allowed = np.flatnonzero(constraint.allowed_mask())
        if not len(allowed) or (constraint.is_accepting() and rng.random() < 0.05):
            break
        keys = [t for t in allowed if bytes([t]) in b'as:,"}']  # favour short keys
        pick = keys if keys and rng.random() < 0.7 else allowed
        constraint.advance(int(rng.choice(pick)))
    assert constraint.is_accepting(), constraint.text[-80:]
    tisslang.parse(constraint.text.decode("utf-8"))


# --- the planner's slot markers (runtime/slots.py) ------------------------------

MARKERS = ("«F0»", "«T0»")


def _feed(constraint, tokenizer, text: str) -> str | None:
    """Feed ``text``; the piece refused first, or None if all was allowed."""
    for token in tokenizer.encode(text):
        if not constraint.allowed_mask()[token]:
            return tokenizer.token_bytes[token].decode("utf-8", "replace")
        constraint.advance(token)
    return None


@pytest.mark.parametrize("text, refused", [
    ('WRITE "«F0»" <<EOF\n«T0» and more\nEOF\n', None),
    ('WRITE "«F1»" "x"\n', "1"),               # a marker the goal does not have
    ('WRITE "«T0»" "«X0»"\n', "X"),             # a type there is none of
    ('LOG "a « b"\n', " "),                     # « only as a whole marker
    ('RUN <<SH\necho »\nSH\n', "\n"),            # in a body too (» is refused; bytes: its tail)
])
def test_strings_and_bodies_hold_only_the_goals_markers(text, refused, bytes_only):
    tokenizer, vocabulary = bytes_only
    constraint = PlanConstraint(vocabulary, markers=MARKERS)
    got = _feed(constraint, tokenizer, text)
    if refused is None:
        assert got is None and constraint.is_accepting()
    else:
        assert got is not None


def test_without_markers_the_language_is_unchanged(bytes_only):
    tokenizer, vocabulary = bytes_only
    constraint = PlanConstraint(vocabulary)
    assert _feed(constraint, tokenizer, 'LOG "a « b «F9»"\n') is None


@pytest.fixture(scope="module")
def marker_tokens():
    """A vocabulary where `«` is one token, as in the planner's."""
    texts = [p.read_text() for p in EXAMPLES] + ['WRITE "«F0»" "«T0»"\n' * 50]
    tokenizer = Tokenizer.train(texts, 400)
    assert len(tokenizer.encode("«")) == 1
    return tokenizer, PlanVocabulary(tokenizer.token_bytes, tokenizer.encode_bytes, tokenizer.eos_id,
                                     tokenizer.special_ids.values())


@settings(max_examples=8, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(seed=st.integers(0, 2**31 - 1), budget=st.integers(SHORTEST, 70))
def test_random_walks_with_markers_end_as_plans_with_only_those_markers(seed, budget, marker_tokens):
    """Steering finishes a marker begun (`«` then `F0»`) within the budget."""
    from runtime.slots import MARKER
    tokenizer, vocabulary = marker_tokens
    rng = np.random.default_rng(seed)
    constraint = PlanConstraint(vocabulary, max_tokens=budget, markers=MARKERS)
    lead = tokenizer.encode("«")[0]
    while constraint.remaining > 0:
        mask = constraint.allowed_mask()
        allowed = np.flatnonzero(mask)
        if not len(allowed) or (constraint.is_accepting() and rng.random() < 0.05):
            break
        # lean towards markers, so walks meet them often
        pick = lead if mask[lead] and rng.random() < 0.3 else int(rng.choice(allowed))
        constraint.advance(pick)
    assert constraint.is_accepting(), constraint.text[-80:]
    text = constraint.text.decode("utf-8")
    tisslang.parse(text)
    assert set(MARKER.findall(text)) <= {("F", "0"), ("T", "0")}
    assert text.count("«") == len(MARKER.findall(text))
