"""Shared fixtures: settings on a fresh database and Redis for every test.

By default SQLite in a temporary directory and the in-process Redis stand-in serve; set
``SAMPARK_TEST_DATABASE_URL`` (PostgreSQL) and ``SAMPARK_TEST_REDIS_URL`` to run the same
tests against real services, as CI does.
"""

from __future__ import annotations

import os
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from redis.asyncio import Redis

from bot.clock import ManualClock
from bot.config import Settings
from bot.storage.kv import make_redis
from tests.auxil.databases import reset_postgres

TEST_DATABASE_URL = os.environ.get("SAMPARK_TEST_DATABASE_URL", "")
TEST_REDIS_URL = os.environ.get("SAMPARK_TEST_REDIS_URL", "")


@pytest.fixture
def clock() -> ManualClock:
    return ManualClock()


@pytest.fixture
async def settings(tmp_path: Path) -> Settings:
    if TEST_DATABASE_URL:
        await reset_postgres(TEST_DATABASE_URL)
    return Settings(
        _env_file=None,  # type: ignore[call-arg]
        data_dir=tmp_path / "var",
        database_url=TEST_DATABASE_URL,
        redis_url=TEST_REDIS_URL,
        telegram_bot_token="",
    )


@pytest.fixture
async def redis() -> AsyncIterator[Redis]:
    client = make_redis(TEST_REDIS_URL)
    await client.flushdb()
    yield client
    await client.flushdb()
    await client.aclose()
