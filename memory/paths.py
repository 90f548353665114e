"""Where memchat keeps its data when nobody says otherwise."""

from __future__ import annotations

from pathlib import Path

from platformdirs import user_data_dir

APP_NAME = "memchat"


def default_data_dir() -> Path:
    """The XDG data directory where sessions and memory live by default."""
    return Path(user_data_dir(APP_NAME))
