"""Broadcasts through the emulator with Telegram's flood limits on.

A coordinator composes with buttons and typed text, previews and sends to 30 people in
two languages; every one of them gets exactly one message in their language and the
emulator answers no request with a 429. An alert's "Seen" tap shows in the report; a
health worker cannot broadcast, and forged buttons change nothing.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from datetime import timedelta

import pytest
from redis.asyncio import Redis

from bot.clock import ManualClock
from bot.config import Settings
from bot.domain import Role, Status
from bot.handlers import broadcast_languages as langs
from bot.i18n import LANGUAGE_NAMES
from bot.sandbox.client import ChatMessage, SandboxClient
from bot.sandbox.emulator import BotApiEmulator
from bot.sandbox.limits import Limits
from bot.sandbox.live import running_bot
from bot.sandbox.script import Person, Transcript
from bot.storage.models import User
from tests.e2e.conftest import World
from tests.e2e.people import coordinator, health_worker

N = 30


@pytest.fixture
async def emulator() -> AsyncIterator[BotApiEmulator]:
    async with BotApiEmulator(limits=Limits(flood_enabled=True)) as emulator:
        yield emulator


async def members(world: World, n: int) -> list[tuple[int, str]]:
    """``n`` active health workers of Dharwad (every other one reads Hindi)."""
    users = await asyncio.gather(
        *(world.client.create_user(f"Asha {i}", started=True) for i in range(n))
    )
    made = [(u.id, "hi" if i % 2 else "en") for i, u in enumerate(users)]
    async with world.runtime.db.transaction() as session:
        for telegram_id, language in made:
            session.add(
                User(
                    telegram_id=telegram_id,
                    role=Role.HEALTH_WORKER,
                    status=Status.ACTIVE,
                    language=language,
                    full_name=f"Asha {telegram_id}",
                    district="Dharwad",
                    created_at=world.services.clock.now(),
                )
            )
    return made


async def from_bot(world: World, chat: int) -> list[str]:
    return [m.text or "" for m in await world.client.messages(chat) if m.from_bot]


async def delivered(world: World, bid: int, n: int, within: float = 30.0) -> None:
    deadline = time.monotonic() + within
    while (report := await world.services.broadcasts.report(bid)).sent < n:
        assert time.monotonic() < deadline, report
        await asyncio.sleep(0.1)


def language_button(listing: ChatMessage, code: str) -> str:
    """The label of ``code``'s button in the Translations list."""
    for row in listing.buttons:
        for b in row:
            if (b.callback_data or "").endswith(f":tr:{code}"):
                return b.text
    raise AssertionError(f"no button for {code!r}")


async def translate(
    world: World, ravi: Person, listing: ChatMessage, code: str, text: str
) -> ChatMessage:
    """Tap ``code`` in the Translations list, type its text; the list shown again."""
    en = world.catalogs.get("en")
    await ravi.tap(listing, language_button(listing, code))
    await ravi.expect_edit(listing, en._(langs.TYPE_IN, language=LANGUAGE_NAMES[code]))
    await ravi.send(text)
    listing = await ravi.expect(en._(langs.TRANSLATIONS))
    assert langs.GIVEN + LANGUAGE_NAMES[code] in language_button(listing, code)
    return listing


async def compose(world: World, ravi: Person, kind: str, english: str, hindi: str | None) -> int:
    """Walk the /broadcast dialogue to the preview and tap Send now; the broadcast's id."""
    en = world.catalogs.get("en")
    await ravi.send("/broadcast")
    start = await ravi.expect(en._("What do you want to send?"))
    await ravi.tap(start, kind)
    segment = await ravi.expect_edit(start, "Recipients now:")
    await ravi.tap(segment, en._("Health worker"))
    segment = await ravi.expect_edit(segment, "Recipients now:")
    await ravi.tap(segment, en._("Next"))
    await ravi.expect_edit(segment, en._("Type the message in English."))
    await ravi.send(english)
    listing = await ravi.expect(en._(langs.TRANSLATIONS))
    if hindi is not None:
        listing = await translate(world, ravi, listing, "hi", hindi)
    await ravi.tap(listing, en._("Done"))
    preview = await ravi.expect("Preview", english)
    await ravi.tap(preview, en._("Send now"))
    report = await ravi.expect_edit(preview, "Recipients")
    return int(report.text.split("#")[1].split(":")[0])  # type: ignore[union-attr]


