"""What the global options leave for the commands: settings, built lazily."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from assistant.app import Assistant
from assistant.config import Origin, Settings, load_settings, setting_origins


@dataclass
class CliContext:
    config_path: Path | None
    overrides: dict[str, Any]
    from_env: set[str] = field(default_factory=set)  # overrides click read from a MEMCHAT_* variable
    _settings: Settings | None = field(default=None, repr=False)

    @property
    def settings(self) -> Settings:
        if self._settings is None:
            self._settings = load_settings(self.config_path, **self.overrides)
        return self._settings

    def origins(self) -> dict[str, Origin]:
        """Where each setting comes from: 'default', 'config file', 'env' or 'flag'."""
        return setting_origins(self.config_path, self.from_env, **self.overrides)

    def assistant(self) -> Assistant:
        return Assistant(self.settings)
