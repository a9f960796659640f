"""Fixtures for the real-browser tests: Chromium, and a page that records its own errors."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import TYPE_CHECKING

import pytest

from tests.web.browser.chromium import chromium, require_browser

if TYPE_CHECKING:
    from playwright.async_api import Browser


@pytest.fixture
async def browser() -> AsyncIterator[Browser]:
    require_browser()
    async with chromium() as running:
        yield running
