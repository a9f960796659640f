"""How updates are processed and replies sent: concurrent across chats, in order within one.

PTB handles updates one at a time by default, so one slow case submission delays every
other person's ``/help``. ``PerChatUpdateProcessor`` runs updates of different chats
concurrently and those of one chat in arrival order (answers to a form must not overtake
each other). ``RetryAfterLimiter`` retries a direct reply that met a flood limit after the
``retry_after`` Telegram asked for, pausing only that request — not every request, as
PTB's ``AIORateLimiter`` does. What the bot sends on its own goes through the outbox.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Coroutine
from contextvars import ContextVar
from datetime import timedelta
from typing import Any

from telegram import Update
from telegram.error import RetryAfter
from telegram.ext import BaseRateLimiter, BaseUpdateProcessor

log = logging.getLogger(__name__)

#: False inside the outbox sender, which handles 429s itself (per chat, without waiting).
RETRY_ON_FLOOD: ContextVar[bool] = ContextVar("retry_on_flood", default=True)


class PerChatUpdateProcessor(BaseUpdateProcessor):
    """Concurrent across chats, sequential within a chat."""

    def __init__(self, max_concurrent_updates: int = 256) -> None:
        super().__init__(max_concurrent_updates)
        self._locks: dict[int, asyncio.Lock] = {}
        self._waiting: dict[int, int] = {}

    async def do_process_update(self, update: object, coroutine: Awaitable[Any]) -> None:
        chat = update.effective_chat if isinstance(update, Update) else None
        if chat is None:
            await coroutine
            return
        lock = self._locks.setdefault(chat.id, asyncio.Lock())
        self._waiting[chat.id] = self._waiting.get(chat.id, 0) + 1
        try:
            async with lock:
                await coroutine
        finally:
            self._waiting[chat.id] -= 1
            if not self._waiting[chat.id]:  # forget idle chats: memory stays bounded
                del self._waiting[chat.id]
                del self._locks[chat.id]

    async def initialize(self) -> None:
        """Nothing to set up."""

    async def shutdown(self) -> None:
        """Nothing to release."""


class RetryAfterLimiter(BaseRateLimiter[None]):
    """Retry a request that got 429 after its ``retry_after``; other requests go on."""

    def __init__(self, max_retries: int = 2, max_wait: float = 30.0) -> None:
        self.max_retries = max_retries
        self.max_wait = max_wait

    async def initialize(self) -> None:
        """Nothing to set up."""

    async def shutdown(self) -> None:
        """Nothing to release."""

    async def process_request(
        self,
        callback: Callable[..., Coroutine[Any, Any, bool | dict[str, Any] | list[dict[str, Any]]]],
        args: Any,
        kwargs: dict[str, Any],
        endpoint: str,
        data: dict[str, Any],
        rate_limit_args: None,
    ) -> bool | dict[str, Any] | list[dict[str, Any]]:
        for attempt in range(self.max_retries + 1):
            try:
                return await callback(*args, **kwargs)
            except RetryAfter as exc:
                if not RETRY_ON_FLOOD.get():
                    raise
                wait = exc.retry_after
                seconds = wait.total_seconds() if isinstance(wait, timedelta) else float(wait)
                if attempt == self.max_retries or seconds > self.max_wait:
                    raise
                log.info("flood limit: retrying", extra={"method": endpoint, "wait": seconds})
                await asyncio.sleep(seconds)
        raise AssertionError("unreachable")  # pragma: no cover
