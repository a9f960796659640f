"""A specialist's secure link to the whole study: receive, open, view, download, lose it."""

from __future__ import annotations

import io
import zipfile

import aiohttp
import pytest
from PIL import Image

from bot.handlers import links as links_texts
from bot.handlers.study_links import VIEW
from bot.security.capability_links import Denied
from tests.e2e.conftest import World
from tests.e2e.people import coordinator, health_worker, specialist
from tests.e2e.test_routing import case_id, submit_case


async def test_specialist_receives_opens_views_downloads_and_loses_the_link(world: World) -> None:
    if getattr(world.runtime, "web_url", None) is None:
        pytest.skip("this sandbox does not start the web side")
    en = world.catalogs.get("en")
    meera = await specialist(world)
    sunita = await health_worker(world)
    code = await submit_case(world, sunita)
    await meera.expect()  # the chest film's preview
    await meera.expect()  # the photo's preview
    card = await meera.expect(code, en._("Full study: a secure link comes when you accept."))
    assert "/s/" not in (card.text or "")
    await meera.tap(card, en._("Accept"))
    card = await meera.expect_edit(card, en._("✅ You accepted this case."))
    view = next(b for row in card.buttons for b in row if b.text == en._(VIEW))
    url = view.url
    assert url is not None and url in (card.text or "")  # the plain link, for other devices
    assert view.web_app is None  # plain http here: Telegram would refuse a Mini App button
    assert code not in url and "Meera" not in url
    assert card.protect_content

    async with aiohttp.ClientSession() as http:
        page = await http.get(url)
        assert page.status == 200 and page.headers["Cache-Control"] == "no-store"
        study = await (await http.get(f"{url}/study")).json()
        assert study["case"]["code"] == code and study["can_download"]
        film = study["series"][0]
        frame = await http.get(f"{url}/series/{film['id']}/frames/0.jpg?size=low")
        first = await frame.read()
        assert frame.status == 200 and max(Image.open(io.BytesIO(first)).size) <= 640
        narrow = await http.get(
            f"{url}/series/{film['id']}/frames/0.jpg?size=low&center=1500&width=400&invert=1"
        )
        assert narrow.status == 200 and await narrow.read() != first
        download = await http.get(f"{url}/download.zip")
        archive = zipfile.ZipFile(io.BytesIO(await download.read()))
        assert any(name.endswith(".dcm") for name in archive.namelist())

        tampered = url[:-1] + ("A" if url[-1] != "A" else "B")
        assert (await http.get(tampered)).status == 404

        # The Mini App: Meera's genuine initData works, a stranger's is refused.
        base = url.split("/s/")[0]
        now = int(world.services.clock.now().timestamp())  # the bot's clock, not the wall's
        meera_data = await world.client.web_app_init_data(meera.id, auth_date=now)
        headers = {"X-Telegram-Init-Data": meera_data}
        assert (await http.get(f"{base}/app/{code}")).status == 200
        assert (await http.get(f"{base}/m/{code}/study", headers=headers)).status == 200
        forged = {"X-Telegram-Init-Data": meera_data.replace("hash=", "hash=0")}
        assert (await http.get(f"{base}/m/{code}/study", headers=forged)).status == 401
        other = await specialist(world, name="Dr. Arjun Rao")
        other_data = await world.client.web_app_init_data(other.id, auth_date=now)
        theirs = {"X-Telegram-Init-Data": other_data}
        assert (await http.get(f"{base}/m/{code}/study", headers=theirs)).status == 403

        # The coordinator (or `sampark links revoke`) withdraws it: a clear 410 page.
        links = await world.services.links.links_for_case(await case_id(world, code))
        live = [link for link in links if link.state == "active"]
        assert len(live) == 1 and live[0].can_download
        assert await world.services.links.revoke(live[0].id, by_user_id=None, reason="test")
        gone = await http.get(url)
        assert gone.status == 410 and "<h1>" in await gone.text()
        assert (await http.get(f"{url}/study")).status == 410


async def test_a_coordinator_lists_and_revokes_a_study_link(world: World) -> None:
    en = world.catalogs.get("en")
    ravi = await coordinator(world)
    meera = await specialist(world)
    sunita = await health_worker(world)
    code = await submit_case(world, sunita)
    await meera.expect()
    await meera.expect()
    card = await meera.expect(code)
    await meera.tap(card, en._("Accept"))
    card = await meera.expect_edit(card, en._("✅ You accepted this case."))
    url = next(b.url for row in card.buttons for b in row if b.text == en._(VIEW))
    assert url is not None
    token = url.rsplit("/s/", 1)[1]

    await ravi.send("/links")
    await ravi.expect(en._(links_texts.USAGE))
    await ravi.send("/links", "NOPE-000")
    await ravi.expect(en._(links_texts.NOT_YOURS))
    await ravi.send("/links", code)
    listing = await ravi.expect(en._(links_texts.HEADER, code=code), "Dr. Meera Iyer")
    assert token not in (listing.text or "")
    await ravi.tap(listing, en._(links_texts.REVOKE, name="Dr. Meera Iyer"))
    await ravi.expect_edit(listing, en._(links_texts.NONE_LIVE, code=code))
    gone = await world.services.links.resolve(token, ip="127.0.0.1", user_agent="test")
    assert isinstance(gone, Denied) and gone.status == 410

    # A health worker cannot see or revoke links.
    await sunita.expect(code)  # "accepted" came first
    await sunita.send("/links", code)
    await sunita.expect(world.catalogs.get("hi")._(links_texts.NOT_YOURS))
