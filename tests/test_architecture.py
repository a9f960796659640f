"""The dependency rules in pyproject.toml hold (import-linter)."""

from __future__ import annotations

from pathlib import Path

from importlinter.cli import lint_imports


def test_import_contracts_are_kept(monkeypatch) -> None:
    monkeypatch.chdir(Path(__file__).resolve().parents[1])
    assert lint_imports(no_cache=True) == 0