async def test_coordinator_broadcasts_to_30_in_two_languages(world: World) -> None:
    ravi = await coordinator(world)
    sunita = await health_worker(world)  # a Hindi reader onboarded through the bot
    people = await members(world, N)
    bid = await compose(
        world, ravi, "Broadcast", "Polio drive on Sunday", "रविवार को पोलियो अभियान"
    )
    await delivered(world, bid, N + 1)
    for chat, language in [*people, (sunita.id, "hi")]:
        got = [t for t in await from_bot(world, chat) if "Polio" in t or "पोलियो" in t]
        want = "रविवार को पोलियो अभियान" if language == "hi" else "Polio drive on Sunday"
        assert got == [want], (chat, got)
    report = await world.services.broadcasts.report(bid)
    assert (report.recipients, report.sent, report.queued, report.blocked) == (N + 1, N + 1, 0, 0)
    assert report.by_language == {"en": N // 2, "hi": N // 2 + 1}
    # the report button shows the live counts
    en = world.catalogs.get("en")
    last = (await world.client.messages(ravi.id))[-1]
    await ravi.tap(last, en._("Refresh report"))
    await ravi.expect_edit(last, f"Recipients {N + 1} · queued 0 · sent {N + 1}")
    # sending the same broadcast again (a forged second tap) sends nothing more
    forged = await ravi.tap(last, f"bc:{bid}:send:0", forged=True)
    await ravi.alert(forged)
    assert (await world.client.stats())["responses_429"] == 0


async def test_alert_seen_and_unseen(world: World) -> None:
    ravi = await coordinator(world)
    sunita = await health_worker(world)
    people = await members(world, 4)
    bid = await compose(world, ravi, "Alert (must be acknowledged)", "Road to Khed closed", None)
    await delivered(world, bid, 5)
    hi = world.catalogs.get("hi")
    card = await sunita.expect(hi._("⚠️ ALERT"), "Road to Khed closed")
    tapped = await sunita.tap(card, hi._("Seen ✓"))
    await sunita.alert(tapped, hi._("Thank you, noted."))
    for _ in range(100):
        if (await world.services.broadcasts.report(bid)).seen == 1:
            break
        await asyncio.sleep(0.05)
    unseen = await world.services.broadcasts.unseen(bid)
    assert {u.telegram_id for u in unseen} == {chat for chat, _ in people}
    # someone who did not get it cannot mark it seen
    stranger = await health_worker(world, language="en", name="Kiran Rao")
    mine = (await world.client.messages(stranger.id))[-1]
    forged = await stranger.tap(mine, f"seen:{bid}", forged=True)
    await stranger.alert(forged)
    assert (await world.services.broadcasts.report(bid)).seen == 1
    en = world.catalogs.get("en")
    last = (await world.client.messages(ravi.id))[-1]
    await ravi.tap(last, en._("Refresh report"))
    await ravi.expect_edit(last, "Seen by 1 of 5.")
    resend = await ravi.tap(last, en._("Resend to those who haven't seen it"))
    await ravi.alert(resend, "4")
    for chat, _ in people:
        for _ in range(100):
            if len(await from_bot(world, chat)) == 2:
                break
            await asyncio.sleep(0.05)
        assert len(await from_bot(world, chat)) == 2
    assert (await world.client.stats())["responses_429"] == 0


async def test_a_health_worker_cannot_broadcast(world: World) -> None:
    sunita = await health_worker(world)
    hi = world.catalogs.get("hi")
    await sunita.send("/broadcast")
    await sunita.expect(hi._("Only coordinators and administrators can send broadcasts."))
    await sunita.send("/broadcasts")
    await sunita.expect(hi._("Only coordinators and administrators can send broadcasts."))
    last = (await world.client.messages(sunita.id))[-1]
    forged = await sunita.tap(last, "bc:1:kind:alert", forged=True)
    await sunita.alert(forged)


async def test_a_scheduled_broadcast_fires_once_across_restarts(
    settings: Settings, emulator: BotApiEmulator, clock: ManualClock, redis: Redis
) -> None:
    """Scheduled while one bot runs; due while none runs; sent once by the next bot."""
    fast = settings.model_copy(update={"scheduler_interval_seconds": 0.05})
    async with (
        SandboxClient(emulator.control_url, default_timeout=10) as client,
        running_bot(fast, emulator, clock=clock, redis=redis) as runtime,
    ):
        world = World(client, runtime, Transcript(), runtime.services.catalogs)
        people = await members(world, 3)
        service = runtime.services.broadcasts
        bid = await service.create(
            None, texts={"en": "Clinic day tomorrow", "hi": "कल क्लिनिक का दिन"}
        )
        await service.schedule(bid, clock.now() + timedelta(hours=1))
        await asyncio.sleep(0.3)
        assert [await from_bot(world, chat) for chat, _ in people] == [[], [], []]
    clock.advance(timedelta(hours=2))
    for _restart in range(2):
        async with (
            SandboxClient(emulator.control_url, default_timeout=10) as client,
            running_bot(fast, emulator, clock=clock, redis=redis) as runtime,
        ):
            world = World(client, runtime, Transcript(), runtime.services.catalogs)
            await delivered(world, bid, 3)
            await asyncio.sleep(0.3)
    for chat, language in people:
        want = "कल क्लिनिक का दिन" if language == "hi" else "Clinic day tomorrow"
        assert await from_bot(world, chat) == [want]


async def test_500_recipients_each_served_once_without_a_429(
    settings: Settings, clock: ManualClock, redis: Redis
) -> None:
    """The emulator's global limit raised (the bot's budget a little under) to keep it short."""
    limits = Limits(flood_enabled=True, global_rate=100.0, global_burst=100)
    fast = settings.model_copy(update={"send_rate_per_second": 90.0})
    async with (
        BotApiEmulator(limits=limits) as emulator,
        SandboxClient(emulator.control_url, default_timeout=10) as client,
        running_bot(fast, emulator, clock=clock, redis=redis) as runtime,
    ):
        world = World(client, runtime, Transcript(), runtime.services.catalogs)
        people = await members(world, 500)
        service = runtime.services.broadcasts
        bid = await service.create(
            None, texts={"en": "Heat wave: keep ORS ready", "hi": "लू: ORS तैयार रखें"}
        )
        assert await service.send(bid) == 500
        assert await service.send(bid) == 0
        await delivered(world, bid, 500, within=60)
        for chat, language in people:
            want = "लू: ORS तैयार रखें" if language == "hi" else "Heat wave: keep ORS ready"
            assert await from_bot(world, chat) == [want]
        assert (await client.stats())["responses_429"] == 0


async def test_a_coordinator_stays_within_their_district(world: World) -> None:
    ravi = await coordinator(world)  # Dharwad
    await members(world, 2)
    elsewhere = (await world.client.create_user("Asha Nashik", started=True)).id
    async with world.runtime.db.transaction() as session:
        session.add(
            User(
                telegram_id=elsewhere,
                role=Role.HEALTH_WORKER,
                status=Status.ACTIVE,
                language="en",
                full_name="Asha Nashik",
                district="Nashik",
                created_at=world.services.clock.now(),
            )
        )
    en = world.catalogs.get("en")
    await ravi.send("/broadcast")
    start = await ravi.expect(en._("What do you want to send?"))
    await ravi.tap(start, "Broadcast")
    segment = await ravi.expect_edit(start, "Recipients now: 3 people.")  # 2 + Ravi himself
    assert not any("Dharwad" in b.text for row in segment.buttons for b in row)
    forged = await ravi.tap(
        segment,
        segment.buttons[0][0].callback_data.replace("role:health_worker", "dist:0"),
        forged=True,
    )  # type: ignore[union-attr]
    await ravi.alert(forged)
    draft = await world.services.broadcasts.draft_of(
        (await world.services.directory.by_telegram(ravi.id)).id  # type: ignore[union-attr]
    )
    assert draft is not None
    assert draft.segment["districts"] == ["Dharwad"]


async def test_blocked_recipients_are_recorded(world: World) -> None:
    people = await members(world, 4)
    blocker = people[1][0]
    await world.client.block(blocker)
    service = world.services.broadcasts
    bid = await service.create(None, texts={"en": "Stock check on Friday"})
    await service.send(bid)
    for _ in range(200):
        report = await service.report(bid)
        if not report.queued:
            break
        await asyncio.sleep(0.05)
    assert (report.sent, report.blocked, report.queued) == (3, 1, 0)
    user = await world.services.directory.by_telegram(blocker)
    assert user is not None
    assert not user.reachable
    again = await service.create(None, texts={"en": "Next week"})
    assert await service.send(again) == 3  # the unreachable one is no longer a recipient
