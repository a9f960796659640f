"""The sender: errors, retries with backoff (ManualClock), receipts, priorities."""

from __future__ import annotations

import asyncio
from datetime import timedelta
from typing import Any

import pytest
from telegram.error import BadRequest, Forbidden, NetworkError, RetryAfter, TimedOut

from bot.cases.ports import MessageRef
from bot.clock import ManualClock
from bot.handlers.sender import OutboxSender, SenderOptions
from bot.outbox import Message, Outbox, OutboxStatus, Priority, SendBudget
from bot.storage.database import Database
from tests.outbox.conftest import FakeBot


class Recorder:
    def __init__(self) -> None:
        self.receipts: list[tuple[dict[str, Any], MessageRef | None]] = []
        self.blocked: list[int] = []

    async def receipt(self, receipt: dict[str, Any], ref: MessageRef | None) -> None:
        self.receipts.append((receipt, ref))

    async def block(self, chat_id: int) -> None:
        self.blocked.append(chat_id)


@pytest.fixture
def bot() -> FakeBot:
    return FakeBot()


@pytest.fixture
def recorder() -> Recorder:
    return Recorder()


@pytest.fixture
def sender(
    outbox: Outbox, budget: SendBudget, bot: FakeBot, recorder: Recorder, clock: ManualClock
) -> OutboxSender:
    async def files(ref: dict[str, Any]) -> bytes:
        return f"file {ref['blob']}".encode()

    return OutboxSender(
        outbox,
        budget,
        bot,  # type: ignore[arg-type]
        files=files,
        receipts={"offer": recorder.receipt},
        on_blocked=recorder.block,
        clock=clock,
        options=SenderOptions(max_attempts=3, backoff_base=2.0),
        rng=lambda: 0.5,  # no jitter: 2 s, 4 s, ...
    )


async def run_once(sender: OutboxSender) -> int:
    started = await sender.step()
    await sender.drain()
    return started


def text(chat_id: int, body: str, priority: Priority = Priority.ROUTINE, **kw: Any) -> Message:
    return Message(chat_id, "sendMessage", {"text": body}, priority, **kw)


async def test_sends_by_priority_and_runs_the_receipt(
    outbox: Outbox, sender: OutboxSender, bot: FakeBot, recorder: Recorder
) -> None:
    await outbox.enqueue([text(1, "routine"), text(2, "alert", Priority.ALERT)])
    receipt = {"kind": "offer", "case_id": 5, "specialist_id": 6}
    await outbox.enqueue([text(3, "clinical", Priority.CLINICAL, receipt=receipt)])
    sender.options = SenderOptions(concurrency=1)
    sender._slots = asyncio.Semaphore(1)
    assert await run_once(sender) == 3
    assert bot.texts() == ["clinical", "alert", "routine"]
    assert recorder.receipts == [(receipt, MessageRef(3, 100))]
    assert await outbox.counts() == {"sent": 3}


async def test_files_are_loaded_at_send_time(
    outbox: Outbox, sender: OutboxSender, bot: FakeBot
) -> None:
    await outbox.enqueue(
        [
            Message(1, "sendMediaGroup", {"media": [{"blob": "a"}, {"blob": "b"}]}),
            Message(2, "sendPhoto", {"photo": {"blob": "c"}, "caption": "x"}),
        ]
    )
    await run_once(sender)
    by_method = {method: kw for method, _, kw in bot.calls}
    assert by_method["sendPhoto"]["photo"] == b"file c"
    assert len(by_method["sendMediaGroup"]["media"]) == 2


async def test_5xx_is_retried_with_backoff_then_fails(
    outbox: Outbox, sender: OutboxSender, bot: FakeBot, clock: ManualClock, recorder: Recorder
) -> None:
    bot.fail[1] = [NetworkError("Bad Gateway")] * 3
    await outbox.enqueue([text(1, "report", receipt={"kind": "offer"})])
    await run_once(sender)
    assert await run_once(sender) == 0  # not due for 2 s
    clock.advance(timedelta(seconds=2))
    assert await run_once(sender) == 1  # second attempt fails: next in 4 s
    clock.advance(timedelta(seconds=3))
    assert await run_once(sender) == 0
    clock.advance(timedelta(seconds=1))
    assert await run_once(sender) == 1  # third and last attempt
    assert await outbox.counts() == {"failed": 1}
    assert recorder.receipts == [({"kind": "offer"}, None)]


async def test_5xx_then_success(
    outbox: Outbox, sender: OutboxSender, bot: FakeBot, clock: ManualClock
) -> None:
    bot.fail[1] = [NetworkError("Internal Server Error")]
    await outbox.enqueue([text(1, "hello")])
    await run_once(sender)
    clock.advance(timedelta(seconds=2))
    await run_once(sender)
    assert bot.texts() == ["hello"]
    assert await outbox.counts() == {"sent": 1}


async def test_403_marks_unreachable_and_blocks_the_chat(
    outbox: Outbox, sender: OutboxSender, bot: FakeBot, recorder: Recorder
) -> None:
    bot.fail[1] = [Forbidden("bot was blocked by the user")]
    await outbox.enqueue(
        [text(1, "a"), text(1, "b", receipt={"kind": "offer", "n": 2}), text(2, "c")]
    )
    await run_once(sender)
    await run_once(sender)
    assert recorder.blocked == [1]
    assert recorder.receipts == [({"kind": "offer", "n": 2}, None)]
    assert bot.texts() == ["c"]
    assert await outbox.counts() == {"blocked": 2, "sent": 1}


