"""The `openai` model backend (runtime/openai_backend.py) pointed at a real
`tiss serve` process on loopback: PROMPT_AGENT end to end through `tiss run`,
CHOOSE's scores from the server's log-probabilities, the planner's
parse -> check -> repair path, the API key, and the configuration
(`tiss config show`, TISS_MODEL_* variables)."""

from __future__ import annotations

import json
import os
import selectors
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import openai
import pytest

from model.backend import TissLMBackend
from model.checkpoint import load_model, load_model_tokenizer
from model.generate import SamplingParams, generate
from model.server import listen
from runtime import planner
from runtime.cli import main as tiss
from runtime.config import CONFIG_ENV
from runtime.models import NoModelConfigured, load_backend, load_default_backend
from runtime.openai_backend import ModelServerError, OpenAIBackend

TISS = str(Path(sys.executable).with_name("tiss"))
KEY_VAR, KEY = "TEST_SERVE_KEY", "s3cret-for-the-test"
NAME = "tiny"


def announced_url(process, seconds: float = 60) -> str:
    """The URL `tiss serve` prints once it listens (its first line)."""
    selector = selectors.DefaultSelector()
    selector.register(process.stdout, selectors.EVENT_READ)
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if selector.select(timeout=deadline - time.monotonic()):
            line = process.stdout.readline()
            if line.startswith("serving"):
                return line.split(" on ")[1].split()[0]
            if not line:
                break
    process.kill()
    pytest.fail(f"tiss serve did not announce its address; stderr: {process.stderr.read()}")


@pytest.fixture(scope="module")
def long_model_dir(tmp_path_factory):
    """A tiny TissLM with room for the planner's repair prompts (320 tokens)."""
    from tests.runtime.conftest import train_tiny
    return train_tiny(tmp_path_factory.mktemp("tisslm-long"), "--context-length", "320")


@pytest.fixture(scope="module")
def server(long_model_dir):
    """`tiss serve` as a user starts it, with an API key, on a free port."""
    model_dir = long_model_dir
    env = {**os.environ, KEY_VAR: KEY}
    process = subprocess.Popen([TISS, "serve", "--model", str(model_dir), "--port", "0", "--name", NAME,
                                "--api-key-env", KEY_VAR], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                               text=True, env=env)
    try:
        yield announced_url(process)
    finally:
        process.terminate()
        process.wait(30)


@pytest.fixture
def backend(server, monkeypatch):
    monkeypatch.setenv(KEY_VAR, KEY)
    return load_backend("openai", {"base_url": server, "model": NAME, "api_key_env": KEY_VAR})


def greedy_reference(model_dir, text: str) -> str:
    """What the served model writes for ``text`` alone, up to its context."""
    model, directory = load_model(model_dir)
    tokenizer = load_model_tokenizer(directory)
    return generate(model, tokenizer, [text], SamplingParams(max_new_tokens=256, temperature=0))[0].text


def test_a_plans_prompt_agent_runs_through_the_server(server, long_model_dir, tmp_path):
    config = tmp_path / "config.yaml"
    config.write_text(f"model:\n  backend: openai\n  base_url: {server}\n  model: {NAME}\n"
                      f"  api_key_env: {KEY_VAR}\n")
    workspace = tmp_path / "ws"
    workspace.mkdir()
    (workspace / "plan.tiss").write_text(
        'SET_BUDGET API_CALLS = 3\nTASK "ask" {\n    PROMPT_AGENT "Plan a build" INTO answer\n'
        '    WRITE "answer.txt" "{{answer}}"\n}\n')
    env = {**os.environ, CONFIG_ENV: str(config), KEY_VAR: KEY}
    done = subprocess.run([TISS, "run", "plan.tiss", "--sandbox", "host", "--json"], cwd=workspace,
                          env=env, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout)["status"] == "succeeded"
    answer = (workspace / "answer.txt").read_text()
    assert answer == greedy_reference(long_model_dir, "Plan a build\n")  # the chat template's text
    assert len(answer) > 10


def test_without_the_key_the_server_answers_401(server, monkeypatch):
    monkeypatch.setenv(KEY_VAR, "wrong")
    wrong = load_backend("openai", {"base_url": server, "model": NAME, "api_key_env": KEY_VAR})
    with pytest.raises(ModelServerError, match="refused the API key"):
        wrong.generate("hi")
    client = openai.OpenAI(base_url=server, api_key="no-key", max_retries=0)
    with pytest.raises(openai.AuthenticationError, match="missing or wrong API key"):
        client.models.list()


def test_streaming_gives_the_same_answer_and_the_servers_token_count(backend, server):
    plain = backend.generate("TASK", max_tokens=12)
    streaming = load_backend("openai", {"base_url": server, "model": NAME, "api_key_env": KEY_VAR,
                                        "stream": True})
    assert streaming.generate("TASK", max_tokens=12) == plain
    assert streaming.count_tokens(plain) == 12
    assert streaming.count_tokens("something else entirely") == 6  # not the last answer: an estimate


def test_choose_scores_come_from_the_servers_logprobs(backend, long_model_dir):
    options, context = ["Build the docs", "Run the tests", "x"], "Choose how to proceed."
    embedded = TissLMBackend(long_model_dir).score(options, context)
    np.testing.assert_allclose(backend.score(options, context), embedded, rtol=1e-4)


def test_without_logprobs_score_asks_for_a_number_and_says_when_none_came(backend):
    backend.can_score = False  # as after a server refused echo + logprobs
    with pytest.raises(ModelServerError, match=r"did not name an option \(1-2\)"):
        backend.score(["a", "b"], "Choose.")


