"""Headless Debian Chromium driven by Playwright; skips when either is missing.

Never downloads a browser: Playwright launches ``/usr/bin/chromium`` (the ``chromium``
package that ``.ci/run`` installs) with networking to anything but the test server off.
"""

from __future__ import annotations

import asyncio
import importlib.util
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest
from aiohttp import web

if TYPE_CHECKING:
    from playwright.async_api import Browser, Page

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]


def require_browser() -> None:
    """Skip the calling test unless Chromium and Playwright are both installed."""
    if not CHROMIUM.exists():
        pytest.skip("no /usr/bin/chromium (apt-get install chromium chromium-driver)")
    if importlib.util.find_spec("playwright") is None:
        pytest.skip("playwright is not installed (pip install -e '.[test]')")


@asynccontextmanager
async def chromium() -> AsyncIterator[Browser]:
    """A running headless Chromium."""
    require_browser()
    from playwright.async_api import async_playwright

    async with async_playwright() as playwright:
        browser = await playwright.chromium.launch(
            executable_path=str(CHROMIUM), args=CHROMIUM_ARGS, headless=True
        )
        try:
            yield browser
        finally:
            await browser.close()


@asynccontextmanager
async def serving(app: web.Application) -> AsyncIterator[str]:
    """Serve ``app`` on a free loopback port; yields its base URL."""
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    server = site._server
    assert server is not None and server.sockets  # type: ignore[union-attr]
    port = server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        await runner.cleanup()


async def wait_until(page: Page, expression: str, seconds: float = 10.0) -> Any:
    """Poll a JavaScript expression until it is truthy (the page's CSP forbids Playwright's
    own ``wait_for_function``, which evaluates strings inside the page); returns its value."""
    deadline = asyncio.get_running_loop().time() + seconds
    while True:
        value = await page.evaluate(expression)
        if value:
            return value
        if asyncio.get_running_loop().time() > deadline:
            raise AssertionError(f"timed out waiting for {expression}")
        await asyncio.sleep(0.05)


class Watched:
    """A page plus every script error, CSP violation and failed load it reported."""

    def __init__(self, page: Page) -> None:
        self.page = page
        self.errors: list[str] = []
        page.on("pageerror", lambda error: self.errors.append(f"pageerror: {error}"))
        page.on(
            "console",
            lambda message: (
                self.errors.append(f"console: {message.text}") if message.type == "error" else None
            ),
        )

    def csp_violations(self) -> list[str]:
        return [e for e in self.errors if "Content Security Policy" in e]


async def phone_page(browser: Browser, *, touch: bool = False) -> Watched:
    """A new page sized like a small Android phone."""
    context = await browser.new_context(
        viewport={"width": 360, "height": 720}, has_touch=touch, device_scale_factor=2
    )
    return Watched(await context.new_page())


async def frame_state(page: Page) -> dict[str, Any]:
    """What the viewer shows: image size and source, counter, transform, filter."""
    return await page.evaluate(
        """() => {
          const img = document.getElementById('frame');
          return {
            naturalWidth: img.naturalWidth, src: img.getAttribute('src') || '',
            counter: document.getElementById('counter').textContent,
            transform: img.style.transform, filtered: img.classList.contains('wl'),
            status: document.getElementById('status').textContent,
          };
        }"""
    )
