"""Broadcast replies, the self-updating report's timers, attachments (no Telegram here)."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import select, update

from bot.cases.broadcast_replies import Delivery, broadcast_id_of, title
from bot.cases.broadcasts import BROADCAST, BroadcastError, BroadcastService, Kind
from bot.cases.escalation import Timers
from bot.clock import ManualClock
from bot.i18n import Catalogs
from bot.outbox import Outbox
from bot.storage.database import Database
from bot.storage.models import OutboxMessage
from tests.cases.conftest import Factory


@pytest.fixture
def service(db: Database, clock: ManualClock) -> BroadcastService:
    return BroadcastService(db, clock, Outbox(db, clock), Timers(db, clock), Catalogs())


async def rows(db: Database, prefix: str) -> list[OutboxMessage]:
    async with db.transaction() as session:
        query = select(OutboxMessage).where(OutboxMessage.dedupe_key.startswith(prefix))
        return list(await session.scalars(query.order_by(OutboxMessage.id)))


async def settle(db: Database, prefix: str, status: str = "sent") -> None:
    async with db.transaction() as session:
        await session.execute(
            update(OutboxMessage)
            .where(OutboxMessage.dedupe_key.startswith(prefix))
            .values(status=status, message_id=OutboxMessage.id + 500)
        )


def test_title_is_the_first_words() -> None:
    assert title({"en": "Polio drive\nSunday 9 am"}) == "Polio drive"
    long = "Measles and rubella vaccination camp at every sub-centre of the block"
    assert title({"en": long}) == "Measles and rubella vaccination camp at…"
    assert title({"en": "Camp", "hi": "शिविर"}, "hi") == "शिविर"
    assert title({"en": "Camp"}, "hi") == "Camp"
    assert broadcast_id_of("broadcast:12:7:r99") == 12
    assert broadcast_id_of("bcreply:3") is None


async def test_a_reply_is_found_by_message_or_prompt_and_goes_to_the_author(
    service: BroadcastService, factory: Factory, db: Database
) -> None:
    ravi = await factory.coordinator(language="hi")
    asha = await factory.health_worker(language="en")
    other = await factory.health_worker()
    bid = await service.create(ravi.id, texts={"en": "Polio drive on Sunday"})
    await service.send(bid)
    await settle(db, f"broadcast:{bid}:")
    [mine] = await rows(db, f"broadcast:{bid}:{asha.id}")
    replies = service.replies
    assert await replies.find(asha, mine.message_id or 0) == bid
    assert await replies.find(other, mine.message_id or 0) is None  # not their chat's message
    assert await replies.find(asha, 4242) is None
    await replies.prompt_sent(asha.id, bid, 4242)
    assert await replies.find(asha, 4242) == bid

    assert await replies.record(bid, asha, "  Need 200 doses  ") is Delivery.FORWARDED
    [forwarded] = await rows(db, "bcreply:")
    assert forwarded.chat_id == ravi.telegram_id
    text = forwarded.params["text"]
    assert f"#{bid}" in text and "Polio drive on Sunday" in text and asha.full_name in text
    assert text.endswith("\n\nNeed 200 doses")
    hi = Catalogs().get("hi")
    assert f"({hi._('Health worker')})" in text  # in the author's language
    await replies.record(bid, other, "Van ready")
    assert [r.text for r in await replies.latest(bid)] == ["Need 200 doses", "Van ready"]
    assert (await service.report(bid)).replies == 2


async def test_a_reply_to_a_broadcast_without_a_reachable_author_is_kept(
    service: BroadcastService, factory: Factory, db: Database
) -> None:
    asha = await factory.health_worker()
    bid = await service.create(None, texts={"en": "From the district office"})
    await service.send(bid)
    assert await service.replies.record(bid, asha, "Noted") is Delivery.KEPT
    assert await rows(db, "bcreply:") == []
    assert await service.replies.count(bid) == 1


async def test_the_report_refreshes_while_sending_then_stops(
    service: BroadcastService, factory: Factory, db: Database, clock: ManualClock
) -> None:
    ravi = await factory.coordinator()
    for _ in range(3):
        await factory.health_worker()
    bid = await service.create(ravi.id, segment={"roles": ["health_worker"]}, texts={"en": "X"})
    await service.send(bid)
    await service.set_report_message(bid, ravi.telegram_id, 99)
    await service.set_report_message(bid, ravi.telegram_id, 99)  # the same message: one chain
    timers = Timers(db, clock)

    async def tick() -> None:
        for timer_id, _case, kind in await timers.due(clock.now()):
            assert kind == BROADCAST
            assert await service.fire(timer_id, None, clock.now())

    await tick()
    [edit] = await rows(db, f"bcreport:{bid}:")
    assert edit.method == "editMessageText" and edit.params["message_id"] == 99
    assert "queued 3" in edit.params["text"]
    clock.advance(timedelta(seconds=6))
    await tick()  # nothing changed: no edit, but it looks again later
    assert len(await rows(db, f"bcreport:{bid}:")) == 1
    assert len(await timers.due(clock.now() + timedelta(seconds=6))) == 1
    await settle(db, f"broadcast:{bid}:")
    clock.advance(timedelta(seconds=6))
    await tick()  # the last edit; then the chain ends
    last = (await rows(db, f"bcreport:{bid}:"))[-1]
    assert "done" in last.params["text"] and "sent 3" in last.params["text"]
    assert await timers.due(clock.now() + timedelta(days=1)) == []


async def test_a_newer_report_message_takes_over(
    service: BroadcastService, factory: Factory, db: Database, clock: ManualClock
) -> None:
    ravi = await factory.coordinator()
    await factory.health_worker()
    bid = await service.create(ravi.id, texts={"en": "X"})
    await service.send(bid)
    await service.set_report_message(bid, ravi.telegram_id, 10)
    await service.set_report_message(bid, ravi.telegram_id, 11)
    timers = Timers(db, clock)
    for timer_id, _case, _kind in await timers.due(clock.now()):
        await service.fire(timer_id, None, clock.now())
    edits = await rows(db, f"bcreport:{bid}:")
    assert [e.params["message_id"] for e in edits] == [11]


async def test_an_attachment_goes_by_file_id_with_the_caption(
    service: BroadcastService, factory: Factory, db: Database
) -> None:
    await factory.health_worker(language="hi")
    bid = await service.create(None, Kind.ALERT, texts={"en": "Poster", "hi": "पोस्टर"})
    with pytest.raises(BroadcastError):
        await service.update_draft(bid, attachment={"type": "video", "file_id": "x"})
    await service.update_draft(bid, attachment={"type": "photo", "file_id": "AgAD"})
    await service.send(bid)
    [row] = await rows(db, f"broadcast:{bid}:")
    assert row.method == "sendPhoto"
    assert row.params["photo"] == {"file_id": "AgAD"}
    assert row.params["caption"].endswith("पोस्टर")
    buttons = [b["callback_data"] for r in row.params["reply_markup"]["inline_keyboard"] for b in r]
    assert buttons == [f"seen:{bid}", f"bcr:{bid}"]


async def test_a_text_too_long_for_a_caption_is_refused(
    service: BroadcastService, factory: Factory
) -> None:
    await factory.health_worker()
    bid = await service.create(None, texts={"en": "x" * 1500})
    await service.update_draft(bid, attachment={"type": "document", "file_id": "BQAD"})
    with pytest.raises(BroadcastError):
        await service.send(bid)
