"""The queue: priorities, de-duplication, leases shared by several senders, reconciling."""

from __future__ import annotations

import asyncio
from datetime import timedelta

from bot.clock import ManualClock
from bot.outbox import Message, Outbox, Priority
from bot.storage.database import Database


def text(chat_id: int, body: str, priority: Priority = Priority.ROUTINE, **kw: object) -> Message:
    return Message(chat_id, "sendMessage", {"text": body}, priority, **kw)  # type: ignore[arg-type]


async def test_due_rows_come_by_priority_then_age_one_per_chat(outbox: Outbox) -> None:
    await outbox.enqueue([text(1, "r1"), text(2, "r2"), text(1, "r1b")])
    await outbox.enqueue([text(3, "alert", Priority.ALERT)])
    await outbox.enqueue([text(4, "clinical", Priority.CLINICAL)])
    due = await outbox.due(10)
    assert [d.chat_id for d in due] == [4, 3, 1, 2]  # chat 1's second row waits its turn
    assert [d.priority for d in due] == [0, 1, 2, 2]


async def test_same_dedupe_key_is_enqueued_once(outbox: Outbox, db: Database) -> None:
    assert await outbox.enqueue([text(1, "a", dedupe_key="offer:7:card")]) == 1
    assert await outbox.enqueue([text(1, "a again", dedupe_key="offer:7:card")]) == 0
    async with db.transaction() as session:  # inside the caller's transaction too
        assert await outbox.enqueue([text(1, "a", dedupe_key="offer:7:card")], session=session) == 0
        assert await outbox.enqueue([text(1, "b", dedupe_key="offer:8:card")], session=session) == 1
    assert (await outbox.counts())["queued"] == 2


async def test_enqueue_in_a_rolled_back_transaction_leaves_nothing(
    outbox: Outbox, db: Database
) -> None:
    try:
        async with db.transaction() as session:
            await outbox.enqueue([text(1, "a")], session=session)
            raise RuntimeError("the cause failed")
    except RuntimeError:
        pass
    assert await outbox.counts() == {}


async def test_listeners_hear_own_enqueues_and_explicit_notices(
    outbox: Outbox, db: Database
) -> None:
    heard: list[int] = []
    outbox.subscribe(heard.append)
    await outbox.enqueue([text(1, "a", Priority.ALERT), text(2, "b")])
    async with db.transaction() as session:  # the caller's transaction: silent until notify
        await outbox.enqueue([text(3, "c", Priority.CLINICAL)], session=session)
    assert heard == [Priority.ALERT]
    outbox.notify(Priority.CLINICAL)
    assert heard == [Priority.ALERT, Priority.CLINICAL]


async def test_a_chat_with_a_row_in_flight_is_not_due(outbox: Outbox) -> None:
    await outbox.enqueue([text(1, "first"), text(1, "second"), text(2, "other")])
    first = (await outbox.due(10))[0]
    claimed = await outbox.claim(first.id)
    assert claimed is not None and claimed.attempts == 1
    assert [d.chat_id for d in await outbox.due(10)] == [2]
    await outbox.sent(claimed, 55)
    assert [d.chat_id for d in await outbox.due(10)] == [1, 2]


async def test_two_senders_claim_each_row_once(db: Database, clock: ManualClock) -> None:
    """Two processes (two Outbox objects, separate engines on PostgreSQL) race for rows."""
    first, second = Outbox(db, clock), Outbox(Database(db.url), clock)
    await first.enqueue([text(chat, f"m{chat}") for chat in range(1, 41)])
    rows = await first.due(100)
    wins: list[list[int]] = [[], []]

    async def race(index: int, box: Outbox) -> None:
        for row in rows:
            claimed = await box.claim(row.id)
            if claimed is not None:
                wins[index].append(claimed.id)
                await box.sent(claimed, row.id)

    try:
        await asyncio.gather(race(0, first), race(1, second))
    finally:
        await second.db.dispose()
    assert sorted(wins[0] + wins[1]) == sorted(r.id for r in rows)
    assert not set(wins[0]) & set(wins[1])
    assert (await first.counts()) == {"sent": 40}


