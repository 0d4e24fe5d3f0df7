"""The user configuration file (runtime/config.py)."""

from __future__ import annotations

from pathlib import Path

import pytest

from runtime.config import ConfigError, SandboxSettings, load_config


@pytest.fixture
def config_file(tmp_path, monkeypatch):
    path = tmp_path / "config.yaml"
    monkeypatch.setenv("TISS_CONFIG", str(path))
    return path


def test_defaults_when_the_default_file_does_not_exist(tmp_path, monkeypatch):
    monkeypatch.delenv("TISS_CONFIG", raising=False)
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path))
    config = load_config()
    assert config.path is None and config.sandbox == SandboxSettings()


def test_the_sandbox_section_is_read(config_file):
    config_file.write_text("sandbox:\n  backend: bwrap\n  image: python:3.12-slim\n  memory_mb: 512\n"
                           "  pids: 100\n  cpus: 0.5\n  max_output: 64KB\n  allow_network: true\n"
                           "model:\n  backend: tisslm\n")
    config = load_config()
    assert config.sandbox == SandboxSettings(backend="bwrap", image="python:3.12-slim",
                                             memory_mb=512, pids=100, cpus=0.5,
                                             max_output=64 * 1024, allow_network=True)
    assert config.raw["model"] == {"backend": "tisslm"} and config.path == config_file


def test_the_xdg_location_is_used(tmp_path, monkeypatch):
    monkeypatch.delenv("TISS_CONFIG", raising=False)
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path))
    (tmp_path / "quanta-tissu").mkdir()
    (tmp_path / "quanta-tissu" / "config.yaml").write_text("sandbox: {pids: 7}\n")
    assert load_config().sandbox.pids == 7


@pytest.mark.parametrize("text, message", [
    ("sandbox:\n  backend: vm\n", "sandbox.backend is 'vm'"),
    ("sandbox:\n  pids: -1\n", "sandbox.pids must be a positive integer"),
    ("sandbox:\n  memory_mb: lots\n", "sandbox.memory_mb must be a positive integer"),
    ("sandbox:\n  max_output: 12 parsecs\n", "sandbox.max_output must be a size"),
    ("sandbox:\n  allow_network: yes please\n", "sandbox.allow_network must be true or false"),
    ("sandbox:\n  memroy_mb: 5\n", "unknown setting sandbox.memroy_mb"),
    ("sandbox: [1, 2]\n", "`sandbox` must be a mapping"),
    ("- just a list\n", "top level must be a mapping"),
    ("sandbox:\n  pids: [1\n", ":3:1: not valid YAML"),
])
def test_bad_values_name_the_file_and_the_setting(config_file, text, message):
    config_file.write_text(text)
    with pytest.raises(ConfigError) as caught:
        load_config()
    assert str(caught.value).startswith(str(config_file))
    assert message in str(caught.value)


def test_a_named_file_must_exist(config_file):
    with pytest.raises(ConfigError, match="not found") as caught:
        load_config()
    assert "TISS_CONFIG" in caught.value.hint


def test_network_needs_both_the_plan_and_the_user():
    allowed, denied = SandboxSettings(allow_network=True), SandboxSettings()
    ws = Path("/tmp/ws")
    assert allowed.sandbox_config(ws, "r", network_requested=True).network
    assert not allowed.sandbox_config(ws, "r", network_requested=False).network
    assert not denied.sandbox_config(ws, "r", network_requested=True).network


def test_the_plan_image_and_output_cap_win_over_the_config():
    settings = SandboxSettings(image="from-config:1", max_output=100)
    config = settings.sandbox_config(Path("/w"), "r", image="from-plan:2", max_output=50)
    assert (config.image, config.max_output) == ("from-plan:2", 50)
    assert settings.sandbox_config(Path("/w"), "r").image == "from-config:1"
