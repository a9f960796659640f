"""Redis: short-lived shared state (update de-duplication, throttles, locks).

Nothing here is the only copy of anything that matters: durable state lives in the
database. Without ``REDIS_URL`` an in-process stand-in (fakeredis) serves.
"""

from __future__ import annotations

import logging

import fakeredis
from redis.asyncio import Redis

log = logging.getLogger(__name__)


def make_redis(url: str) -> Redis:
    """A client for ``url``, or an in-process stand-in when ``url`` is empty."""
    if url:
        return Redis.from_url(url, decode_responses=False)
    log.info("REDIS_URL unset: using the in-process Redis stand-in")
    return fakeredis.FakeAsyncRedis()


class KeyValue:
    """The few Redis operations the services need, under one key prefix."""

    def __init__(self, redis: Redis, prefix: str = "sampark:") -> None:
        self.redis = redis
        self.prefix = prefix

    async def claim_once(self, key: str, ttl_seconds: int) -> bool:
        """True the first time ``key`` is claimed within ``ttl_seconds``, False after."""
        return bool(await self.redis.set(self.prefix + key, b"1", nx=True, ex=ttl_seconds))

    async def within_limit(self, key: str, limit: int, window_seconds: int) -> bool:
        """Count one hit on ``key``; False once more than ``limit`` hits fall in the window."""
        full = self.prefix + "rate:" + key
        async with self.redis.pipeline(transaction=True) as pipe:
            pipe.incr(full)
            pipe.expire(full, window_seconds, nx=True)
            hits, _ = await pipe.execute()
        return int(hits) <= limit

    async def ping(self) -> bool:
        try:
            return bool(await self.redis.ping())
        except Exception as exc:  # any connection failure means "not healthy"
            log.warning("redis ping failed", extra={"error": type(exc).__name__})
            return False

    async def close(self) -> None:
        await self.redis.aclose()
