"""How updates are processed: concurrently across chats, in arrival order within one.

PTB handles updates one at a time by default, so one slow case submission delays every
other person's ``/help``. ``PerChatUpdateProcessor`` runs updates of different chats
concurrently and those of one chat in order (answers to a form must not overtake each
other). Direct replies and the outbox share one send budget (``bot.handlers.sender``).
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable
from typing import Any

from telegram import Update
from telegram.ext import BaseUpdateProcessor

from bot import metrics


def update_kind(update: object) -> str:
    """The update's type (``message``, ``callback_query``, ...), for metrics."""
    if isinstance(update, Update):
        for kind in Update.ALL_TYPES:
            if getattr(update, kind, None) is not None:
                return str(kind)
    return "other"


async def _measured(update: object, coroutine: Awaitable[Any]) -> None:
    """Await the handling of ``update``, counted and timed in ``bot.metrics``."""
    kind = update_kind(update)
    started = time.perf_counter()
    try:
        await coroutine
    finally:
        metrics.HANDLER_SECONDS.labels(kind=kind).observe(time.perf_counter() - started)
        metrics.UPDATES.labels(kind=kind).inc()


class PerChatUpdateProcessor(BaseUpdateProcessor):
    """Concurrent across chats, sequential within a chat."""

    def __init__(self, max_concurrent_updates: int = 256) -> None:
        super().__init__(max_concurrent_updates)
        self._locks: dict[int, asyncio.Lock] = {}
        self._waiting: dict[int, int] = {}

    async def do_process_update(self, update: object, coroutine: Awaitable[Any]) -> None:
        chat = update.effective_chat if isinstance(update, Update) else None
        if chat is None:
            await _measured(update, coroutine)
            return
        lock = self._locks.setdefault(chat.id, asyncio.Lock())
        self._waiting[chat.id] = self._waiting.get(chat.id, 0) + 1
        try:
            async with lock:
                await _measured(update, coroutine)
        finally:
            self._waiting[chat.id] -= 1
            if not self._waiting[chat.id]:  # forget idle chats: memory stays bounded
                del self._waiting[chat.id]
                del self._locks[chat.id]

    async def initialize(self) -> None:
        """Nothing to set up."""

    async def shutdown(self) -> None:
        """Nothing to release."""
