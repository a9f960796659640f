"""Updates: concurrent across chats, in order within one; direct replies retried after 429."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
from telegram import Chat, Message, Update
from telegram.error import RetryAfter

from bot.handlers.processing import RETRY_ON_FLOOD, PerChatUpdateProcessor, RetryAfterLimiter


def update(update_id: int, chat_id: int) -> Update:
    chat = Chat(chat_id, Chat.PRIVATE)
    message = Message(update_id, None, chat)  # type: ignore[arg-type]
    return Update(update_id, message=message)


async def test_one_chat_in_order_other_chats_meanwhile() -> None:
    processor = PerChatUpdateProcessor()
    log: list[str] = []
    release = asyncio.Event()

    async def slow(name: str) -> None:
        log.append(f"start {name}")
        await release.wait()
        log.append(f"end {name}")

    async def quick(name: str) -> None:
        log.append(f"run {name}")

    first = asyncio.create_task(processor.process_update(update(1, 10), slow("a1")))
    second = asyncio.create_task(processor.process_update(update(2, 10), quick("a2")))
    other = asyncio.create_task(processor.process_update(update(3, 20), quick("b1")))
    await other  # another chat is not held up by chat 10's slow update
    assert log == ["start a1", "run b1"]
    release.set()
    await asyncio.gather(first, second)
    assert log == ["start a1", "run b1", "end a1", "run a2"]
    assert processor._locks == {}  # idle chats are forgotten


async def test_a_flood_limited_reply_is_retried_alone() -> None:
    limiter = RetryAfterLimiter(max_retries=2)
    calls = 0

    async def send(**_: Any) -> bool:
        nonlocal calls
        calls += 1
        if calls == 1:
            raise RetryAfter(0)
        return True

    assert await limiter.process_request(send, (), {}, "sendMessage", {}, None) is True
    assert calls == 2


async def test_the_outbox_sender_handles_429_itself() -> None:
    limiter = RetryAfterLimiter()

    async def send(**_: Any) -> bool:
        raise RetryAfter(1)

    async def as_sender() -> None:
        RETRY_ON_FLOOD.set(False)
        await limiter.process_request(send, (), {}, "sendMessage", {}, None)

    with pytest.raises(RetryAfter):
        await asyncio.create_task(as_sender())
