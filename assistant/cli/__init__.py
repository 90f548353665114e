"""The ``memchat`` command: global options, then a command group per area."""

from __future__ import annotations

import os
import sys


def _interrupted_while_starting(kind: type[BaseException], value: BaseException, tb: object) -> None:
    """Ctrl-C while the command's modules are still importing (before its handlers are in
    place): one line and status 130, as at any later moment, not a traceback."""
    if issubclass(kind, KeyboardInterrupt):
        sys.stderr.write("Error: interrupted\n")
        sys.stderr.flush()
        os._exit(130)
    sys.__excepthook__(kind, value, tb)  # type: ignore[arg-type]


sys.excepthook = _interrupted_while_starting

import sqlite3  # noqa: E402 - after the hook: these imports take seconds
from pathlib import Path  # noqa: E402
from typing import Any  # noqa: E402

import click  # noqa: E402

from assistant.backends import BACKENDS  # noqa: E402
from assistant.cli.context import CliContext  # noqa: E402
from assistant.cli.failures import EXIT_BROKEN_PIPE, EXIT_INTERRUPTED, describe, silence_stdout  # noqa: E402
from assistant.errors import MemchatError  # noqa: E402


class MemchatGroup(click.Group):
    """Turns every error memchat can explain (its own, SQLite's, the OS's, Ctrl-C) into one
    'Error: ...' line and its exit code, never a traceback; a closed stdout ends quietly."""

    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except click.exceptions.Exit:
            raise
        except BrokenPipeError:
            silence_stdout()
            ctx.exit(EXIT_BROKEN_PIPE)
        except (MemchatError, KeyboardInterrupt, OSError, sqlite3.Error, UnicodeDecodeError) as exc:
            message, code = describe(exc) or (str(exc), 1)
            _echo_error(message)
            ctx.exit(code)


def _echo_error(message: str) -> None:
    try:
        click.echo(f"Error: {message}", err=True)
    except OSError:
        pass  # stderr is gone too


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
    MEMCHAT_* environment variables (e.g. MEMCHAT_TEMPERATURE), then these flags, which may
    also follow the command (memchat ask --max-new-tokens 8 "...").
    Everything stays on this machine; no weights are ever downloaded.
    """
    from_env = {name for name in ("data_dir", "config_path")
                if ctx.get_parameter_source(name) is click.core.ParameterSource.ENVIRONMENT}
    ctx.obj = CliContext(config_path=config_path, overrides={"data_dir": data_dir, **overrides}, from_env=from_env)
    if ctx.invoked_subcommand is None:
        from assistant.cli.chat_app import open_chat_app

        open_chat_app(ctx.obj)


def _late_option(ctx: click.Context, param: click.Parameter, value: Any) -> None:
    """A global option given after the command: it overrides the same option given before."""
    if value is None:
        return
    obj = ctx.find_object(CliContext)
    assert obj is not None and obj._settings is None, "settings read before all options were parsed"
    if param.name == "config_path":
        obj.config_path = value
    else:
        obj.overrides[param.name] = value
        obj.from_env.discard(param.name)


def _accept_global_options(command: click.Command) -> None:
    """Let the global options follow ``command`` too (``memchat ask --max-new-tokens 8 ...``);
    hidden from its help, which the group's help covers. In groups, every subcommand."""
    if isinstance(command, click.Group):
        for sub in command.commands.values():
            _accept_global_options(sub)
        return
    taken = {opt for param in command.params for opt in getattr(param, "opts", [])}
    for option in cli.params:
        if not isinstance(option, click.Option) or not option.expose_value or set(option.opts) & taken:
            continue  # --version; or a name the command uses itself
        command.params.append(click.Option([str(option.name), *option.opts], type=option.type, default=None,
                                           hidden=True, expose_value=False, callback=_late_option, help=option.help))


def _register() -> None:
    from assistant.cli.ask import ask
    from assistant.cli.chat_app import chat
    from assistant.cli.config_cmd import config
    from assistant.cli.kg_cmd import kg_group
    from assistant.cli.memory_cmd import docs, forget, import_, load, memory_group, search
    from assistant.cli.prompt_cmd import prompt
    from assistant.cli.sessions_cmd import sessions
    from assistant.cli.summarize_cmd import summarize

    for command in (ask, chat, config, sessions, load, import_, search, forget, docs, memory_group, kg_group, prompt,
                    summarize):
        _accept_global_options(command)
        cli.add_command(command)


_register()


def main() -> None:
    """Console-script entry point (Ctrl-C before or after a command runs: one line too, not
    click's "Aborted!")."""
    try:
        status = cli.main(prog_name="memchat", standalone_mode=False)
    except click.exceptions.Exit as exc:
        sys.exit(exc.exit_code)
    except click.Abort:
        _echo_error("cancelled")
        sys.exit(1)
    except click.ClickException as exc:
        exc.show()
        sys.exit(exc.exit_code)
    except KeyboardInterrupt:
        _echo_error("interrupted")
        sys.exit(EXIT_INTERRUPTED)
    except BrokenPipeError:
        silence_stdout()
        sys.exit(EXIT_BROKEN_PIPE)
    if isinstance(status, int) and status:  # non-standalone click returns ctx.exit's status
        sys.exit(status)


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
