"""Settings: one pydantic-settings object, read from a TOML file, env vars and CLI flags.

Precedence, highest first: CLI flags (passed as overrides), ``MEMCHAT_*`` environment
variables, the TOML config file (``$XDG_CONFIG_HOME/memchat/config.toml`` unless
``--config``/``MEMCHAT_CONFIG`` names another), then the defaults below.
"""

from __future__ import annotations

import os
import tomllib
from pathlib import Path
from typing import Any, ClassVar, Literal

from platformdirs import user_config_dir
from pydantic import Field, ValidationError
from pydantic_settings import (
    BaseSettings,
    InitSettingsSource,
    PydanticBaseSettingsSource,
    SettingsConfigDict,
)

from assistant.errors import ConfigError
from memory.paths import APP_NAME, default_data_dir
ENV_PREFIX = "MEMCHAT_"

BackendName = Literal["auto", "llamacpp", "transformers", "openai"]
DeviceName = Literal["auto", "cuda", "mps", "cpu"]

DEFAULT_SYSTEM_PROMPT = (
    "You are memchat, a helpful assistant running locally on the user's machine. "
    "Answer concisely and accurately."
)


def default_config_path() -> Path:
    """The config file used when neither ``--config`` nor ``MEMCHAT_CONFIG`` is given."""
    return Path(user_config_dir(APP_NAME)) / "config.toml"


class Settings(BaseSettings):
    """Everything a user can configure. Each field is also ``MEMCHAT_<FIELD>`` and a TOML key."""

    model_config = SettingsConfigDict(env_prefix=ENV_PREFIX, extra="forbid", validate_default=True)

    data_dir: Path = Field(default_factory=default_data_dir)
    """Where sessions and memory are stored; several data dirs keep independent memories."""

    backend: BackendName = "auto"
    """Decoder backend. ``auto``: ``openai`` when base_url is set, llama.cpp for GGUF on a
    CPU (several times faster there), transformers otherwise."""

    model: str | None = None
    """Local model directory, GGUF file or cached Hugging Face id (offline). Empty: the
    embedded SmolLM2-135M-Instruct. With ``openai``: the model name sent to the server."""

    base_url: str | None = None
    """OpenAI-compatible server, e.g. ``http://localhost:8000/v1`` (vLLM, llama.cpp, Ollama)."""

    api_key: str | None = None
    """Bearer token for the OpenAI-compatible server, if it needs one."""

    device: DeviceName = "auto"
    """Where the transformers backend runs: auto tries CUDA, then Apple MPS, then CPU."""

    temperature: float = Field(0.2, ge=0.0, le=2.0)
    """Sampling temperature; 0 decodes greedily. Low by default: small models ramble when hot."""

    top_p: float = Field(0.9, gt=0.0, le=1.0)
    """Nucleus sampling: keep the smallest token set whose probability reaches top_p."""

    max_new_tokens: int = Field(512, ge=1)
    """Longest answer, in tokens; this much of the context is reserved for the answer."""

    repetition_penalty: float = Field(1.1, ge=1.0, le=2.0)
    """Penalty for repeating tokens (1.0 disables it); small models loop without it."""

    context_length: int | None = Field(None, ge=256)
    """Override the model's context length (needed for some OpenAI-compatible servers)."""

    threads: int | None = Field(None, ge=1)
    """CPU threads for llama.cpp and torch; empty: all cores."""

    seed: int | None = None
    """Random seed for reproducible sampling."""

    system_prompt: str = DEFAULT_SYSTEM_PROMPT
    """The system message that starts every prompt."""

    request_timeout: float = Field(120.0, gt=0)
    """Seconds to wait on the OpenAI-compatible server before giving up."""

    embedding_model: str | None = None
    """Local sentence-transformers directory for memory; empty: the embedded all-MiniLM-L6-v2.
    Changing it requires `memchat memory reembed`."""

    embedding_runtime: Literal["auto", "torch", "onnx", "onnx-int8"] = "auto"
    """What runs the embedding model on a CPU: ``torch`` (sentence-transformers), ``onnx`` (ONNX
    Runtime on a graph exported once into the data dir's cache; same vectors) or ``onnx-int8``
    (int8 weights; vectors within ~0.3% cosine, no re-embedding needed). ``auto``: ``torch``,
    the fastest measured (bench/RESULTS.md). A GPU always uses ``torch``."""

    remember_chats: bool = True
    """Store each finished exchange in long-term memory (searchable across sessions)."""

    graph_extractor: Literal["spacy", "llm", "off"] = "spacy"
    """How the knowledge graph is filled: ``spacy`` (offline, milliseconds per message),
    ``llm`` (the chat model answers in JSON; slow, for capable models) or ``off``."""

    graph_facts_in_prompt: int = Field(12, ge=0)
    """Most knowledge-graph facts about the entities in play put into each prompt (0: none)."""

    memory_tokens: int = Field(4096, ge=0)
    """Most tokens of retrieved memories (past turns, document passages) in each prompt (0:
    none). They fill, best first, the room the window leaves, up to this cap; more finds more
    but costs time to first token (prompt processing: a few hundred tokens/s on a CPU)."""

    memories_in_prompt: int = Field(200, ge=0)
    """Most retrieved memories offered to each prompt (0: none); ``memory_tokens`` usually
    binds first."""

    summarize_history: bool = True
    """Keep a rolling summary of each session's turns that left the window (written by the
    model in the background) and put it in the prompt."""

    prefix_cache: bool = True
    """Reuse the key/value cache of the prompt's unchanged beginning from one turn to the next."""

    state_cache_mb: int = Field(256, ge=0)
    """RAM (MB) for llama.cpp's saved prompt states, so that a summary or an extraction call
    between two turns does not cost the chat its cached prefix (0: off)."""

    rope_scaling: Literal["none", "linear", "yarn"] = "none"
    """Stretch the model's context beyond what it was trained on (with ``rope_factor`` and a
    larger ``context_length``); YaRN degrades least."""

    rope_factor: float = Field(1.0, ge=1.0, le=64.0)
    """How many times the trained context ``rope_scaling`` stretches to."""

    kv_cache_type: Literal["auto", "f16", "q8_0", "q4_0"] = "auto"
    """Key/value cache precision: q8_0 halves its memory for very long prompts (llama.cpp on any
    device; transformers on CUDA needs the optimum-quanto package)."""

    _file_values: ClassVar[dict[str, Any]] = {}  # the parsed config file (see _with_file_values)

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        """Overrides, then ``MEMCHAT_*`` variables, then the config file; no .env or secrets files."""
        return (init_settings, env_settings, InitSettingsSource(settings_cls, cls._file_values))


