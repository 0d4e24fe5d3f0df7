"""The planner's corpus generator (runtime/planner_corpus.py): every plan it
teaches checks, the held-out split shares nothing with training, the
reference plans achieve their goals in a real sandbox, and the judge that
measures the planner tells a plan that does the goal from one that does not."""

from __future__ import annotations

import random
import re

import pytest

from runtime import planner_corpus as corpus
from runtime.planner import check, prompt_for, with_header
from runtime.slots import fill
from runtime.slots import MARKER

from ..sandbox.conftest import require_backend


@pytest.fixture(scope="module")
def train_goals():
    return corpus.goals("train", 400, seed=11)


@pytest.fixture(scope="module")
def held_out_goals():
    return corpus.goals("held_out", 200, seed=11)


def test_every_training_plan_checks_once_its_literals_are_back(train_goals):
    for goal in train_goals:
        source = goal.filled_plan()
        program, diagnostics = check(source)
        assert program is not None and not [d for d in diagnostics if d.severity == "error"], \
            f"{goal.text}\n{source}\n{diagnostics}"
        assert not MARKER.search(source), f"a marker left in:\n{source}"


def test_training_covers_every_family_and_pairs(train_goals):
    families = {g.family for g in train_goals}
    assert set(corpus.FAMILY_NAMES) <= families
    assert any("+" in f for f in families)


def test_the_model_sees_markers_never_the_literals(train_goals):
    for goal in train_goals:
        assert corpus.training_text(goal).startswith(prompt_for(goal.slotted.text) + "\n")
        text = goal.slotted.text
        for marker, literal in goal.slotted.values.items():
            if marker.startswith("«M"):  # derived (the module of «F0»), never in a goal
                continue
            # a literal may also occur as ordinary words ("at the end of" beside
            # the text 'the end'): what counts is that no quoted occurrence is
            # left and every slotted one became its marker
            word = rf"(?<!\w){re.escape(literal)}(?!\w)"
            assert marker in text
            assert not re.search(rf"[\"']{re.escape(literal)}[\"']", text), (literal, text)
            assert len(re.findall(word, text)) < len(re.findall(word, goal.text)), (literal, text)


def test_held_out_shares_no_wording_literal_or_pair_with_training(train_goals, held_out_goals):
    for family in corpus.FAMILIES:
        assert not set(family.phrasings["train"]) & set(family.phrasings["held_out"]), family.name
    for pools in (corpus._STEMS, corpus._TEXTS, corpus._IDENTS, corpus._KEYS, corpus._COMMANDS,
                  corpus._RISKY, corpus._FAILING):
        assert not set(pools["train"]) & set(pools["held_out"])
    train_pairs = {g.family for g in train_goals if "+" in g.family}
    held_pairs = {g.family for g in held_out_goals if "+" in g.family}
    assert held_pairs and not train_pairs & held_pairs
    train_texts = {g.slotted.text.lower() for g in train_goals}
    assert not train_texts & {g.slotted.text.lower() for g in held_out_goals}
    train_joiners = {j.strip(" ,.;:").lower() for j in corpus._JOINERS["train"]}
    assert not train_joiners & {j.strip(" ,.;:").lower() for j in corpus._JOINERS["held_out"]}


def test_wordnet_synonyms_reach_training_goals_only_and_never_as_a_literal(monkeypatch):
    literals = {w.lower() for pool in (corpus._STEMS, corpus._IDENTS, corpus._KEYS)
                for split in corpus.SPLITS for w in pool[split]}
    table = corpus._wordnet()
    assert len(table) > 100 and not {x for xs in table.values() for x in xs} & literals
    # a sentinel synonym for every word: it shows where the swap reaches
    monkeypatch.setattr(corpus, "_WORDNET_CACHE", {w: ["zzyzx"] for w in table})
    train = corpus.goals("train", 200, seed=3)
    held_out = corpus.goals("held_out", 200, seed=3)
    assert sum("zzyzx" in g.text for g in train) > 20
    assert not any("zzyzx" in g.text for g in held_out)


