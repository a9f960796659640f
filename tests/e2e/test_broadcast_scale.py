"""A broadcast to 2,000 people through the emulator with its flood limits on.

The bot is stopped when about half have their message, with a few calls "in flight" as a
crash would leave them; the next bot finishes the rest. Nobody gets the message twice,
the calls whose outcome the crash made unknown are not repeated (at most once), and the
emulator answers no request with a 429. The global limits are raised (the bot's budget a
little under the emulator's) so the test stays short; timings are printed, not asserted.
"""

from __future__ import annotations

import asyncio
import time
from datetime import timedelta

from redis.asyncio import Redis
from sqlalchemy import select, update

from bot.clock import ManualClock
from bot.config import Settings
from bot.domain import Role, Status
from bot.sandbox.client import SandboxClient
from bot.sandbox.emulator import BotApiEmulator
from bot.sandbox.limits import Limits
from bot.sandbox.live import running_bot
from bot.storage.database import Database
from bot.storage.models import OutboxMessage, User

N = 2000
CRASHED = 5


async def people(client: SandboxClient, db: Database, clock: ManualClock) -> list[int]:
    made: list[int] = []
    for start in range(0, N, 200):
        users = await asyncio.gather(
            *(client.create_user(f"Asha {i}", started=True) for i in range(start, start + 200))
        )
        made.extend(u.id for u in users)
    async with db.transaction() as session:
        for i, chat in enumerate(made):
            session.add(
                User(
                    telegram_id=chat,
                    role=Role.HEALTH_WORKER,
                    status=Status.ACTIVE,
                    language="hi" if i % 3 == 0 else "en",
                    full_name=f"Asha {i}",
                    district="Dharwad",
                    created_at=clock.now(),
                )
            )
    return made


async def test_2000_recipients_once_each_across_a_restart_without_a_429(
    settings: Settings, clock: ManualClock, redis: Redis
) -> None:
    limits = Limits(flood_enabled=True, global_rate=100.0, global_burst=100)
    fast = settings.model_copy(update={"send_rate_per_second": 90.0})
    texts = {"en": "Measles camp on Monday", "hi": "सोमवार को खसरा शिविर"}
    async with (
        BotApiEmulator(limits=limits) as emulator,
        SandboxClient(emulator.control_url, default_timeout=10) as client,
    ):
        async with running_bot(fast, emulator, clock=clock, redis=redis) as runtime:
            chats = await people(client, runtime.db, clock)
            service = runtime.services.broadcasts
            bid = await service.create(None, segment={"districts": ["Dharwad"]}, texts=texts)
            started = time.monotonic()
            assert await service.send(bid) == N
            for _ in range(2400):
                if (await service.report(bid)).sent >= N // 2:
                    break
                await asyncio.sleep(0.05)
            first = time.monotonic() - started
        stopped = await service_report(fast, bid)
        assert 0 < stopped["queued"] < N
        # a harder crash too: a few rows were in flight when the process died
        db = Database(fast.effective_database_url)
        async with db.transaction() as session:
            stuck = (
                await session.scalars(
                    select(OutboxMessage.id).where(OutboxMessage.status == "queued").limit(CRASHED)
                )
            ).all()
            await session.execute(
                update(OutboxMessage)
                .where(OutboxMessage.id.in_(stuck))
                .values(status="sending", lease_until=clock.now(), claim_token="dead")
            )
        await db.dispose()
        clock.advance(timedelta(seconds=1))  # the dead process's leases ran out
        async with running_bot(fast, emulator, clock=clock, redis=redis) as second:
            service = second.services.broadcasts
            resumed = time.monotonic()
            await second.services.broadcasts.send(bid)  # a second "Send" changes nothing
            for _ in range(2400):
                if not (report := await service.report(bid)).queued:
                    break
                await asyncio.sleep(0.05)
            rest = time.monotonic() - resumed
            assert await second.services.broadcasts.send(bid) == 0
        assert (report.recipients, report.sent, report.failed) == (N, N - CRASHED, CRASHED)
        assert report.by_language == {"hi": (N + 2) // 3, "en": N - (N + 2) // 3}
        got = {chat: await client.messages(chat) for chat in chats}
        counts = [sum(1 for m in messages if m.from_bot) for messages in got.values()]
        assert max(counts) == 1  # never twice
        assert counts.count(0) == CRASHED  # unknown outcome: not repeated
        for i, chat in enumerate(chats):
            for message in got[chat]:
                if message.from_bot:
                    assert message.text == texts["hi" if i % 3 == 0 else "en"]
        stats = await client.stats()
        assert stats["responses_429"] == 0
    sent_first = stopped["sent"]
    print(  # measured, not asserted (see bench/ for the throughput targets)
        f"\n2000 recipients: {sent_first} in {first:.1f} s before the stop "
        f"({sent_first / first:.0f}/s), {N - sent_first - CRASHED} in {rest:.1f} s after "
        f"({(N - sent_first - CRASHED) / rest:.0f}/s), budget 90/s, 429s {stats['responses_429']}"
    )


async def service_report(settings: Settings, bid: int) -> dict[str, int]:
    """Counts straight from the database, while no bot runs."""
    db = Database(settings.effective_database_url)
    try:
        async with db.transaction() as session:
            rows = (
                await session.execute(
                    select(OutboxMessage.status).where(
                        OutboxMessage.dedupe_key.startswith(f"broadcast:{bid}:")
                    )
                )
            ).all()
    finally:
        await db.dispose()
    statuses = [status for (status,) in rows]
    return {"queued": statuses.count("queued"), "sent": statuses.count("sent")}
