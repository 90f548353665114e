"""The ``memchat`` command: global options, then a command group per area."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

import click

from assistant.backends import BACKENDS
from assistant.cli.context import CliContext
from assistant.errors import MemchatError


class MemchatGroup(click.Group):
    """Turns MemchatError into one 'Error: ...' line and its exit code, never a traceback."""

    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except MemchatError as exc:
            click.echo(f"Error: {exc}", err=True)
            ctx.exit(exc.exit_code)


@click.group(cls=MemchatGroup, invoke_without_command=True, context_settings={"help_option_names": ["-h", "--help"]})
@click.option("--data-dir", type=click.Path(path_type=Path), envvar="MEMCHAT_DATA_DIR",
              help="Where sessions and memory live [env MEMCHAT_DATA_DIR; default: XDG data dir].")
@click.option("--config", "config_path", type=click.Path(path_type=Path), envvar="MEMCHAT_CONFIG",
              help="TOML config file [env MEMCHAT_CONFIG; default: XDG config dir/config.toml].")
@click.option("--backend", type=click.Choice(("auto",) + BACKENDS), default=None,
              help="Decoder backend; auto: llama.cpp for GGUF on CPU, transformers otherwise, "
                   "openai when --base-url is set.")
@click.option("-m", "--model", default=None,
              help="GGUF file, model directory or cached HF id; with openai, the served model name. "
                   "Default: embedded SmolLM2-135M-Instruct.")
@click.option("--base-url", default=None, help="OpenAI-compatible server, e.g. http://localhost:8000/v1.")
@click.option("--api-key", default=None, help="API key for --base-url [env MEMCHAT_API_KEY].")
@click.option("--device", type=click.Choice(("auto", "cuda", "mps", "cpu")), default=None,
              help="Device for the transformers backend (auto: CUDA, then MPS, then CPU).")
@click.option("--temperature", type=float, default=None, help="Sampling temperature (0 = greedy).")
@click.option("--top-p", type=float, default=None, help="Nucleus sampling threshold.")
@click.option("--max-new-tokens", type=int, default=None, help="Longest answer in tokens.")
@click.option("--repetition-penalty", type=float, default=None, help="Penalty for repeated tokens (1 = off).")
@click.option("--context-length", type=int, default=None, help="Override the model's context length.")
@click.option("--threads", type=int, default=None, help="CPU threads (default: all cores).")
@click.option("--seed", type=int, default=None, help="Random seed for reproducible answers.")
@click.version_option(package_name="memchat")
@click.pass_context
def cli(ctx: click.Context, data_dir: Path | None, config_path: Path | None, **overrides: Any) -> None:
    """memchat: a local, memory-augmented chat assistant for the terminal.

    Run with no command to open the chat app. Settings come from the config file, then
    MEMCHAT_* environment variables (e.g. MEMCHAT_TEMPERATURE), then these flags.
    Everything stays on this machine; no weights are ever downloaded.
    """
    ctx.obj = CliContext(config_path=config_path, overrides={"data_dir": data_dir, **overrides})
    if ctx.invoked_subcommand is None:
        from assistant.cli.chat_app import open_chat_app

        open_chat_app(ctx.obj)


def _register() -> None:
    from assistant.cli.ask import ask
    from assistant.cli.chat_app import chat
    from assistant.cli.config_cmd import config
    from assistant.cli.kg_cmd import kg_group
    from assistant.cli.memory_cmd import docs, forget, import_, load, memory_group, search
    from assistant.cli.sessions_cmd import sessions
    from assistant.cli.summarize_cmd import summarize

    for command in (ask, chat, config, sessions, load, import_, search, forget, docs, memory_group, kg_group,
                    summarize):
        cli.add_command(command)


_register()


def main() -> None:
    """Console-script entry point."""
    cli.main(prog_name="memchat")


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
