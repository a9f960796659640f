from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import pytest
from redis.asyncio import Redis

from bot.app import build_services
from bot.clock import ManualClock
from bot.config import Settings
from bot.services import Services


@pytest.fixture
async def services(settings: Settings, clock: ManualClock, redis: Redis) -> AsyncIterator[Services]:
    db, _kv, services = await build_services(settings, clock=clock, redis=redis)
    yield services
    await asyncio.to_thread(services.attachments.pool.close)
    await db.dispose()
