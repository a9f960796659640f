"""Broadcast replies threaded to the coordinator, the self-updating report, attachments.

Through the emulator with its flood limits on and the timers ticking fast; the clock is
the test's, so the report's refreshes happen when the test moves time on.
"""

from __future__ import annotations

import asyncio
from datetime import timedelta

import pytest
from sqlalchemy import delete

from bot.cases.broadcasts import BROADCAST, MAX_CAPTION
from bot.clock import ManualClock
from bot.handlers import broadcast_languages as langs
from bot.handlers.broadcasts import TOO_LONG_FOR_CAPTION
from bot.sandbox import specimens
from bot.sandbox.client import ChatMessage
from bot.sandbox.script import Person
from bot.storage.models import OutboxMessage
from tests.e2e.conftest import World
from tests.e2e.people import coordinator, health_worker
from tests.e2e.test_broadcasts import compose, delivered, language_button, members, translate

PDF = b"%PDF-1.4\n1 0 obj <<>> endobj\ntrailer <<>>\n%%EOF\n"


@pytest.fixture
def world(paced_world: World) -> World:
    return paced_world


async def last_from_bot(world: World, chat: int, fragment: str) -> ChatMessage:
    for _ in range(200):
        found = [
            m
            for m in await world.client.messages(chat)
            if m.from_bot and fragment in (m.text or "")
        ]
        if found:
            return found[-1]
        await asyncio.sleep(0.05)
    raise AssertionError(f"no message with {fragment!r} in chat {chat}")


async def now_reads(world: World, chat: int, message_id: int, fragment: str) -> ChatMessage:
    """The message once its current text has ``fragment`` (edits may come in any number)."""
    for _ in range(200):
        current = await world.client.message(chat, message_id)
        if fragment in (current.text or ""):
            return current
        await asyncio.sleep(0.05)
    raise AssertionError(f"{fragment!r} not in {current.text!r}")


async def report_message(world: World, ravi: Person) -> ChatMessage:
    return await last_from_bot(world, ravi.id, "Recipients")


async def test_replies_reach_the_coordinator_threaded_by_broadcast(
    world: World, clock: ManualClock
) -> None:
    ravi = await coordinator(world)
    sunita = await health_worker(world)  # Hindi, PHC Amminabhavi
    people = await members(world, 2)
    bid = await compose(world, ravi, "Broadcast", "Polio drive on Sunday at the PHC", None)
    await delivered(world, bid, 3)
    hi = world.catalogs.get("hi")
    en = world.catalogs.get("en")

    # Sunita taps "Reply" and answers the prompt
    card = await last_from_bot(world, sunita.id, "Polio drive")
    await sunita.tap(card, hi._("↩️ Reply"))
    prompt = await last_from_bot(world, sunita.id, f"#{bid}")
    await world.client.send_text(sunita.id, "We need 200 more doses", reply_to=prompt.message_id)
    await last_from_bot(
        world, sunita.id, hi._("Thank you. Your reply was passed on to the sender.")
    )
    forwarded = await last_from_bot(world, ravi.id, "We need 200 more doses")
    assert forwarded.text is not None
    assert f"#{bid}" in forwarded.text
    assert "Polio drive on Sunday at the PHC" in forwarded.text
    assert "Sunita Devi (Health worker, PHC Amminabhavi)" in forwarded.text

    # another health worker answers the broadcast message itself (a Telegram reply)
    asha = people[0][0]
    theirs = await last_from_bot(world, asha, "Polio drive")
    await world.client.send_text(asha, "Van is ready", reply_to=theirs.message_id)
    forwarded = await last_from_bot(world, ravi.id, "Van is ready")
    assert f"#{bid}" in (forwarded.text or "")

    # long after: the broadcast's outbox row was purged; the Reply button still tells
    async with world.runtime.db.transaction() as session:
        await session.execute(
            delete(OutboxMessage).where(OutboxMessage.dedupe_key.startswith(f"broadcast:{bid}:"))
        )
    await world.client.send_text(asha, "Van is back", reply_to=theirs.message_id)
    await last_from_bot(world, ravi.id, "Van is back")

    # a reply to some other message of the bot is ordinary text
    thanks = await last_from_bot(world, asha, "Thank you")
    await world.client.send_text(asha, "ok", reply_to=thanks.message_id)
    await last_from_bot(world, asha, "I did not understand")

    # the report counts the replies and lists them
    report = await report_message(world, ravi)
    await ravi.tap(report, en._("Refresh report"))
    report = await now_reads(world, ravi.id, report.message_id, "3 replies.")
    await ravi.tap(report, en._("All replies"))
    listing = await last_from_bot(world, ravi.id, "Replies to #")
    assert listing.text is not None
    assert f"#{bid}" in listing.text
    assert listing.text.index("200 more doses") < listing.text.index("Van is ready")

    # a stranger's forged Reply tap is refused
    stranger = await health_worker(world, language="en", name="Kiran Rao")
    mine = (await world.client.messages(stranger.id))[-1]
    forged = await stranger.tap(mine, f"bcr:{bid}", forged=True)
    await stranger.alert(forged, en._("This message was not sent to you."))
    assert await world.services.broadcasts.replies.count(bid) == 3
    assert (await world.client.stats())["responses_429"] == 0