def _with_file_values(file_values: dict[str, Any]) -> type[Settings]:
    """A Settings subclass whose lowest-priority source is the parsed config file."""

    class FileBackedSettings(Settings):
        _file_values: ClassVar[dict[str, Any]] = file_values

    return FileBackedSettings


def resolve_config_path(explicit: Path | str | None = None) -> Path:
    """The config file to read: the flag, else ``MEMCHAT_CONFIG``, else the XDG default."""
    if explicit:
        return Path(explicit).expanduser()
    env = os.environ.get(f"{ENV_PREFIX}CONFIG")
    return Path(env).expanduser() if env else default_config_path()


def read_config_file(path: Path) -> dict[str, Any]:
    """Parse the TOML config file; a missing file is an empty config, a bad one an error."""
    try:
        raw = path.read_bytes()
    except FileNotFoundError:
        return {}
    except OSError as exc:
        raise ConfigError(f"cannot read config file {path}: {exc.strerror or exc}") from exc
    try:
        data = tomllib.loads(raw.decode("utf-8"))
    except (UnicodeDecodeError, tomllib.TOMLDecodeError) as exc:
        raise ConfigError(f"config file {path} is not valid TOML ({exc}); fix or delete it") from exc
    unknown = sorted(set(data) - set(Settings.model_fields))
    if unknown:
        known = ", ".join(sorted(Settings.model_fields))
        raise ConfigError(f"config file {path}: unknown key(s) {', '.join(unknown)}; known keys: {known}")
    return data


def load_settings(config_path: Path | str | None = None, **overrides: Any) -> Settings:
    """Build the settings from file, environment and ``overrides`` (None values are ignored)."""
    path = resolve_config_path(config_path)
    file_values = read_config_file(path)
    given = {key: value for key, value in overrides.items() if value is not None}
    try:
        settings = _with_file_values(file_values)(**given)
    except ValidationError as exc:
        problems = "; ".join(
            f"{'.'.join(str(p) for p in err['loc']) or 'value'}: {err['msg']}" for err in exc.errors()
        )
        raise ConfigError(
            f"invalid setting ({problems}); check flags, MEMCHAT_* variables and {path}"
        ) from exc
    settings.data_dir = settings.data_dir.expanduser()
    return settings


Origin = Literal["default", "config file", "env", "flag"]


def setting_origins(config_path: Path | str | None = None, from_env: frozenset[str] | set[str] = frozenset(),
                    **overrides: Any) -> dict[str, Origin]:
    """Where each setting's effective value comes from, with the precedence of
    ``load_settings``: a flag, else a ``MEMCHAT_*`` variable, else the config file, else the
    default. ``from_env``: overrides that click read from an environment variable."""
    file_values = read_config_file(resolve_config_path(config_path))
    environment = {key.upper() for key in os.environ}
    origins: dict[str, Origin] = {}
    for name in Settings.model_fields:
        if overrides.get(name) is not None:
            origins[name] = "env" if name in from_env else "flag"
        elif f"{ENV_PREFIX}{name.upper()}" in environment:
            origins[name] = "env"
        elif name in file_values:
            origins[name] = "config file"
        else:
            origins[name] = "default"
    return origins