async def test_400_fails_without_retry(
    outbox: Outbox, sender: OutboxSender, bot: FakeBot, clock: ManualClock
) -> None:
    bot.fail[1] = [BadRequest("Chat not found")]
    await outbox.enqueue([text(1, "a")])
    await run_once(sender)
    clock.advance(timedelta(hours=1))
    assert await run_once(sender) == 0
    assert await outbox.counts() == {"failed": 1}


@pytest.mark.filterwarnings("ignore::DeprecationWarning")
async def test_429_pauses_only_that_chat(
    outbox: Outbox, sender: OutboxSender, bot: FakeBot
) -> None:
    bot.fail[1] = [RetryAfter(30)]
    await outbox.enqueue([text(1, "a"), text(2, "b")])
    await run_once(sender)
    await outbox.enqueue([text(3, "c")])
    await run_once(sender)
    assert bot.texts() == ["b", "c"]
    counts = await outbox.counts()
    assert counts == {"queued": 1, "sent": 2}
    assert (await sender.budget.acquire(1)).wait > 25  # shared with other processes too


async def test_a_read_timeout_on_a_send_is_not_repeated(
    outbox: Outbox, sender: OutboxSender, bot: FakeBot, clock: ManualClock
) -> None:
    bot.fail[1] = [TimedOut("Timed out")]
    bot.fail[2] = [TimedOut("Timed out")]
    await outbox.enqueue(
        [text(1, "a"), Message(2, "editMessageText", {"text": "x", "message_id": 4})]
    )
    await run_once(sender)
    clock.advance(timedelta(minutes=1))
    await run_once(sender)
    assert [m for m, _, _ in bot.calls] == ["editMessageText"]
    assert await outbox.counts() == {"uncertain": 1, "sent": 1}


async def test_run_stops_cleanly_and_a_clinical_row_jumps_the_queue(
    outbox: Outbox, sender: OutboxSender, bot: FakeBot
) -> None:
    await outbox.enqueue([text(chat, "routine") for chat in range(10, 60)])
    sent_before: list[int] = []
    some_sent, clinical_sent = asyncio.Event(), asyncio.Event()

    def hook(_method: str, chat: int) -> None:
        sent_before.append(chat)
        if len(sent_before) >= 5:
            some_sent.set()
        if chat == 1:
            clinical_sent.set()

    bot.hook = hook
    stop = asyncio.Event()
    task = asyncio.create_task(sender.run(stop))
    await asyncio.wait_for(some_sent.wait(), 5)
    await outbox.enqueue([text(1, "clinical", Priority.CLINICAL)])
    await asyncio.wait_for(clinical_sent.wait(), 5)
    stop.set()
    await task
    assert OutboxStatus.SENDING.value not in await outbox.counts()
    assert sent_before.index(1) < 50


@pytest.mark.filterwarnings("ignore::DeprecationWarning")
async def test_direct_replies_are_counted_and_a_short_429_waited_out(
    budget: SendBudget,
) -> None:
    from bot.handlers.sender import DirectSendTap
    from bot.outbox import SendLimits

    budget.limits = SendLimits(global_rate=1.0, global_burst=1)
    tap = DirectSendTap(budget, max_wait=1.0)
    calls: list[str] = []
    failures: list[Exception] = []

    async def call(endpoint: str, data: dict[str, Any]) -> dict[str, Any]:
        calls.append(endpoint)
        if failures:
            raise failures.pop()
        return {"message_id": 1}

    async def send(endpoint: str, data: dict[str, Any]) -> Any:
        return await tap.process_request(call, (endpoint, data), {}, endpoint, data, None)

    assert await send("sendMessage", {"chat_id": 5}) == {"message_id": 1}
    assert not (await budget.acquire(6)).ok  # the outbox now leaves room for it
    await send("answerCallbackQuery", {"callback_query_id": "1"})  # not a send: not counted
    calls.clear()
    failures.append(RetryAfter(1))
    assert await send("sendMessage", {"chat_id": 7}) == {"message_id": 1}
    assert calls == ["sendMessage", "sendMessage"]  # a short 429 is waited out once
    failures.append(RetryAfter(30))
    with pytest.raises(RetryAfter):  # a long wait is not done inside a handler
        await send("sendMessage", {"chat_id": 8})


async def test_two_sender_processes_share_the_queue_and_send_each_row_once(
    db: Database, clock: ManualClock, budget: SendBudget, bot: FakeBot, recorder: Recorder
) -> None:
    """Two senders, each with its own engine (two processes on PostgreSQL), one queue."""
    other_db = Database(db.url)
    boxes = [Outbox(db, clock), Outbox(other_db, clock)]

    async def files(ref: dict[str, Any]) -> bytes:
        return b""

    senders = [
        OutboxSender(
            box,
            budget,
            bot,  # type: ignore[arg-type]
            files=files,
            receipts={},
            on_blocked=recorder.block,
            clock=clock,
        )
        for box in boxes
    ]
    await boxes[0].enqueue([text(chat, f"m{chat}") for chat in range(1, 121)])
    stop = asyncio.Event()
    tasks = [asyncio.create_task(s.run(stop)) for s in senders]
    try:
        for _ in range(400):
            if not await boxes[1].pending():
                break
            await asyncio.sleep(0.05)
    finally:
        stop.set()
        await asyncio.gather(*tasks)
        await other_db.dispose()
    chats = [chat for _, chat, _ in bot.calls]
    assert sorted(chats) == list(range(1, 121))
    assert await boxes[0].counts() == {"sent": 120}
