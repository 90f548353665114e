"""Every error that reaches the command line is one line, never a traceback: SQLite busy,
damaged or full, OS errors, undecodable files, broken pipes, Ctrl-C at any point."""

from __future__ import annotations

import errno
import os
import signal
import sqlite3
import subprocess
import time
from pathlib import Path

import pytest
from click.testing import CliRunner

from assistant.cli import cli
from assistant.sessions import SessionStore
from tests.test_cli import MEMCHAT, assert_one_line_error, run, stored_sessions


def one_line(result, pattern: str, code: int = 1) -> None:  # noqa: ANN001 - click's Result
    assert result.exit_code == code, result.output
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert len(lines) == 1 and lines[0].startswith("Error: ") and pattern in lines[0], result.stderr
    assert result.exception is None or isinstance(result.exception, SystemExit)


def test_a_pdf_given_to_import_is_one_line(isolated_env: Path) -> None:
    pdf = isolated_env / "some.pdf"
    pdf.write_bytes(b"%PDF-1.7\n%\xb5\xb5\xb5\xb5\n1 0 obj\n<</Type/Catalog>>\nendobj\n" + bytes(range(128, 256)))
    assert_one_line_error(run("import", str(pdf)), "not UTF-8 text")


def test_kg_export_to_a_missing_folder_is_one_line(isolated_env: Path) -> None:
    result = run("--backend", "llamacpp", "kg", "export", "-o", "/missing/dir/x.json")
    assert_one_line_error(result, "/missing/dir/x.json")


def test_a_damaged_database_is_one_line(isolated_env: Path) -> None:
    data = isolated_env / "data"
    data.mkdir()
    (data / "memchat.db").write_bytes(b"this is no database" * 500)
    assert_one_line_error(run("sessions", "list"), "damaged")


@pytest.mark.parametrize(("fault", "pattern", "code"), [
    (sqlite3.OperationalError("database is locked"), "busy", 1),
    (sqlite3.OperationalError("database or disk is full"), "full", 1),
    (sqlite3.DatabaseError("database disk image is malformed"), "damaged", 1),
    (OSError(errno.ENOSPC, "No space left on device"), "no space left", 1),
    (PermissionError(errno.EACCES, "Permission denied", "/data/memchat.db"), "permissions", 1),
    (KeyboardInterrupt(), "interrupted", 130),
])
def test_faults_from_the_store_are_one_line(isolated_env: Path, monkeypatch: pytest.MonkeyPatch,
                                            fault: BaseException, pattern: str, code: int) -> None:
    def failing(*args, **kwargs):  # noqa: ANN002, ANN003 - the fault injected where sessions are read
        raise fault

    monkeypatch.setattr(SessionStore, "list", failing)
    one_line(CliRunner().invoke(cli, ["sessions", "list"]), pattern, code)


def test_a_broken_pipe_ends_quietly(isolated_env: Path) -> None:
    store = SessionStore(__import__("memory.db", fromlist=["open_database"]).open_database(isolated_env / "data"))
    for number in range(3000):
        store.create(f"chat number {number} with a rather long name to fill the pipe quickly")
    process = subprocess.Popen([*MEMCHAT, "sessions", "list"], stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    assert process.stdout is not None
    process.stdout.read(100)
    process.stdout.close()  # like `memchat sessions list | head -1`
    stderr = process.stderr.read() if process.stderr else b""
    process.wait(timeout=60)
    assert process.returncode == 141, stderr
    assert stderr == b"", stderr


def test_ctrl_c_while_the_model_loads_is_one_line_and_leaves_no_session(isolated_env: Path,
                                                                        monkeypatch: pytest.MonkeyPatch) -> None:
    from assistant.app import Assistant

    def interrupted(self):  # noqa: ANN001 - Ctrl-C arriving during the load
        raise KeyboardInterrupt

    monkeypatch.setattr(Assistant, "load_model", interrupted)
    result = CliRunner().invoke(cli, ["ask", "Hello"])
    one_line(result, "interrupted", 130)
    assert "Aborted" not in result.output
    assert stored_sessions(isolated_env / "data") == []


def test_a_real_sigint_at_any_moment_is_one_line(isolated_env: Path) -> None:
    for delay in (0.8, 1.6, 2.4):
        process = subprocess.Popen([*MEMCHAT, "--max-new-tokens", "2000", "ask", "Tell a very long story."],
                                   stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=os.environ.copy())
        time.sleep(delay)
        process.send_signal(signal.SIGINT)
        _, stderr = process.communicate(timeout=120)
        text = stderr.decode()
        assert "Traceback" not in text and "Aborted!" not in text, text
        if process.returncode != 0:
            assert process.returncode == 130, text
            assert len([line for line in text.splitlines() if line.strip()]) == 1, text
    for session, messages in stored_sessions(isolated_env / "data"):
        assert messages, f"empty session {session.id} left behind"