def test_the_wordnet_table_comes_from_the_training_wordings_words():
    from runtime.wordnet_table import _base_forms, training_words
    words = training_words()
    assert all(word in words for word in corpus._wordnet())
    assert not words & corpus.STOP_WORDS
    assert "fail" in _base_forms("fails") and "copy" in _base_forms("copied")


def test_the_corpus_file_is_prompt_plan_and_eos(tmp_path):
    path = corpus.write_corpus(tmp_path / "c.txt", pairs=60, seed=2, repair_fraction=0.3,
                                swap_fraction=0)
    examples = path.read_text().split("<|eos|>")
    assert examples[-1] == "" and len(examples) - 1 >= 60
    plans = [e for e in examples[:-1] if "FAILED PLAN:" not in e]
    repairs = [e for e in examples[:-1] if "FAILED PLAN:" in e]
    assert len(plans) == 60 and repairs
    for example in repairs:
        # the problems are the checker's own words about the broken plan
        broken = example.split("FAILED PLAN:\n")[1].split("PROBLEMS:\n")[0]
        problems = example.split("PROBLEMS:\n")[1].split("\nPLAN:\n")[0].splitlines()
        errors = [d for d in check(broken)[1] if d.severity == "error"]
        assert problems == [f"{d.line}:{d.col}: {d.message}" + (f" (hint: {d.hint})" if d.hint else "")
                            for d in errors]
        fixed = example.split("\nPLAN:\n")[1]
        assert not [d for d in check(fixed)[1] if d.severity == "error"]


def _repair_parts(example: str) -> tuple[str, str, list[str], str]:
    goal = example.split("\n", 1)[0].removeprefix("GOAL: ")
    failed = example.split("FAILED PLAN:\n")[1].split("PROBLEMS:\n")[0]
    problems = example.split("PROBLEMS:\n")[1].split("\nPLAN:\n")[0].splitlines()
    return goal, failed, problems, example.split("\nPLAN:\n")[1]


def _swapped(plan: str, a: str, b: str) -> str:
    return re.sub(r"«F\d+»", lambda m: {a: b, b: a}.get(m.group(), m.group()), plan)


def test_swapped_file_repairs_carry_what_a_real_run_reports(tmp_path, train_goals, monkeypatch):
    """The failed plan is the reference plan with its two files swapped; its
    problems are what running it in the sandbox reports, in markers, as
    `tiss plan --run --repair` feeds them; the plan after it does the goal."""
    require_backend("docker")
    from runtime.planner import reslot, run_report

    monkeypatch.setattr(corpus, "SCRAMBLED_GOALS", 0.0)
    rng = random.Random(3)
    two_files = [g for g in train_goals if g.family in ("copy_file", "summarise")]
    for i, goal in enumerate([two_files[0], next(g for g in two_files if g.family == "summarise")]):
        text, failed, problems, right = _repair_parts(corpus.swapped_files_example(rng, goal))
        assert text == goal.slotted.text and right == goal.plan
        assert failed.rstrip("\n") == _swapped(goal.plan, "«F0»", "«F1»").rstrip("\n")
        broken_run = corpus.judge(goal, with_header(goal.text, fill(failed, goal.slotted.values)),
                                  tmp_path / f"broken{i}", sandbox="docker")
        assert problems == [reslot(line, goal.slotted) for line in run_report(broken_run.run_error)]
        assert "does not exist" in problems[0] and not set(goal.slotted.values.values()) & set(problems[0].split())
        assert corpus.judge(goal, goal.filled_plan(), tmp_path / f"right{i}", sandbox="docker").success


