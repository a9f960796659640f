"""The outbox through the emulator with its flood limits on: pace, priorities, crashes.

The emulator's global limit is raised (and the bot's budget with it) so a few hundred
messages take seconds; per-chat limits stay Telegram's.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from datetime import timedelta

import pytest
from redis.asyncio import Redis
from sqlalchemy import select, update

from bot.app import Runtime
from bot.clock import ManualClock
from bot.config import Settings
from bot.domain import Urgency
from bot.outbox import Message, Priority
from bot.sandbox import scenario
from bot.sandbox.client import SandboxClient
from bot.sandbox.emulator import BotApiEmulator
from bot.sandbox.limits import Limits
from bot.sandbox.live import running_bot
from bot.storage.database import Database
from bot.storage.models import Offer, OutboxMessage, User
from tests.e2e.conftest import World
from tests.e2e.people import health_worker, specialist

EMULATOR_RATE = 100.0  # the emulator's global limit (Telegram: 30/s)
BOT_RATE = 90.0  # the bot's budget: a little under


@pytest.fixture
async def emulator() -> AsyncIterator[BotApiEmulator]:
    limits = Limits(flood_enabled=True, global_rate=EMULATOR_RATE, global_burst=int(EMULATOR_RATE))
    async with BotApiEmulator(limits=limits) as emulator:
        yield emulator


@pytest.fixture
def fast(settings: Settings) -> Settings:
    return settings.model_copy(update={"send_rate_per_second": BOT_RATE})


@pytest.fixture
async def client(emulator: BotApiEmulator) -> AsyncIterator[SandboxClient]:
    async with SandboxClient(emulator.control_url, default_timeout=10) as client:
        yield client


async def recipients(client: SandboxClient, n: int) -> list[int]:
    users = await asyncio.gather(*(client.create_user(f"Asha {i}", started=True) for i in range(n)))
    return [u.id for u in users]


def broadcast(chats: list[int], tag: str, priority: Priority = Priority.ROUTINE) -> list[Message]:
    return [
        Message(chat, "sendMessage", {"text": f"{tag} for {chat}"}, priority, f"{tag}:{chat}")
        for chat in chats
    ]


async def settled(runtime: Runtime, within: float = 30.0) -> None:
    deadline = time.monotonic() + within
    while await runtime.services.outbox.pending():
        assert time.monotonic() < deadline, await runtime.services.outbox.counts()
        await asyncio.sleep(0.1)


async def received(client: SandboxClient, chat: int) -> list[str]:
    return [m.text or "" for m in await client.messages(chat) if m.from_bot]


async def test_a_broadcast_reaches_everyone_once_without_a_429(
    fast: Settings,
    emulator: BotApiEmulator,
    client: SandboxClient,
    clock: ManualClock,
    redis: Redis,
) -> None:
    chats = await recipients(client, 320)
    async with running_bot(fast, emulator, clock=clock, redis=redis) as runtime:
        outbox = runtime.services.outbox
        assert await outbox.enqueue(broadcast(chats, "camp")) == 320
        assert await outbox.enqueue(broadcast(chats[:50], "camp")) == 0  # same keys: no-op
        await settled(runtime)
        assert await outbox.counts() == {"sent": 320}
    for chat in chats:
        assert await received(client, chat) == [f"camp for {chat}"]
    stats = await client.stats()
    assert stats["responses_429"] == 0


@pytest.mark.filterwarnings("ignore::DeprecationWarning")  # PTB reading retry_after
async def test_a_429_for_one_chat_delays_only_that_chat(
    fast: Settings,
    emulator: BotApiEmulator,
    client: SandboxClient,
    clock: ManualClock,
    redis: Redis,
) -> None:
    chats = await recipients(client, 40)
    slow = chats[0]
    await client.inject_fault("flood", method="sendMessage", chat_id=slow, retry_after=3)
    async with running_bot(fast, emulator, clock=clock, redis=redis) as runtime:
        started = time.monotonic()
        await runtime.services.outbox.enqueue(broadcast(chats, "notice"))
        await settled(runtime)
        slow_done = time.monotonic() - started
    firsts = {chat: [m for m in await client.messages(chat) if m.from_bot] for chat in chats}
    assert [m.text for m in firsts[slow]] == [f"notice for {slow}"]
    # Everyone else was served before the refused chat's retry: its 429 held up nobody.
    assert max(firsts[chat][0].seq for chat in chats[1:]) < firsts[slow][0].seq
    assert slow_done >= 3.0  # and that chat's retry_after was honoured
    assert (await client.stats())["flood_429"] == 0  # only the injected one


async def test_a_clinical_message_overtakes_a_large_routine_batch(
    fast: Settings,
    emulator: BotApiEmulator,
    client: SandboxClient,
    clock: ManualClock,
    redis: Redis,
) -> None:
    chats = await recipients(client, 300)
    specialist = (await client.create_user("Dr Rao", started=True)).id
    async with running_bot(fast, emulator, clock=clock, redis=redis) as runtime:
        outbox = runtime.services.outbox
        for round_ in range(3):  # 900 routine rows: about ten seconds of sending
            await outbox.enqueue(broadcast(chats, f"routine{round_}"))
        await asyncio.sleep(0.5)
        await outbox.enqueue(
            [Message(specialist, "sendMessage", {"text": "Emergency case"}, Priority.CLINICAL)]
        )
        reply = await client.next_reply(specialist, timeout=10)
        assert reply.text == "Emergency case"
        assert await outbox.pending() > 300  # it overtook the batch (its delay: bench/)


async def test_a_restart_finishes_the_queue_without_duplicates(
    fast: Settings,
    emulator: BotApiEmulator,
    client: SandboxClient,
    clock: ManualClock,
    redis: Redis,
) -> None:
    chats = await recipients(client, 300)
    async with running_bot(fast, emulator, clock=clock, redis=redis) as runtime:
        outbox = runtime.services.outbox
        await outbox.enqueue(broadcast(chats, "drive"))
        for _ in range(1000):
            if (await outbox.counts()).get("sent", 0) >= 100:
                break
            await asyncio.sleep(0.02)
    # The bot stopped mid-queue. Pretend a harder crash too: five rows were in flight
    # (Telegram may have delivered them) when the process died.
    db = Database(fast.effective_database_url)
    async with db.transaction() as session:
        stuck = (
            await session.scalars(
                select(OutboxMessage.id).where(OutboxMessage.status == "queued").limit(5)
            )
        ).all()
        await session.execute(
            update(OutboxMessage)
            .where(OutboxMessage.id.in_(stuck))
            .values(status="sending", lease_until=clock.now(), claim_token="dead")
        )
    await db.dispose()
    clock.advance(timedelta(seconds=1))  # the dead process's leases have run out
    async with running_bot(fast, emulator, clock=clock, redis=redis) as second:
        await settled(second)
        counts = await second.services.outbox.counts()
    assert counts == {"sent": 295, "uncertain": 5}
    uncertain_chats = set()
    for chat in chats:
        got = await received(client, chat)
        assert len(got) <= 1  # never twice
        if not got:
            uncertain_chats.add(chat)
    assert len(uncertain_chats) == 5  # at most once: not resent after the crash
    assert (await client.stats())["responses_429"] == 0


async def test_an_offer_to_a_specialist_who_blocked_the_bot_goes_to_the_next(
    world: World,
) -> None:
    """403 on the queued card: the specialist is unreachable, the offer undelivered, and
    the receipt routes the case on to the next specialist at once."""
    meera = await specialist(world, "Dr. Meera Iyer")  # first in line (lowest id)
    arjun = await specialist(world, "Dr. Arjun Rao")
    sunita = await health_worker(world)
    await world.client.block(meera.id)
    code = await scenario.submit_case(
        world.client, world.catalogs, sunita, "hi", urgency=Urgency.URGENT, with_files=False
    )
    card = await arjun.expect(code)
    assert world.catalogs.get("en")._("Accept") in card.button_texts()
    meera_view = await world.services.directory.by_telegram(meera.id)
    assert meera_view is not None and not meera_view.reachable
    async with world.runtime.db.transaction() as session:
        statuses = dict(
            (
                await session.execute(
                    select(User.telegram_id, Offer.status).join(
                        User, User.id == Offer.specialist_id
                    )
                )
            ).all()
        )
    assert statuses == {meera.id: "undelivered", arjun.id: "pending"}
    counts = await world.services.outbox.counts()
    assert counts.get("blocked") == 1 and "queued" not in counts