async def test_the_report_updates_itself_and_stops_when_done(
    world: World, clock: ManualClock
) -> None:
    ravi = await coordinator(world)
    await members(world, 12)
    bid = await compose(world, ravi, "Broadcast", "Stock check on Friday", None)
    await delivered(world, bid, 12)
    report = await report_message(world, ravi)
    done = "Recipients 12 · queued 0 · sent 12"
    for _ in range(20):  # each step: a refresh is due; its edit goes through the outbox
        current = await world.client.message(ravi.id, report.message_id)
        if done in (current.text or "") and "done" in (current.text or ""):
            break
        clock.advance(timedelta(seconds=6))
        await asyncio.sleep(0.3)
    else:
        raise AssertionError(current.text)
    edits = len(current.history)
    # finished: no more refreshes, however much time passes
    for _ in range(3):
        clock.advance(timedelta(seconds=6))
        await asyncio.sleep(0.3)
    current = await world.client.message(ravi.id, report.message_id)
    assert len(current.history) == edits
    pending = await world.services.escalator.timers.pending()
    assert [t.kind for t in pending if t.kind == BROADCAST] == []
    assert (await world.client.stats())["responses_429"] == 0


async def test_a_photo_goes_with_the_caption_in_each_language(world: World) -> None:
    ravi = await coordinator(world)
    sunita = await health_worker(world)  # Hindi
    en = world.catalogs.get("en")
    await ravi.send("/broadcast")
    start = await ravi.expect(en._("What do you want to send?"))
    await ravi.tap(start, "Broadcast")
    segment = await ravi.expect_edit(start, "Recipients now:")
    await ravi.tap(segment, en._("Health worker"))
    segment = await ravi.expect_edit(segment, "Recipients now:")
    await ravi.tap(segment, en._("Next"))
    await ravi.expect_edit(segment, en._("Type the message in English."))
    await world.client.send_photo(ravi.id, specimens.lesion_photo_jpeg(320, 240))
    await ravi.expect(en._("Attached. It will be sent with the message."))
    await ravi.send("Camp poster")
    listing = await ravi.expect(en._(langs.TRANSLATIONS))
    # with a picture each text must fit a caption: a longer translation is refused
    await ravi.tap(listing, language_button(listing, "ta"))
    asked = await ravi.expect_edit(listing, en._(langs.TYPE_IN, language="தமிழ்"))
    await ravi.send("முகாம் " * 200)
    await ravi.expect(en._(TOO_LONG_FOR_CAPTION, n=MAX_CAPTION))
    await ravi.tap(asked, en._("Back"))
    listing = await ravi.expect_edit(asked, en._(langs.TRANSLATIONS))
    assert "தமிழ்" in listing.button_texts()  # still without a text
    listing = await translate(world, ravi, listing, "hi", "शिविर का पोस्टर")
    await ravi.tap(listing, en._("Done"))
    preview = await ravi.expect("Preview", "📎")
    # a PDF sent at the preview replaces the photo and shows the preview again
    await world.client.send_document(ravi.id, PDF, "camp.pdf", mime_type="application/pdf")
    await ravi.expect(en._("Attached. It will be sent with the message."))
    preview = await ravi.expect("Preview", "📎")
    await ravi.tap(preview, en._("Send now"))
    report = await ravi.expect_edit(preview, "Recipients")
    bid = int((report.text or "").split("#")[1].split(":")[0])
    await delivered(world, bid, 1)
    got = await last_from_bot(world, sunita.id, "शिविर का पोस्टर")
    assert got.kind == "document"
    assert got.caption == "शिविर का पोस्टर"


async def test_a_photo_outside_composing_is_not_taken(world: World) -> None:
    ravi = await coordinator(world)
    await world.client.send_photo(ravi.id, specimens.lesion_photo_jpeg(320, 240))
    en = world.catalogs.get("en")
    await ravi.expect(en._("I can't use this here. Send /help to see what you can do."))