def test_scrambled_swapped_file_repairs_keep_the_words_and_number_markers_in_order(train_goals, monkeypatch):
    monkeypatch.setattr(corpus, "SCRAMBLED_GOALS", 1.0)
    rng = random.Random(4)
    made = [(goal, corpus.swapped_files_example(rng, goal)) for goal in train_goals]
    made = [(goal, example) for goal, example in made if example]
    assert len(made) >= 10
    for goal, example in made:
        text, failed, problems, right = _repair_parts(example)
        unmarked = lambda t: sorted(re.sub(r"«F\d+»", "«F»", t).split())
        assert unmarked(text) == unmarked(goal.slotted.text)
        markers = re.findall(r"«F\d+»", text)
        assert list(dict.fromkeys(markers)) == ["«F0»", "«F1»"]
        # the same two files swapped, and the report names the one the failed plan reads first
        assert failed.rstrip("\n") == _swapped(right, "«F0»", "«F1»").rstrip("\n")
        assert re.search(r'READ "(«F\d»)"', failed).group(1) in problems[0]
        assert not [d for d in check(right)[1] if d.severity == "error"]


def test_only_plans_that_start_by_reading_a_given_file_get_a_swapped_repair(train_goals):
    rng = random.Random(5)
    families = {g.family for g in train_goals if corpus.swapped_files_example(rng, g)}
    assert families == {"copy_file", "summarise"}


def test_swapped_file_repairs_come_only_with_a_swap_fraction_and_keep_the_goals(tmp_path):
    """The first stage's corpus has no swapped-files repairs; the second's
    has them, over the very same goals."""
    def examples(name, **kw):
        return corpus.write_corpus(tmp_path / name, pairs=300, seed=3, **kw).read_text().split("<|eos|>")[:-1]
    plain, more = examples("a.txt"), examples("b.txt", swap_fraction=1.0)
    swapped = lambda es: [e for e in es if "PROBLEMS:\n<plan>:" in e]
    assert not swapped(plain) and len(swapped(more)) >= 20
    goals_of = lambda es: [e for e in es if "FAILED PLAN:" not in e]
    assert goals_of(more) == goals_of(plain)


def _one_of_each(goals):
    seen, out = set(), []
    for goal in goals:
        if goal.family not in seen and "+" not in goal.family and goal.family != "summarise":
            seen.add(goal.family)
            out.append(goal)
    return out


def test_reference_plans_achieve_their_goals_in_the_sandbox(tmp_path, train_goals):
    require_backend("docker")
    for i, goal in enumerate(_one_of_each(train_goals)):
        verdict = corpus.judge(goal, goal.filled_plan(), tmp_path / f"g{i}", sandbox="docker")
        assert verdict.success, f"{goal.family}: {goal.text}\n{verdict.reason}"


def _goal(family: str, seed: int = 0):
    rng = random.Random(seed)
    f = next(f for f in corpus.FAMILIES if f.name == family)
    while True:
        goal = corpus.make_goal(rng, "train", f)
        if goal and goal.plan:
            return goal


@pytest.mark.parametrize("family, wrong, reason", [
    # writes another text than the goal's
    ("write_text", lambda p, g: p.replace(g.slotted.values["«T0»"], "something else"),
     "check failed"),
    # asserts only what it did itself: the plan passes, the goal's check does not
    ("function_test", lambda p, g: re.sub(r"assert \w+\(2, 3\) == -?\d+", "assert True",
                                          re.sub(r"return .*", "return 0", p)),
     "check failed"),
    ("run_command", lambda p, g: p.replace(f'RUN "{g.slotted.values["«C0»"]}"', 'RUN "true"'),
     "never ran"),
    ("review_risky", lambda p, g: p.replace("REQUEST_REVIEW", "LOG"), "before asking"),
    # a check that checks nothing passes where the goal is not met too
    ("check_contains", lambda p, g: p.replace("ASSERT content CONTAINS", "ASSERT content NOT CONTAINS")
     .replace("NOT CONTAINS", "CONTAINS", 1).replace('ASSERT content CONTAINS "', 'LOG "', 1),
     "also passes"),
])
def test_the_judge_fails_a_plan_that_misses_the_goal(tmp_path, family, wrong, reason):
    require_backend("docker")
    goal = _goal(family)
    plan = wrong(goal.filled_plan(), goal)
    assert plan != goal.filled_plan()
    verdict = corpus.judge(goal, plan, tmp_path / "w", sandbox="docker")
    assert not verdict.success and reason in verdict.reason, verdict.reason