def test_the_planner_generates_freely_then_checks_and_repairs(backend):
    """The server cannot constrain: every attempt is free text, and what the
    planner returns parses and checks (else a repair prompt went back)."""
    asked = []
    generate_once = backend.generate

    def spy(prompt, **options):
        asked.append((prompt, options))
        return generate_once(prompt, **options)

    backend.generate = spy
    try:
        result = planner.plan("print hello", backend, repair=1, max_tokens=40)
    except planner.PlannerError:
        assert len(asked) == 2 and "FAILED PLAN:" in asked[1][0] and "PROBLEMS:" in asked[1][0]
    else:
        assert not result.constrained and result.attempts == len(asked)
        assert planner.check(result.source)[0] is not None
    assert [options.get("constraint") for _, options in asked] == [None] * len(asked)
    assert asked[0][0] == planner.prompt_for("print hello") and asked[0][1]["system"] == planner.SYSTEM


def test_an_unreachable_server_is_one_clear_error():
    sock = listen("127.0.0.1", 0)
    port = sock.getsockname()[1]
    sock.close()
    backend = OpenAIBackend(f"http://127.0.0.1:{port}/v1", NAME, api_key=None, max_retries=0, timeout=5)
    with pytest.raises(ModelServerError, match=f"cannot reach the model server at http://127.0.0.1:{port}/v1"):
        backend.generate("hi")


@pytest.mark.parametrize("settings, says", [
    ({"base_url": "http://127.0.0.1:1/v1", "model": "m", "api_key": "sk-x"}, "keys never go in files"),
    ({"model": "m"}, "the openai backend needs model.base_url"),
    ({"base_url": "http://127.0.0.1:1/v1", "model": "m", "api_key_env": "TEST_UNSET_VAR"},
     "names $TEST_UNSET_VAR, which is not set"),
    ({"base_url": "http://127.0.0.1:1/v1", "model": "m", "timeout": "soon"}, "model.timeout must be"),
    ({"base_url": "http://127.0.0.1:1/v1", "model": "m", "temprature": 0}, "unknown setting(s)"),
])
def test_bad_settings_are_one_clear_error(settings, says, monkeypatch):
    monkeypatch.delenv("TEST_UNSET_VAR", raising=False)
    with pytest.raises(NoModelConfigured) as caught:
        load_backend("openai", settings)
    assert says in str(caught.value) + (caught.value.hint or "")


def test_the_environment_chooses_the_backend(monkeypatch, tmp_path):
    monkeypatch.setenv(CONFIG_ENV, str(tmp_path / "config.yaml"))
    (tmp_path / "config.yaml").write_text("model:\n  backend: tisslm\n  model: from-file\n")
    monkeypatch.setenv("TISS_MODEL_BACKEND", "openai")
    monkeypatch.setenv("TISS_MODEL_BASE_URL", "http://127.0.0.1:9/v1")
    backend = load_default_backend()
    assert isinstance(backend, OpenAIBackend)
    assert (backend.base_url, backend.model) == ("http://127.0.0.1:9/v1", "from-file")


def test_config_show_masks_secrets_and_says_where_each_value_came_from(monkeypatch, tmp_path, capsys):
    config = tmp_path / "config.yaml"
    config.write_text("sandbox:\n  pids: 128\nmodel:\n  backend: openai\n"
                      "  base_url: http://me:hunter2@127.0.0.1:8000/v1\n  model: tiny\n"
                      "mcp_servers:\n  git:\n    command: mcp-server-git\n"
                      "    env: {GITHUB_TOKEN: ghp_abc, PLAIN: visible}\n")
    monkeypatch.setenv(CONFIG_ENV, str(config))
    monkeypatch.setenv("TISS_MODEL_API_KEY_ENV", KEY_VAR)
    monkeypatch.setenv(KEY_VAR, KEY)
    assert tiss(["config", "show"]) == 0
    out = capsys.readouterr().out
    assert KEY not in out and "hunter2" not in out and "ghp_abc" not in out
    lines = {line.split()[0]: line.split() for line in out.splitlines()[1:]}
    assert lines["sandbox.pids"][1:] == ["128", str(config)]
    assert lines["sandbox.memory_mb"][1:] == ["1024", "default"]
    assert lines["model.api_key_env"][1:] == [KEY_VAR, "$TISS_MODEL_API_KEY_ENV"]
    assert lines["model.api_key"][-1] == f"${KEY_VAR}" and f"({len(KEY)} characters)" in out
    assert "http://me:********@127.0.0.1:8000/v1" in out and '"PLAIN": "visible"' in out
    assert tiss(["config", "show", "--json"]) == 0
    shown = json.loads(capsys.readouterr().out)["settings"]
    assert shown["model.timeout"] == {"value": 60.0, "source": "default"}
    assert shown["mcp_servers"]["value"]["git"]["env"]["GITHUB_TOKEN"] == "********"


def test_config_show_reports_a_broken_file_without_a_traceback(monkeypatch, tmp_path, capsys):
    (tmp_path / "config.yaml").write_text("model: [\n")
    monkeypatch.setenv(CONFIG_ENV, str(tmp_path / "config.yaml"))
    assert tiss(["config", "show"]) == 2
    err = capsys.readouterr().err
    assert "not valid YAML" in err and "Traceback" not in err


def test_tiss_serve_refuses_bad_flags_clearly(tmp_path, monkeypatch):
    monkeypatch.delenv("TEST_UNSET_VAR", raising=False)
    for flags, says in [(["--model", str(tmp_path / "none")], "--model"),
                        (["--model", str(tmp_path), "--api-key-env", "TEST_UNSET_VAR"], "not set or empty"),
                        (["--model", str(tmp_path), "--port", "70000"], "not a port number")]:
        done = subprocess.run([TISS, "serve", *flags], capture_output=True, text=True, timeout=60)
        assert done.returncode == 2 and says in done.stderr and "Traceback" not in done.stderr
