"""``@knowledge "name"``: every PROMPT_AGENT in scope gets the base's best
passages, with their sources, before its prompt; the checker knows the
directive; a missing base fails the step with one clear error."""

from __future__ import annotations

import json

import pytest

from tisslang import parse
from tisslang.checker import check
from tools.knowledge import open_base

from .conftest import ScriptedModel, events_of


def make_base(workspace, name="docs"):
    (workspace / "guide.md").write_text(
        "# Guide\n\nWelcome.\n\n## Installing\n\nRun pip install quanta to install it.\n\n"
        "## Colours\n\nThe theme is teal.\n")
    with open_base(workspace, name, create=True) as base:
        base.add([str(workspace / "guide.md")])


def test_prompts_in_scope_get_passages_with_sources_and_others_do_not(run):
    make_base(run.workspace)
    model = ScriptedModel(["grounded answer", "plain answer"])
    outcome = run('''
        STEP "grounded" {
            @knowledge "docs"
            PROMPT_AGENT "How do I install it?" INTO answer
        }
        STEP "plain" {
            PROMPT_AGENT "How do I install it?"
        }
        ''', model=model)
    assert outcome.status == "succeeded", outcome.error
    grounded, plain = (prompt for prompt, _ in model.prompts)
    assert grounded.startswith('Passages from the knowledge base "docs" (cite them by source):')
    assert "[1] guide.md:5-7 (Guide > Installing)\n## Installing\n\nRun pip install quanta" in grounded
    assert grounded.endswith("\n\nHow do I install it?")
    assert plain == "How do I install it?"
    done = [e for e in events_of(outcome) if e.get("stmt") == "PromptAgent"]
    assert done[0]["knowledge"][0] == "guide.md:5-7"
    assert "knowledge" not in done[1]


def test_a_missing_base_fails_the_step_with_a_hint(run):
    outcome = run('''
        @knowledge "nothere"
        PROMPT_AGENT "anything"
        ''', model=ScriptedModel())
    assert outcome.status == "failed"
    assert "@knowledge 'nothere': no knowledge base 'nothere'" in outcome.error
    assert "tiss kb add --kb nothere" in outcome.error


def test_a_prompt_with_nothing_to_search_for_goes_as_it_is(run):
    make_base(run.workspace)
    model = ScriptedModel()
    outcome = run('''
        @knowledge "docs"
        PROMPT_AGENT "???"
        ''', model=model)
    assert outcome.status == "succeeded", outcome.error
    assert model.prompts[0][0] == "???"


def test_the_checker_knows_the_directive_and_its_name_rule():
    def messages(source):
        return [(d.severity, d.message) for d in check(parse(source))]

    assert messages('@knowledge "docs"\nPROMPT_AGENT "x"\n') == []
    assert messages('@knowledge "../etc"\nLOG "x"\n') == [
        ("error", 'invalid knowledge base name "../etc" for @knowledge')]
    assert messages('@knowledge 3\nLOG "x"\n') == [("error", "@knowledge needs a quoted string")]


def test_call_search_knowledge_returns_cited_passages(run):
    make_base(run.workspace)
    outcome = run('''
        CALL search_knowledge {query: "what colour is the theme", k: 2, kb: "docs"} INTO hits
        WRITE "hits.json" "{{hits | json}}"
        ''')
    assert outcome.status == "succeeded", outcome.error
    hits = json.loads((run.workspace / "hits.json").read_text())
    assert hits[0]["source"] == "guide.md:9-11"
    assert hits[0]["heading"] == "Guide > Colours" and "teal" in hits[0]["text"]
    assert len(hits) == 1          # k is a limit: no other passage mentions these words


@pytest.mark.parametrize("arguments, words", [
    ('{query: "x", kb: "nothere"}', "no knowledge base 'nothere'"),
    ('{query: "x", k: 0}', "'k' must be between 1 and 50"),
    ('{query: "x", kb: "../up"}', "invalid knowledge base name"),
])
def test_call_search_knowledge_refusals_fail_the_step_clearly(run, arguments, words):
    make_base(run.workspace, "default")
    outcome = run(f"CALL search_knowledge {arguments}\n")
    assert outcome.status == "failed"
    assert words in outcome.error
