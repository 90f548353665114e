"""The layers stay layers: import-linter's contracts (pyproject.toml) pass on the code, and
fail when a lower layer reaches up."""

from __future__ import annotations

import pkgutil
import shutil
import subprocess
import sys
import tomllib
from pathlib import Path

import assistant

REPO_ROOT = Path(__file__).resolve().parent.parent
LINT_IMPORTS = Path(sys.executable).parent / "lint-imports"


def lint_imports(root: Path) -> subprocess.CompletedProcess[str]:
    """Run import-linter on the packages under ``root`` with the contracts of its pyproject.toml."""
    return subprocess.run([str(LINT_IMPORTS), "--no-cache"], cwd=root, capture_output=True, text=True,
                          env={"PYTHONPATH": str(root), "PATH": "/usr/bin:/bin"}, timeout=120)


def test_the_layer_contracts_hold() -> None:
    result = lint_imports(REPO_ROOT)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "Contracts: 3 kept, 0 broken." in result.stdout


def test_memory_reaching_up_into_assistant_breaks_the_contract(tmp_path: Path) -> None:
    for package in ("memory", "assistant", "tui"):
        shutil.copytree(REPO_ROOT / package, tmp_path / package, ignore=shutil.ignore_patterns("__pycache__"))
    shutil.copy(REPO_ROOT / "pyproject.toml", tmp_path)
    (tmp_path / "memory" / "reaching_up.py").write_text("from assistant.sessions import SessionStore\n")
    result = lint_imports(tmp_path)
    assert result.returncode == 1, result.stdout + result.stderr
    assert "Contracts: 2 kept, 1 broken." in result.stdout
    assert "memory.reaching_up -> assistant.sessions" in result.stdout


def test_the_core_contract_names_every_module_of_assistant_but_the_cli() -> None:
    config = tomllib.loads((REPO_ROOT / "pyproject.toml").read_text())["tool"]["importlinter"]
    core = next(c for c in config["contracts"] if c.get("forbidden_modules") == ["assistant.cli", "tui"])
    modules = {f"assistant.{m.name}" for m in pkgutil.iter_modules(assistant.__path__)} - {"assistant.cli"}
    assert set(core["source_modules"]) == modules


def test_the_faces_hold_no_sql() -> None:
    """The CLI and the TUI ask the assistant; queries live in assistant and memory."""
    faces = [*(REPO_ROOT / "tui").rglob("*.py"), *(REPO_ROOT / "assistant" / "cli").rglob("*.py")]
    with_sql = [str(path.relative_to(REPO_ROOT)) for path in faces
                if any(word in path.read_text() for word in (".execute(", "SELECT ", "INSERT ", "DELETE FROM"))]
    assert with_sql == []
