"""The model-backend registry and the wiring of a REAL TissLM into runs:
PROMPT_AGENT, CHOOSE's model policy and the budgets (the planner and the
REPL's :plan: test_planner.py).

The model is trained for a few steps through `tiss model train`'s own code
path (tiny, so the module's tests stay fast); its answers are noise, but real.
"""

from __future__ import annotations

import sys
import textwrap

import pytest

from model.backend import TissLMBackend
from runtime import Session
from runtime.config import CONFIG_ENV, load_config
from runtime.models import NoModelConfigured, available_backends, load_backend, load_default_backend


@pytest.fixture
def configured(model_dir, tmp_path, monkeypatch):
    """A configuration file naming the trained model (sampling, so that a
    different context shows in the answer); returns the workspace."""
    config = tmp_path / "config.yaml"
    config.write_text(f"model:\n  backend: tisslm\n  path: {model_dir}\n  temperature: 1.0\n")
    monkeypatch.setenv(CONFIG_ENV, str(config))
    workspace = tmp_path / "ws"
    workspace.mkdir()
    return workspace


def test_prompt_agent_asks_the_configured_tisslm_with_the_persona_and_charges_the_budgets(
        configured, model_dir):
    plan = textwrap.dedent('''\
        SET_BUDGET API_CALLS = 10
        SET_BUDGET TOKEN_COUNT = 100000
        TASK "t" {
            @persona "You write TissLang."
            PROMPT_AGENT "Plan a build" INTO answer
            VAR calls_left = BUDGET.API_CALLS
            VAR tokens_left = BUDGET.TOKEN_COUNT
        }
        ''')
    with Session(configured, sandbox="host") as session:
        outcome = session.execute(plan)
    assert outcome.status == "succeeded", outcome.error
    answer = session.variables["answer"]
    same = TissLMBackend(model_dir, temperature=1.0)  # seeded: the same question, the same answer
    assert answer == same.generate("Plan a build", system="You write TissLang.")
    assert answer != same.generate("Plan a build")  # the persona reached the model
    assert session.variables["calls_left"] == 9
    assert session.variables["tokens_left"] == 100000 - same.count_tokens(answer)
    assert same.count_tokens(answer) > 0


def test_a_token_budget_stops_a_real_model_run(configured):
    plan = 'SET_BUDGET TOKEN_COUNT = 2\nTASK "t" {\n    PROMPT_AGENT "Plan a build"\n}\n'
    with Session(configured, sandbox="host") as session:
        outcome = session.execute(plan)
    assert outcome.status != "succeeded"
    assert "budget exceeded: TOKEN_COUNT" in outcome.error


def test_choose_model_takes_the_option_tisslm_scores_highest(configured, model_dir):
    names = ["Build the docs", "Run the tests quickly", "x"]
    options = "".join(f'        OPTION "{n}" {{\n            VAR picked = "{n}"\n        }}\n'
                      for n in names)
    plan = f'SET_BUDGET API_CALLS = 5\nTASK "t" {{\n    CHOOSE {{\n{options}    }}\n' \
           '    VAR calls_left = BUDGET.API_CALLS\n}\n'
    with Session(configured, sandbox="host", choose="model") as session:
        outcome = session.execute(plan)
    assert outcome.status == "succeeded", outcome.error
    scores = TissLMBackend(model_dir, temperature=1.0).score(names, f"Choose how to proceed. Options: {', '.join(names)}")
    assert len(set(scores)) == len(scores)  # a real decision, not a tie
    assert session.variables["picked"] == names[scores.index(max(scores))]
    assert session.variables["calls_left"] == 4


def test_without_a_model_directory_the_error_says_how_to_get_one(tmp_path, monkeypatch):
    from model import backend
    monkeypatch.setattr(backend, "SHIPPED", tmp_path / "no-shipped-weights")  # as if not installed
    config = tmp_path / "config.yaml"
    config.write_text("model:\n  backend: tisslm\n")
    monkeypatch.setenv(CONFIG_ENV, str(config))
    with pytest.raises(NoModelConfigured) as caught:
        load_default_backend()
    assert caught.value.message.startswith("no language model is configured")
    assert "tiss model train --config" in caught.value.hint
    assert "model: {path:" in caught.value.hint
    with Session(tmp_path, sandbox="host") as session:
        outcome = session.execute('PROMPT_AGENT "hello"\n')
    assert "tiss model train --config" in outcome.error


def test_a_bad_model_directory_names_the_setting(tmp_path):
    with pytest.raises(NoModelConfigured, match=rf"model.path {tmp_path}: .*no config.json"):
        load_backend("tisslm", {"path": str(tmp_path)})


def test_model_path_is_relative_to_the_configuration_file(tmp_path):
    (tmp_path / "conf").mkdir()
    (tmp_path / "conf" / "config.yaml").write_text("model:\n  path: models/tiny\n")
    settings = load_config(tmp_path / "conf" / "config.yaml").model
    assert settings.backend == "tisslm"
    assert settings.options == {"path": str(tmp_path / "conf" / "models" / "tiny")}


def test_an_unknown_backend_lists_the_registered_ones():
    with pytest.raises(NoModelConfigured) as caught:
        load_backend("gpt-17", {})
    assert "unknown model backend 'gpt-17'" in caught.value.message
    assert "tisslm" in caught.value.hint
    assert "tisslm" in available_backends()


def test_a_plugin_that_fails_to_import_is_reported_by_name(tmp_path, monkeypatch):
    """A real installed distribution (a .dist-info on sys.path) whose module is broken."""
    info = tmp_path / "broken_backend-1.0.dist-info"
    info.mkdir()
    (info / "METADATA").write_text("Metadata-Version: 2.1\nName: broken-backend\nVersion: 1.0\n")
    (info / "entry_points.txt").write_text("[tisslang.backends]\nbroken = broken_backend_mod:make\n")
    (tmp_path / "broken_backend_mod.py").write_text("raise ImportError('needs libfoo')\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    assert "broken" in available_backends()
    with pytest.raises(NoModelConfigured) as caught:
        load_backend("broken", {})
    assert "model backend 'broken' (broken_backend_mod:make) failed to import" in caught.value.message
    assert "needs libfoo" in caught.value.message
    sys.modules.pop("broken_backend_mod", None)


def test_the_built_in_backends_are_declared_in_pyproject():
    import tomllib
    from pathlib import Path

    from runtime.models import BUILT_IN, GROUP

    project = tomllib.loads((Path(__file__).resolve().parents[2] / "pyproject.toml").read_text())
    assert project["project"]["entry-points"][GROUP] == {name: point.value for name, point in BUILT_IN.items()}
    assert set(BUILT_IN) == {"tisslm", "openai"}
