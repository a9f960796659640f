"""Updates: concurrent across chats, in order within one."""

from __future__ import annotations

import asyncio

from telegram import Chat, Message, Update

from bot.handlers.processing import PerChatUpdateProcessor


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
