"""Fixtures for the outbox: a migrated database, the queue, a budget and a fake Bot."""

from __future__ import annotations

import itertools
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from typing import Any

import pytest
from redis.asyncio import Redis

from bot.clock import ManualClock
from bot.config import Settings
from bot.outbox import Outbox, SendBudget, SendLimits
from bot.storage.database import Database


@pytest.fixture
async def db(settings: Settings) -> AsyncIterator[Database]:
    settings.data_dir.mkdir(parents=True, exist_ok=True)
    database = Database(settings.effective_database_url)
    await database.prepare()
    yield database
    await database.dispose()


@pytest.fixture
def outbox(db: Database, clock: ManualClock) -> Outbox:
    return Outbox(db, clock)


class FakeTime:
    """A wall clock for the budget that moves only when told to."""

    def __init__(self) -> None:
        self.now = 1_000_000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def fake_time() -> FakeTime:
    return FakeTime()


@pytest.fixture
def budget(redis: Redis) -> SendBudget:
    """Generous limits: sender tests are about errors, not pacing."""
    return SendBudget(
        redis, SendLimits(global_rate=1000, global_burst=1000, private_rate=100, private_burst=100)
    )


@dataclass
class FakeBot:
    """Records calls; ``fail[chat_id]`` holds exceptions to raise, one per call, in order."""

    calls: list[tuple[str, int, dict[str, Any]]] = field(default_factory=list)
    fail: dict[int, list[Exception]] = field(default_factory=dict)
    _ids: itertools.count[int] = field(default_factory=lambda: itertools.count(100))
    hook: Callable[[str, int], None] | None = None

    def _do(self, method: str, chat_id: int, **kwargs: Any) -> Any:
        if self.hook is not None:
            self.hook(method, chat_id)
        pending = self.fail.get(chat_id)
        if pending:
            raise pending.pop(0)
        self.calls.append((method, chat_id, kwargs))
        return _Sent(chat_id, next(self._ids))

    async def send_message(self, chat_id: int, text: str, **kwargs: Any) -> Any:
        return self._do("sendMessage", chat_id, text=text, **kwargs)

    async def send_photo(self, chat_id: int, photo: bytes, **kwargs: Any) -> Any:
        return self._do("sendPhoto", chat_id, photo=photo, **kwargs)

    async def send_media_group(self, chat_id: int, media: list[Any], **kwargs: Any) -> Any:
        return [self._do("sendMediaGroup", chat_id, media=media, **kwargs)]

    async def edit_message_text(self, text: str, *, chat_id: int, **kwargs: Any) -> Any:
        return self._do("editMessageText", chat_id, text=text, **kwargs)

    def texts(self, chat_id: int | None = None) -> list[str]:
        return [
            str(kw.get("text"))
            for method, chat, kw in self.calls
            if chat_id is None or chat == chat_id
        ]


@dataclass
class _Sent:
    chat_id: int
    message_id: int
