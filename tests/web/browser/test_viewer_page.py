"""The viewer page in headless Chromium against a stand-in back end (``fake_viewer``).

These pin the front end's side of the HTTP contract: what it requests, in what order,
with which parameters and headers, and what a person sees.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable
from typing import TYPE_CHECKING
from urllib.parse import quote

import pytest

from tests.web.browser.chromium import Watched, frame_state, phone_page, serving, wait_until
from tests.web.browser.fake_viewer import FakeStudy, fake_app

if TYPE_CHECKING:
    from playwright.async_api import Browser

FIRST_IMAGE = "document.getElementById('frame').naturalWidth > 0"
FULL_IMAGE = "document.getElementById('frame').naturalWidth === 512"


@pytest.fixture
def fake() -> FakeStudy:
    return FakeStudy()


@pytest.fixture
async def site(fake: FakeStudy) -> AsyncIterator[str]:
    async with serving(fake_app(fake)) as url:
        yield url


async def eventually(condition: Callable[[], bool], seconds: float = 10.0) -> None:
    """Wait until something the server recorded becomes true."""
    for _ in range(int(seconds / 0.05)):
        if condition():
            return
        await asyncio.sleep(0.05)
    raise AssertionError("condition never became true")


async def open_link(browser: Browser, site: str, *, touch: bool = False) -> Watched:
    watched = await phone_page(browser, touch=touch)
    await watched.page.goto(site + "/s/tok-123")
    await wait_until(watched.page, FIRST_IMAGE)
    return watched


async def test_first_image_is_the_small_one_then_the_full_one(
    browser: Browser, site: str, fake: FakeStudy
) -> None:
    watched = await open_link(browser, site)
    page = watched.page
    first = fake.frame_requests[0]
    assert first == {"size": "low", "path": "/s/tok-123/series/s1/frames/0.jpg"}
    await wait_until(page, FULL_IMAGE)
    state = await frame_state(page)
    assert state["src"].startswith("blob:")
    assert state["counter"] == "1 of 12"
    assert {"size": "full", "path": "/s/tok-123/series/s1/frames/0.jpg"} in fake.frame_requests
    # Neighbours are prefetched small, not full.
    await eventually(lambda: any(r["path"].endswith("/1.jpg") for r in fake.frame_requests))
    prefetched = [r for r in fake.frame_requests if r["path"].endswith("/1.jpg")]
    assert prefetched and all(r["size"] == "low" for r in prefetched)
    # The case card, the burned-in banner and the download link are there.
    assert await page.inner_text("#lines") == "Male, 45 y\nHeadache for 3 days"
    assert await page.is_visible("#banner")
    assert "identify" in await page.inner_text("#banner")
    assert await page.get_attribute("#download", "href") == "/s/tok-123/download.zip"
    assert await page.inner_text("#code") == "C-0042"
    assert watched.csp_violations() == []
    assert watched.errors == []


async def test_no_banner_or_download_when_not_flagged(
    browser: Browser, site: str, fake: FakeStudy
) -> None:
    fake.burned_in = False
    fake.can_download = False
    page = (await open_link(browser, site)).page
    assert not await page.is_visible("#banner")
    assert not await page.is_visible("#download")


async def test_keys_wheel_slider_and_swipe_change_the_frame(
    browser: Browser, site: str, fake: FakeStudy
) -> None:
    page = (await open_link(browser, site)).page
    await page.keyboard.press("ArrowDown")
    await wait_until(page, "document.getElementById('counter').textContent === '2 of 12'")
    await page.keyboard.press("End")
    await wait_until(page, "document.getElementById('counter').textContent === '12 of 12'")
    await page.hover("#stage")
    await page.mouse.wheel(0, -100)
    await wait_until(page, "document.getElementById('counter').textContent === '11 of 12'")
    await page.fill("#slider", "5")
    await wait_until(page, "document.getElementById('counter').textContent === '5 of 12'")
    await wait_until(page, FULL_IMAGE)
    assert {"size": "full", "path": "/s/tok-123/series/s1/frames/4.jpg"} in fake.frame_requests
    # A one-finger (here: mouse) drag upwards at normal zoom scrubs forward, like scrolling.
    box = await page.locator("#stage").bounding_box()
    assert box is not None
    x, y = box["x"] + box["width"] / 2, box["y"] + box["height"] - 40
    await page.mouse.move(x, y)
    await page.mouse.down()
    await page.mouse.move(x, y - 120, steps=6)
    await page.mouse.up()
    state = await frame_state(page)
    assert state["counter"] != "5 of 12"
    n = int(state["counter"].split()[0])
    assert n > 5
    await wait_until(page, f"document.getElementById('frame').alt.endsWith('{n} of 12')")


async def test_preset_invert_and_drag_adjust_request_server_frames(
    browser: Browser, site: str, fake: FakeStudy
) -> None:
    page = (await open_link(browser, site)).page
    await wait_until(page, FULL_IMAGE)
    before = (await frame_state(page))["src"]
    await page.click("#presets >> text=Bone")
    await wait_until(page, f"document.getElementById('frame').getAttribute('src') !== {before!r}")
    bone = [r for r in fake.frame_requests if r.get("center") == "500"]
    assert bone[0] == {
        "size": "full",
        "center": "500",
        "width": "2000",
        "path": "/s/tok-123/series/s1/frames/0.jpg",
    }
    assert await page.get_attribute("#presets >> text=Bone", "aria-pressed") == "true"
    assert "500 / 2000" in await page.inner_text("#readout")
    assert not (await frame_state(page))["filtered"]

    # Invert previews at once, then the server's inverted frame replaces the preview.
    await page.click("#invert")
    assert (await frame_state(page))["filtered"]
    await wait_until(page, "!document.getElementById('frame').classList.contains('wl')")
    assert any(r.get("invert") == "1" for r in fake.frame_requests)
    await page.click("#invert")
    await wait_until(page, "!document.getElementById('frame').classList.contains('wl')")

    # Adjust mode: a drag previews with the colour filter, release fetches the exact frame.
    await page.click("#mode-adjust")
    assert await page.get_attribute("#mode-adjust", "aria-pressed") == "true"
    box = await page.locator("#stage").bounding_box()
    assert box is not None
    x, y = box["x"] + box["width"] / 2, box["y"] + box["height"] / 2
    count = len(fake.frame_requests)
    await page.mouse.move(x, y)
    await page.mouse.down()
    await page.mouse.move(x - 150, y + 60, steps=5)
    during = await frame_state(page)
    assert during["filtered"]
    assert during["counter"] == "1 of 12"  # adjusting does not scrub
    assert len(fake.frame_requests) == count  # nothing fetched while dragging
    await page.mouse.up()
    await wait_until(page, "!document.getElementById('frame').classList.contains('wl')")
    dragged = fake.frame_requests[count]
    # Width halves (150 px left), level rises by 60/300 of the starting width.
    assert dragged["size"] == "full"
    assert dragged["width"] == "1000"
    assert dragged["center"] == "900"
    assert await page.get_attribute("#presets >> text=Bone", "aria-pressed") == "false"

    # Reset goes back to the series' own window (no center/width in the request).
    count = len(fake.frame_requests)
    await page.click("#reset")
    # ... whose full frame is still cached from the start: shown again without a request.
    await wait_until(page, f"document.getElementById('frame').getAttribute('src') === {before!r}")
    assert not (await frame_state(page))["filtered"]
    assert len(fake.frame_requests) == count
    assert await page.get_attribute("#mode-pan", "aria-pressed") == "true"
    assert "40 / 80" in await page.inner_text("#readout")


async def test_pinch_zooms_and_one_finger_then_pans(browser: Browser, site: str) -> None:
    page = (await open_link(browser, site, touch=True)).page
    box = await page.locator("#stage").bounding_box()
    assert box is not None
    cx, cy = box["x"] + box["width"] / 2, box["y"] + box["height"] / 2
    cdp = await page.context.new_cdp_session(page)

    async def touch(kind: str, points: list[tuple[float, float]]) -> None:
        await cdp.send(
            "Input.dispatchTouchEvent",
            {
                "type": kind,
                "touchPoints": [{"x": x, "y": y, "id": i} for i, (x, y) in enumerate(points)],
            },
        )

    await touch("touchStart", [(cx - 20, cy), (cx + 20, cy)])
    for spread in (40, 60, 80, 100):
        await touch("touchMove", [(cx - spread, cy), (cx + spread, cy)])
    await touch("touchEnd", [])
    transform = (await frame_state(page))["transform"]
    assert "scale(" in transform
    zoom = float(transform.split("scale(")[1].rstrip(")"))
    assert zoom == pytest.approx(5, rel=0.05)
    # Zoomed in, one finger pans instead of changing frame.
    await touch("touchStart", [(cx, cy)])
    await touch("touchMove", [(cx + 30, cy + 10)])
    await touch("touchMove", [(cx + 60, cy + 20)])
    await touch("touchEnd", [])
    state = await frame_state(page)
    assert state["counter"] == "1 of 12"
    assert state["transform"] != transform
    # Double click (or tap) resets the view.
    await page.dblclick("#stage")
    assert "scale(1)" in (await frame_state(page))["transform"]


async def test_series_switch_shows_the_colour_photo_without_window_tools(
    browser: Browser, site: str, fake: FakeStudy
) -> None:
    page = (await open_link(browser, site)).page
    await page.click("#series >> text=Photo")
    await wait_until(page, "document.getElementById('counter').textContent === '1 of 1'")
    await wait_until(page, "document.getElementById('frame').naturalWidth === 512")
    assert any(r["path"] == "/s/tok-123/series/p1/frames/0.jpg" for r in fake.frame_requests)
    assert not await page.is_visible("#presets-box")
    assert await page.is_disabled("#mode-adjust")
    assert await page.is_disabled("#slider")
    assert await page.inner_text("#readout") == ""


async def test_urdu_is_right_to_left(browser: Browser, site: str, fake: FakeStudy) -> None:
    fake.lang = "ur"
    page = (await open_link(browser, site)).page
    assert await page.evaluate("[document.documentElement.lang, document.documentElement.dir]") == [
        "ur",
        "rtl",
    ]
    assert await page.inner_text("#counter") == "12 میں سے 1"
    assert await page.title() == "مطالعہ"
    # In right-to-left, the left arrow moves forward (as the slider does).
    await page.keyboard.press("ArrowLeft")
    await wait_until(page, "document.getElementById('counter').textContent === '12 میں سے 2'")


async def test_link_revoked_while_viewing_shows_the_message(
    browser: Browser, site: str, fake: FakeStudy
) -> None:
    page = (await open_link(browser, site)).page
    fake.gone.add("tok-123")
    await page.keyboard.press("End")
    await wait_until(page, "document.getElementById('status').textContent === 'Fake gone.'")
    assert await page.get_attribute("#status", "class") == "status error"


async def test_study_refused_shows_a_full_page_message(browser: Browser, site: str) -> None:
    watched = await phone_page(browser)
    # The page itself loads (the fake only refuses the API), the study JSON says 410.
    await watched.page.route(
        "**/s/tok-x/study",
        lambda route: route.fulfill(
            status=410,
            content_type="application/json",
            body='{"error": "gone", "message": "This link is no longer valid."}',
        ),
    )
    await watched.page.goto(site + "/s/tok-x")
    await wait_until(watched.page, "document.body.classList.contains('failed')")
    assert await watched.page.inner_text("#status") == "This link is no longer valid."
    assert not await watched.page.is_visible("#slider")


async def test_mini_app_sends_init_data_on_every_request(
    browser: Browser, site: str, fake: FakeStudy
) -> None:
    init_data = "query_id=AAE&user=%7B%22id%22%3A42%7D&auth_date=1700000000&hash=abc"
    watched = await phone_page(browser)
    await watched.page.goto(
        f"{site}/app/C-0042#tgWebAppData={quote(init_data)}&tgWebAppVersion=8.0"
    )
    await wait_until(watched.page, FULL_IMAGE)
    api = [r for r in fake.requests if r.path.startswith("/m/")]
    assert api[0].path == "/m/C-0042/study"
    assert {r.headers.get("X-Telegram-Init-Data") for r in api} == {init_data}
    assert any(r.path == "/m/C-0042/series/s1/frames/0.jpg" for r in api)


async def test_mini_app_downloads_through_a_ticket_not_a_blob(
    browser: Browser, site: str, fake: FakeStudy
) -> None:
    init_data = "query_id=AAE&user=%7B%22id%22%3A42%7D&auth_date=1700000000&hash=abc"
    watched = await phone_page(browser)
    page = watched.page
    await page.add_init_script(
        """(() => {
          window.__blobs = 0; const create = URL.createObjectURL;
          URL.createObjectURL = (b) => { if (b.type === 'application/zip' || b.size > 1000000)
            window.__blobs += 1; return create(b); };
        })()"""
    )
    await page.goto(f"{site}/app/C-0042#tgWebAppData={quote(init_data)}&tgWebAppVersion=8.0")
    await wait_until(page, FIRST_IMAGE)
    async with page.expect_download() as download_info:
        await page.click("#download")
    download = await download_info.value
    assert download.url.endswith("/d/ticket-1")
    paths = [(r.method, r.path) for r in fake.requests]
    assert ("POST", "/m/C-0042/download-ticket") in paths and ("GET", "/d/ticket-1") in paths
    assert ("GET", "/m/C-0042/download.zip") not in paths
    ticket = next(r for r in fake.requests if r.path.endswith("/download-ticket"))
    assert ticket.headers.get("X-Telegram-Init-Data") == init_data
    assert await page.evaluate("window.__blobs") == 0


async def test_mini_app_without_init_data_shows_the_refusal(browser: Browser, site: str) -> None:
    watched = await phone_page(browser)
    await watched.page.goto(f"{site}/app/C-0042")
    await wait_until(watched.page, "document.body.classList.contains('failed')")
    assert await watched.page.inner_text("#status") == "Fake init_data."


async def test_blob_urls_are_released_while_scrolling(
    browser: Browser, site: str, fake: FakeStudy
) -> None:
    watched = await phone_page(browser)
    page = watched.page
    await page.add_init_script(
        """(() => {
          const live = new Set(); window.__liveBlobs = live;
          const create = URL.createObjectURL, revoke = URL.revokeObjectURL;
          URL.createObjectURL = (b) => { const u = create(b); live.add(u); return u; };
          URL.revokeObjectURL = (u) => { live.delete(u); revoke(u); };
        })()"""
    )
    await page.goto(site + "/s/tok-123")
    await wait_until(page, FIRST_IMAGE)
    for preset in ("Bone", "Lung"):
        await page.click(f"#presets >> text={preset}")
        for n in range(2, 13):
            await page.keyboard.press("ArrowDown")
            await wait_until(
                page, f"document.getElementById('frame').alt.endsWith('{n} of 12') && {FULL_IMAGE}"
            )
        await page.keyboard.press("Home")
        await wait_until(page, FULL_IMAGE)
    await wait_until(page, "!document.getElementById('frame').classList.contains('wl')")
    live = await page.evaluate("window.__liveBlobs.size")
    assert len(fake.frame_requests) > 45  # more images than the page keeps (40)
    assert 0 < live <= 41


async def test_obsolete_frame_requests_are_cancelled(
    browser: Browser, site: str, fake: FakeStudy
) -> None:
    page = (await open_link(browser, site)).page
    fake.delay = 1.0
    aborted: list[str] = []
    page.on(
        "requestfailed",
        lambda request: aborted.append(request.url) if request.url.endswith("size=low") else None,
    )
    for _ in range(6):
        await page.keyboard.press("ArrowDown")
    await wait_until(page, "document.getElementById('frame').alt.endsWith('7 of 12')", 20)
    # Frames skipped over (2 to 4, out of prefetch reach of 7) were requested, then abandoned.
    assert any("/frames/2.jpg" in url or "/frames/3.jpg" in url for url in aborted)
    assert not any("/frames/6.jpg" in url for url in aborted)


async def test_offline_banner_and_retry_when_back_online(
    browser: Browser, site: str, fake: FakeStudy
) -> None:
    page = (await open_link(browser, site)).page
    await page.context.set_offline(True)
    await page.keyboard.press("End")
    await wait_until(page, "!document.getElementById('offline').hidden")
    assert await page.inner_text("#offline") == "You are offline."
    await page.context.set_offline(False)
    await wait_until(page, "document.getElementById('offline').hidden")
    await wait_until(
        page, f"document.getElementById('frame').alt.endsWith('12 of 12') && {FULL_IMAGE}"
    )
    assert any(r["path"].endswith("/11.jpg") for r in fake.frame_requests)
