"""The real ``memchat`` command in a subprocess: answers, sessions, exit codes and error lines."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from assistant.sessions import SessionStore
from memory.db import open_database

MEMCHAT = [sys.executable, "-m", "assistant.cli"]


def run(*args: str, stdin: str | None = None, timeout: float = 180) -> subprocess.CompletedProcess:
    return subprocess.run(
        [*MEMCHAT, *args], input=stdin, capture_output=True, text=True, timeout=timeout, env=os.environ.copy()
    )


def assert_one_line_error(result: subprocess.CompletedProcess, pattern: str) -> None:
    assert result.returncode == 1, result.stderr
    assert "Traceback" not in result.stderr
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert len(lines) == 1 and lines[0].startswith("Error: "), result.stderr
    assert pattern in lines[0]


def stored_sessions(data_dir: Path) -> list:
    store = SessionStore(open_database(data_dir))
    return [(s, store.messages(s.id)) for s in store.list()]


def test_ask_streams_an_offline_answer_and_stores_it(isolated_env: Path) -> None:
    result = run("--temperature", "0", "ask", "--stats", "What is the capital of France?")
    assert result.returncode == 0, result.stderr
    assert "Paris" in result.stdout
    assert "tok/s" in result.stderr and "llamacpp on cpu" in result.stderr
    [(session, messages)] = stored_sessions(isolated_env / "data")
    assert session.name == "What is the capital of France?"
    assert [m.role for m in messages] == ["user", "assistant"]
    assert messages[1].content.strip() == result.stdout.strip()


def test_ask_reads_piped_stdin_and_continues_a_session(isolated_env: Path) -> None:
    assert run("--temperature", "0", "ask", "My name is Zoltan.").returncode == 0
    result = run("--temperature", "0", "ask", "-c", stdin="What is my name?\n")
    assert result.returncode == 0, result.stderr
    [(session, messages)] = stored_sessions(isolated_env / "data")
    assert [m.content for m in messages if m.role == "user"] == ["My name is Zoltan.", "What is my name?"]


def test_ask_without_a_prompt_is_a_usage_error() -> None:
    result = run("ask", stdin="")
    assert result.returncode == 2
    assert "give a prompt" in result.stderr


def test_unknown_model_is_one_actionable_line(isolated_env: Path) -> None:
    result = run("--model", str(isolated_env / "nope.gguf"), "ask", "hi")
    assert_one_line_error(result, "not found")
    assert stored_sessions(isolated_env / "data") == []


def test_corrupt_config_is_one_line_and_sessions_stay(isolated_env: Path) -> None:
    assert run("--temperature", "0", "--max-new-tokens", "8", "ask", "Hello").returncode == 0
    (isolated_env / "config.toml").write_text("temperature = [unclosed\n")
    assert_one_line_error(run("ask", "hi"), "not valid TOML")
    assert_one_line_error(run("sessions", "list"), "not valid TOML")
    assert len(stored_sessions(isolated_env / "data")) == 1


def test_unwritable_data_dir_is_one_line(isolated_env: Path) -> None:
    blocker = isolated_env / "file"
    blocker.write_text("x")
    assert_one_line_error(run("--data-dir", str(blocker / "sub"), "sessions", "list"), "cannot create data dir")


def test_too_long_prompt_is_cut_with_a_note_and_stored_whole(isolated_env: Path) -> None:
    result = run("--context-length", "512", "--max-new-tokens", "8", "ask", stdin="word " * 3000)
    assert result.returncode == 0, result.stderr
    assert result.stderr.startswith("Note: the message was cut to fit: 3,000 tokens")
    [(_, messages)] = stored_sessions(isolated_env / "data")
    assert messages[0].content == ("word " * 3000).rstrip()  # the whole message is kept
    assert messages[1].meta["context"]["message_cut"] is True


def test_ctrl_c_stops_the_answer_and_keeps_it(isolated_env: Path) -> None:
    assert run("--max-new-tokens", "8", "ask", "Earlier session").returncode == 0
    process = subprocess.Popen(
        [*MEMCHAT, "--max-new-tokens", "4000", "--temperature", "0.8", "ask",
         "Write an extremely long story about a dragon, a knight and a wizard."],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=os.environ.copy(),
    )
    assert process.stdout is not None
    received = process.stdout.read(20)  # the answer has started streaming
    assert received
    time.sleep(0.3)
    process.send_signal(signal.SIGINT)
    _, stderr = process.communicate(timeout=60)
    assert process.returncode == 130, stderr
    assert b"Interrupted" in stderr and b"Traceback" not in stderr
    sessions = stored_sessions(isolated_env / "data")
    assert len(sessions) == 2
    interrupted = sessions[0][1][-1]
    assert interrupted.status == "interrupted" and interrupted.content
    earlier = sessions[1][1]
    assert [m.status for m in earlier] == ["complete", "complete"]


def test_sessions_commands(isolated_env: Path) -> None:
    assert run("--temperature", "0", "--max-new-tokens", "16", "ask", "Hello there").returncode == 0
    listing = json.loads(run("sessions", "list", "--json").stdout)
    session_id = listing[0]["id"]
    assert listing[0]["message_count"] == 2
    assert run("sessions", "rename", session_id[:5], "Greetings").returncode == 0
    assert [s["id"] for s in json.loads(run("sessions", "list", "--matching", "hello", "--json").stdout)] == [
        session_id]  # by the words said in it
    branched = run("sessions", "branch", session_id, "--name", "Again")
    assert branched.returncode == 0, branched.stderr
    branch_id = branched.stdout.strip()
    assert json.loads(run("sessions", "export", branch_id, "--format", "json").stdout)["messages"][0]["content"] == (
        "Hello there")
    assert run("sessions", "delete", branch_id, "--yes").returncode == 0
    nothing = run("sessions", "list", "--matching", "zebra")
    assert nothing.returncode == 0 and "No session matches 'zebra'" in nothing.stderr
    shown = run("sessions", "show", "Greetings")
    assert shown.returncode == 0 and shown.stdout.startswith("# Greetings") and "Hello there" in shown.stdout
    out = isolated_env / "export.json"
    assert run("sessions", "export", session_id, "--format", "json", "-o", str(out)).returncode == 0
    assert json.loads(out.read_text())["session"]["id"] == session_id
    assert_one_line_error(run("sessions", "show", "missing"), "no session 'missing'")
    assert run("sessions", "delete", session_id, "--yes").returncode == 0
    assert json.loads(run("sessions", "list", "--json").stdout) == []


def test_help_documents_commands_and_options() -> None:
    result = run("--help")
    assert result.returncode == 0
    for word in ("ask", "chat", "sessions", "config", "--data-dir", "--backend", "--base-url", "MEMCHAT_"):
        assert word in result.stdout


def test_config_show_merges_file_env_and_flags(isolated_env: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    (isolated_env / "config.toml").write_text("top_p = 0.5\ntemperature = 0.3\n")
    monkeypatch.setenv("MEMCHAT_TEMPERATURE", "0.6")
    shown = json.loads(run("--max-new-tokens", "77", "config", "show").stdout)
    assert (shown["top_p"], shown["temperature"], shown["max_new_tokens"]) == (0.5, 0.6, 77)


def test_global_options_may_follow_the_command(isolated_env: Path) -> None:
    result = run("ask", "--max-new-tokens", "3", "--temperature", "0", "--stats", "Name three colours.")
    assert result.returncode == 0, result.stderr
    assert "answer 3 tok" in result.stderr or "answer 2 tok" in result.stderr or "answer 1 tok" in result.stderr
    # after the command wins over before it; a subcommand of a group takes them too
    shown = json.loads(run("--temperature", "0.1", "config", "show", "--temperature", "0.4", "--seed", "7").stdout)
    assert (shown["temperature"], shown["seed"]) == (0.4, 7)
    other = isolated_env / "other-data"
    assert run("sessions", "list", "--data-dir", str(other)).returncode == 0
    assert (other / "memchat.db").exists()


def test_config_show_says_where_each_value_came_from(isolated_env: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    (isolated_env / "config.toml").write_text("top_p = 0.5\ntemperature = 0.3\n")
    monkeypatch.setenv("MEMCHAT_TEMPERATURE", "0.6")
    shown = json.loads(run("--max-new-tokens", "77", "config", "show", "--origins").stdout)
    assert shown["top_p"] == {"value": 0.5, "from": "config file"}
    assert shown["temperature"] == {"value": 0.6, "from": "env"}
    assert shown["max_new_tokens"] == {"value": 77, "from": "flag"}
    assert shown["seed"] == {"value": None, "from": "default"}
    assert shown["data_dir"] == {"value": str(isolated_env / "data"), "from": "env"}  # MEMCHAT_DATA_DIR
    flagged = json.loads(run("config", "show", "--origins", "--data-dir", str(isolated_env / "d2")).stdout)
    assert flagged["data_dir"] == {"value": str(isolated_env / "d2"), "from": "flag"}
