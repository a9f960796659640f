"""Without Chromium or Playwright the browser tests skip, so `make test` runs anywhere."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import pytest

from tests.web.browser import chromium


def test_skips_without_chromium(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(chromium, "CHROMIUM", Path("/nonexistent/chromium"))
    with pytest.raises(pytest.skip.Exception, match="chromium"):
        chromium.require_browser()


def test_skips_without_playwright(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    fake_chromium = tmp_path / "chromium"
    fake_chromium.touch()
    monkeypatch.setattr(chromium, "CHROMIUM", fake_chromium)
    real = importlib.util.find_spec
    monkeypatch.setattr(
        importlib.util, "find_spec", lambda name, *a: None if name == "playwright" else real(name)
    )
    with pytest.raises(pytest.skip.Exception, match="playwright"):
        chromium.require_browser()