async def test_a_lost_lease_cannot_overwrite_the_result(outbox: Outbox, clock: ManualClock) -> None:
    await outbox.enqueue([Message(1, "editMessageText", {"text": "x", "message_id": 3})])
    row = (await outbox.due(1))[0]
    stale = await outbox.claim(row.id)
    assert stale is not None
    clock.advance(outbox.lease + timedelta(seconds=1))
    assert (await outbox.reconcile()).requeued == 1  # an edit is safe to repeat
    fresh = await outbox.claim(row.id)
    assert fresh is not None and fresh.attempts == 2
    assert await outbox.sent(stale, 1) is None  # the old holder's answer is ignored
    assert await outbox.sent(fresh, 3) == {}
    assert await outbox.counts() == {"sent": 1}


async def test_a_send_left_in_flight_by_a_crash_is_not_repeated(
    outbox: Outbox, clock: ManualClock
) -> None:
    receipt = {"kind": "offer", "case_id": 1, "specialist_id": 2}
    await outbox.enqueue([text(1, "card", Priority.CLINICAL, receipt=receipt), text(2, "other")])
    crashed = await outbox.claim((await outbox.due(1))[0].id)
    assert crashed is not None
    clock.advance(timedelta(seconds=30))
    assert (await outbox.reconcile()).uncertain == []  # lease still running
    clock.advance(outbox.lease)
    done = await outbox.reconcile()
    assert done.uncertain == [receipt] and done.requeued == 0
    assert (await outbox.counts()) == {"uncertain": 1, "queued": 1}
    assert [d.chat_id for d in await outbox.due(10)] == [2]


async def test_own_rows_in_flight_are_left_alone(outbox: Outbox, clock: ManualClock) -> None:
    await outbox.enqueue([text(1, "slow")])
    claimed = await outbox.claim((await outbox.due(1))[0].id)
    assert claimed is not None
    clock.advance(outbox.lease * 2)
    assert (await outbox.reconcile(in_flight=[claimed.id])).uncertain == []
    assert await outbox.sent(claimed, 9) == {}


async def test_retry_waits_and_keeps_the_chats_order(outbox: Outbox, clock: ManualClock) -> None:
    await outbox.enqueue([text(1, "album"), text(1, "card"), text(2, "other")])
    claimed = await outbox.claim((await outbox.due(1))[0].id)
    assert claimed is not None
    await outbox.retry(claimed, "network Bad Gateway", timedelta(seconds=4))
    assert [d.chat_id for d in await outbox.due(10)] == [2]  # the card waits for the album
    clock.advance(timedelta(seconds=4))
    due = await outbox.due(10)
    assert due[0].id == claimed.id


async def test_blocked_stops_every_queued_row_of_the_chat(outbox: Outbox) -> None:
    await outbox.enqueue(
        [
            text(1, "a", receipt={"kind": "offer", "n": 1}),
            text(1, "b", receipt={"kind": "offer", "n": 2}),
            text(2, "c"),
        ]
    )
    claimed = await outbox.claim((await outbox.due(1))[0].id)
    assert claimed is not None
    receipts = await outbox.blocked(claimed, "403 bot was blocked by the user")
    assert [r["n"] for r in receipts] == [1, 2]
    assert await outbox.counts() == {"blocked": 2, "queued": 1}


async def test_cancel_by_dedupe_prefix(outbox: Outbox) -> None:
    await outbox.enqueue(
        [text(1, "a", dedupe_key="bc:5:1"), text(2, "b", dedupe_key="bc:5:2"), text(3, "c")]
    )
    assert await outbox.cancel("bc:5:") == 2
    assert [d.chat_id for d in await outbox.due(10)] == [3]


async def test_purge_deletes_only_old_settled_rows(outbox: Outbox, clock: ManualClock) -> None:
    await outbox.enqueue([text(1, "old sent"), text(2, "old queued")])
    claimed = await outbox.claim((await outbox.due(1))[0].id)
    assert claimed is not None
    await outbox.sent(claimed, 1)
    clock.advance(timedelta(days=31))
    await outbox.enqueue([text(3, "new")])
    assert await outbox.purge(timedelta(days=30)) == 1
    assert await outbox.counts() == {"queued": 2}
