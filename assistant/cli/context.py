"""What the global options leave for the commands: settings, built lazily."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from assistant.app import Assistant
from assistant.config import Settings, load_settings


@dataclass
class CliContext:
    config_path: Path | None
    overrides: dict[str, Any]
    _settings: Settings | None = field(default=None, repr=False)

    @property
    def settings(self) -> Settings:
        if self._settings is None:
            self._settings = load_settings(self.config_path, **self.overrides)
        return self._settings

    def assistant(self) -> Assistant:
        return Assistant(self.settings)
