"""Settings: defaults, TOML file, env and flag precedence, and clear errors for bad input."""

from pathlib import Path

import pytest

from assistant.config import load_settings, resolve_config_path
from assistant.errors import ConfigError


def test_defaults_use_the_data_dir_from_env(isolated_env: Path) -> None:
    settings = load_settings()
    assert settings.data_dir == isolated_env / "data"
    assert settings.backend == "auto"
    assert settings.model is None


def test_file_then_env_then_flags(isolated_env: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    config = isolated_env / "config.toml"
    config.write_text('temperature = 0.5\nmax_new_tokens = 100\nsystem_prompt = "Be terse."\n')
    settings = load_settings()
    assert (settings.temperature, settings.max_new_tokens, settings.system_prompt) == (0.5, 100, "Be terse.")
    monkeypatch.setenv("MEMCHAT_TEMPERATURE", "0.9")
    assert load_settings().temperature == 0.9
    assert load_settings().max_new_tokens == 100  # the file still supplies what env doesn't
    assert load_settings(temperature=0.1).temperature == 0.1


def test_explicit_config_path_wins_over_env(isolated_env: Path) -> None:
    other = isolated_env / "other.toml"
    other.write_text("top_p = 0.5\n")
    assert resolve_config_path(other) == other
    assert load_settings(other).top_p == 0.5


def test_corrupt_toml_names_the_file(isolated_env: Path) -> None:
    config = isolated_env / "config.toml"
    config.write_text("temperature = = 1\n")
    with pytest.raises(ConfigError, match="not valid TOML") as info:
        load_settings()
    assert str(config) in str(info.value)


def test_binary_config_is_a_clear_error(isolated_env: Path) -> None:
    (isolated_env / "config.toml").write_bytes(b"\xff\xfe\x00garbage")
    with pytest.raises(ConfigError, match="not valid TOML"):
        load_settings()


def test_unknown_key_lists_the_known_ones(isolated_env: Path) -> None:
    (isolated_env / "config.toml").write_text("temprature = 0.3\n")
    with pytest.raises(ConfigError, match="unknown key.*temprature.*known keys.*temperature"):
        load_settings()


def test_out_of_range_value_is_rejected(isolated_env: Path) -> None:
    (isolated_env / "config.toml").write_text("temperature = 7\n")
    with pytest.raises(ConfigError, match="temperature"):
        load_settings()


def test_bad_env_value_is_rejected(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MEMCHAT_MAX_NEW_TOKENS", "lots")
    with pytest.raises(ConfigError, match="max_new_tokens"):
        load_settings()
