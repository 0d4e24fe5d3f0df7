"""`tiss model generate --constrain tisslang` through the installed `tiss`
command, on a tiny TissLM trained by the project's own code (conftest.py):
the output is a whole plan whatever the seed and token budget."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

import tisslang

TISS = Path(sys.executable).with_name("tiss")


def tiss(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([str(TISS), *args], capture_output=True, text=True, timeout=300)


@pytest.mark.parametrize("seed, max_tokens", [(0, 6), (1, 20), (2, 47), (3, 200)])
def test_constrained_output_is_a_plan(bpe_model_dir, seed, max_tokens):
    done = tiss("model", "generate", "--model", str(bpe_model_dir), "--constrain", "tisslang",
                "--max-tokens", str(max_tokens), "--seed", str(seed), "--json", "")
    assert done.returncode == 0, done.stderr
    completion = json.loads(done.stdout)["completions"][0]
    assert len(completion["tokens"]) <= max_tokens
    tisslang.parse(completion["text"])


def test_the_plain_output_is_the_plan_alone(bpe_model_dir):
    done = tiss("model", "generate", "--model", str(bpe_model_dir), "--constrain", "tisslang",
                "--max-tokens", "30", "--temperature", "0.7", 'TASK "ignored prompt"')
    assert done.returncode == 0, done.stderr
    tisslang.parse(done.stdout.removesuffix("\n"))


def test_a_budget_too_small_for_one_statement_is_one_clear_error(bpe_model_dir):
    done = tiss("model", "generate", "--model", str(bpe_model_dir), "--constrain", "tisslang",
                "--max-tokens", "5", "")
    assert done.returncode == 2
    assert "too small for a plan" in done.stderr and "Traceback" not in done.stderr


def test_two_prompts_are_one_clear_error(bpe_model_dir):
    done = tiss("model", "generate", "--model", str(bpe_model_dir), "--constrain", "tisslang",
                "a", "b")
    assert done.returncode == 2
    assert done.stderr.startswith("error: --constrain takes one prompt")
    assert "Traceback" not in done.stderr


def test_a_tokenizer_without_an_end_token_is_one_clear_error(model_dir):
    done = tiss("model", "generate", "--model", str(model_dir), "--constrain", "tisslang", "")
    assert done.returncode == 2
    assert "end-of-sequence" in done.stderr and "Traceback" not in done.stderr
