"""The real viewer (services, database, encrypted store, renderer) in headless Chromium.

A specialist's capability link to a case with a de-identified CT series is opened in the
browser: the first image appears, the frame and the window change through the page's
controls (new server-rendered frames), and once the link is revoked the browser gets the
410 page — and an open viewer says so on its next request.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import TYPE_CHECKING
from urllib.parse import parse_qs, quote, urlencode, urlsplit

import pytest
from redis.asyncio import Redis

from bot.app import build_services, close_services
from bot.clock import ManualClock
from bot.config import Settings
from bot.domain import CaseStatus
from bot.sandbox.specimens import FAKE_PATIENT, ct_series_zip
from bot.security.webapp_auth import sign
from bot.services import Services
from bot.storage.models import Case
from bot.web import assets, viewer
from bot.web.server import build_web_app
from tests.cases.conftest import Factory
from tests.web.browser.chromium import Watched, frame_state, phone_page, serving, wait_until

if TYPE_CHECKING:
    from playwright.async_api import Browser, Request

SLICES = 6
BOT_TOKEN = "123456:TEST-TOKEN"
SCREENSHOT = "/tmp/sampark-viewer-real.png"


@dataclass
class Site:
    url: str
    services: Services
    factory: Factory
    frames: list[dict[str, str]] = field(default_factory=list)

    def record(self, request: Request) -> None:
        parts = urlsplit(request.url)
        if parts.path.endswith(".jpg"):
            query = {k: v[0] for k, v in parse_qs(parts.query).items()}
            self.frames.append({**query, "frame": parts.path.rsplit("/", 1)[1]})


@pytest.fixture
async def site(settings: Settings, clock: ManualClock, redis: Redis) -> AsyncIterator[Site]:
    settings = settings.model_copy(update={"imaging_workers": 1, "telegram_bot_token": BOT_TOKEN})
    db, kv, services = await build_services(settings, clock=clock, redis=redis)
    try:
        async with serving(build_web_app(services, [assets.setup, viewer.setup])) as url:
            yield Site(url, services, Factory(db, clock))
    finally:
        await close_services(db, kv, services)


async def specialist_link(site: Site) -> tuple[str, str, int]:
    """A case with a CT series, accepted by a specialist: their link (path), the case code
    and the specialist's Telegram id."""
    health_worker = await site.factory.health_worker(language="en")
    specialist = await site.factory.specialist()
    case_id = await site.factory.case(health_worker, status=CaseStatus.ACCEPTED)
    async with site.services.attachments.db.transaction() as session:
        case = await session.get(Case, case_id)
        assert case is not None
        case.specialist_id = specialist.id
        code = case.code
    outcome = await site.services.attachments.add(
        case_id, code, ct_series_zip(SLICES, 128), "ct.zip", None
    )
    assert outcome.ok, outcome.reason
    issued = await site.services.links.issue(case_id, specialist.id, download=True)
    return f"/s/{issued.token}", code, specialist.telegram_id


async def opened(browser: Browser, site: Site, path: str) -> Watched:
    watched = await phone_page(browser)
    watched.page.on("request", site.record)
    response = await watched.page.goto(site.url + path)
    assert response is not None and response.status == 200
    await wait_until(watched.page, "document.getElementById('frame').naturalWidth > 0")
    return watched


async def test_specialist_views_pages_through_and_windows_a_ct_series(
    browser: Browser, site: Site
) -> None:
    path, code, _ = await specialist_link(site)
    watched = await opened(browser, site, path)
    page = watched.page
    assert site.frames[0]["size"] == "low" and site.frames[0]["frame"] == "0.jpg"
    assert await page.inner_text("#counter") == f"1 of {SLICES}"
    assert await page.inner_text("#code") == code
    assert FAKE_PATIENT not in await page.content()
    assert await page.is_visible("#download")

    # Next frame: a new image from the server.
    first = (await frame_state(page))["src"]
    await page.keyboard.press("ArrowDown")
    await wait_until(page, f"document.getElementById('frame').alt.endsWith('2 of {SLICES}')")
    assert (await frame_state(page))["src"] != first
    assert any(f["frame"] == "1.jpg" for f in site.frames)

    # A window preset: a frame rendered with that center and width replaces the image.
    presets = page.locator("#presets .chip")
    assert await presets.count() >= 3
    await wait_until(page, "!document.getElementById('frame').classList.contains('wl')")
    before = (await frame_state(page))["src"]
    count = len(site.frames)
    await presets.last.click()
    await wait_until(
        page,
        f"document.getElementById('frame').getAttribute('src') !== {before!r}"
        " && !document.getElementById('frame').classList.contains('wl')",
    )
    windowed = site.frames[count]
    assert windowed["frame"] == "1.jpg" and "center" in windowed and "width" in windowed
    assert await presets.last.get_attribute("aria-pressed") == "true"
    assert await page.evaluate("document.getElementById('frame').naturalWidth") > 0
    await page.screenshot(path=SCREENSHOT, full_page=True)
    assert watched.csp_violations() == []
    assert watched.errors == []


async def test_revoked_link_shows_the_410_page_and_stops_an_open_viewer(
    browser: Browser, site: Site
) -> None:
    path, _, _ = await specialist_link(site)
    watched = await opened(browser, site, path)
    await site.services.links.revoke(path.rsplit("/", 1)[1], by_user_id=None, reason="test")

    # The open viewer's next request is refused, and it says so.
    await watched.page.keyboard.press("End")
    await wait_until(watched.page, "document.getElementById('status').classList.contains('error')")
    assert await watched.page.inner_text("#status")

    # Opening the link again gives the 410 page.
    fresh = await phone_page(browser)
    response = await fresh.page.goto(site.url + path)
    assert response is not None and response.status == 410
    assert "text/html" in response.headers["content-type"]
    assert await fresh.page.inner_text("body")
    # An unknown token: 404, not 410.
    response = await fresh.page.goto(site.url + "/s/" + "A" * 32)
    assert response is not None and response.status == 404


async def test_mini_app_opens_the_same_viewer_with_init_data(
    browser: Browser, site: Site, clock: ManualClock
) -> None:
    _, code, telegram_id = await specialist_link(site)
    fields = {
        "auth_date": str(int(clock.now().timestamp())),
        "query_id": "AAH-test",
        "user": json.dumps({"id": telegram_id, "first_name": "Dr", "language_code": "en"}),
    }
    fields["hash"] = sign(fields, BOT_TOKEN)
    init_data = urlencode(fields)
    watched = await phone_page(browser)
    sent: list[str | None] = []
    watched.page.on(
        "request",
        lambda request: (
            sent.append(request.headers.get("x-telegram-init-data"))
            if "/m/" in request.url
            else None
        ),
    )
    response = await watched.page.goto(
        f"{site.url}/app/{code}#tgWebAppData={quote(init_data)}&tgWebAppVersion=8.0"
    )
    assert response is not None and response.status == 200
    await wait_until(watched.page, "document.getElementById('frame').naturalWidth > 0")
    assert await watched.page.inner_text("#counter") == f"1 of {SLICES}"
    assert sent and set(sent) == {init_data}

    # A forged initData is refused with the server's message, shown in place of the viewer.
    forged = init_data.replace("AAH-test", "AAH-forged")
    page = (await phone_page(browser)).page
    await page.goto(f"{site.url}/app/{code}#tgWebAppData={quote(forged)}")
    await wait_until(page, "document.body.classList.contains('failed')")
    assert await page.inner_text("#status")
