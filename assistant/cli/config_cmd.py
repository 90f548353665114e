"""``memchat config``: where the config file is and what the effective settings are."""

from __future__ import annotations

import json

import click

from assistant.cli.context import CliContext
from assistant.config import resolve_config_path


@click.group()
def config() -> None:
    """Show the configuration."""


@config.command("path")
@click.pass_obj
def config_path(obj: CliContext) -> None:
    """Print the config file's path (it may not exist yet)."""
    click.echo(resolve_config_path(obj.config_path))


@config.command("show")
@click.option("--origins", is_flag=True, help='Each value with where it came from: {"value": ..., "from": '
                                              '"default" | "config file" | "env" | "flag"}.')
@click.pass_obj
def config_show(obj: CliContext, origins: bool) -> None:
    """Print the effective settings as JSON (file, then env, then flags; --origins: with
    where each value came from)."""
    values = obj.settings.model_dump(mode="json")
    if values.get("api_key"):
        values["api_key"] = "***"
    if origins:
        sources = obj.origins()
        values = {key: {"value": value, "from": sources[key]} for key, value in values.items()}
    click.echo(json.dumps(values, indent=2))
