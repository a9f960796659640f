"""The upload page in a real browser (headless Chromium, phone-sized): the health worker
picks a study, the page sends it in chunks, survives a refused request and a lost
response by asking the server for its offset, and the draft gets the study."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest
from redis.asyncio import Redis

from bot.app import build_services, close_services
from bot.clock import ManualClock
from bot.config import Settings
from bot.domain import CaseStatus
from bot.sandbox.specimens import chest_film_dicom
from bot.services import Services
from bot.web.server import build_web_app
from bot.web.uploads import uploads_setup
from tests.cases.conftest import Factory
from tests.web.browser.chromium import phone_page, serving, wait_until

if TYPE_CHECKING:
    from playwright.async_api import Browser, Route

MESSAGE = "document.getElementById('message').textContent"


@pytest.fixture
async def services(settings: Settings, clock: ManualClock, redis: Redis) -> AsyncIterator[Any]:
    settings.imaging_workers = 1
    db, kv, built = await build_services(settings, clock=clock, redis=redis)
    try:
        yield db, built
    finally:
        await built.uploads.drain()
        await close_services(db, kv, built)


@pytest.mark.parametrize("checksum", ["webcrypto", "sha1-fallback"])
async def test_a_study_goes_up_from_a_phone_and_survives_a_dropped_connection(
    browser: Browser,
    services: tuple[Any, Services],
    clock: ManualClock,
    tmp_path: Path,
    checksum: str,
) -> None:
    db, built = services
    factory = Factory(db, clock)
    worker = await factory.health_worker(language="hi")
    await factory.case(worker, status=CaseStatus.DRAFT)
    issued = await built.uploads.issue(worker.telegram_id, worker.telegram_id)
    assert issued is not None
    study = tmp_path / "IMG0001.dcm"
    study.write_bytes(chest_film_dicom(1400))  # about 4 MB: four chunks
    tr = built.catalogs.get("hi")

    async with serving(build_web_app(built, [uploads_setup(built.uploads)])) as base:
        watched = await phone_page(browser)
        page = watched.page
        if checksum == "sha1-fallback":  # a browser without WebCrypto (plain http, old phone)
            await page.add_init_script("Object.defineProperty(window, 'crypto', {value: {}})")
        patches: list[str] = []

        async def flaky(route: Route) -> None:
            if route.request.method != "PATCH":
                await route.continue_()
                return
            patches.append(route.request.headers.get("upload-checksum", ""))
            if len(patches) == 2:  # the connection drops before the server sees it
                await route.abort("connectionreset")
            elif len(patches) == 4:  # the server stores it, the answer is lost
                await route.fetch()
                await route.abort("connectionreset")
            else:
                await route.continue_()

        await page.route("**/u/*/file", flaky)
        await page.goto(f"{base}/u/{issued.token}")
        await wait_until(
            page, f"document.getElementById('title').textContent === {tr._('Send a large file')!r}"
        )
        assert await page.evaluate("document.documentElement.lang") == "hi"
        await page.set_input_files("#file", str(study))
        await page.click("#send")
        done = tr._("Received. The result will appear in the chat.")
        await wait_until(page, f"{MESSAGE} === {done!r}", seconds=30)
        assert await page.evaluate("document.getElementById('bar').style.width") == "100%"

    expected = "sha256 " if checksum == "webcrypto" else "sha1 "
    assert patches
    assert all(value.startswith(expected) for value in patches)
    # 4 chunks + one resend after the refused request; the lost answer is not resent
    assert len(patches) == 5
    await built.uploads.drain()
    prompt = await built.drafts.resume(worker.telegram_id)
    assert prompt is not None
    assert prompt.attachments == 1
    assert watched.csp_violations() == []
    assert not [e for e in watched.errors if e.startswith("pageerror")]
