"""The token's send budget, shared through Redis by every bot process.

Token buckets (one global, one per chat) live in Redis hashes and are updated in an
optimistic transaction (WATCH/MULTI/EXEC), so several processes draw on ONE budget; the
in-process Redis stand-in supports the same commands. A 429's ``retry_after`` pauses only
that chat (a key that expires by itself).
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from dataclasses import dataclass
from enum import StrEnum

from redis.asyncio import Redis
from redis.exceptions import WatchError

EPSILON = 1e-9  # float dust: a bucket this close to one token has it
DEBT = 1.0  # how far a direct reply may overdraw a bucket


@dataclass(frozen=True)
class SendLimits:
    """Rates per second and bursts; defaults stay a little under Telegram's limits."""

    global_rate: float = 28.0
    global_burst: int = 3
    private_rate: float = 1.0
    private_burst: int = 2
    group_rate: float = 20.0 / 60.0
    group_burst: int = 1


class Scope(StrEnum):
    NONE = ""
    CHAT = "chat"  # this chat must wait; others may go
    GLOBAL = "global"  # nobody may go yet


@dataclass(frozen=True)
class Grant:
    """``ok``, or which budget is exhausted and for how many seconds."""

    scope: Scope
    wait: float = 0.0

    @property
    def ok(self) -> bool:
        return self.scope is Scope.NONE


class SendBudget:
    """Take one send from the global and the chat's bucket, or say how long to wait."""

    def __init__(
        self,
        redis: Redis,
        limits: SendLimits | None = None,
        *,
        prefix: str = "sampark:outbox:",
        timer: Callable[[], float] = time.time,
    ) -> None:
        self.redis = redis
        self.limits = limits or SendLimits()
        self.prefix = prefix
        self.timer = timer

    def _rate(self, chat_id: int) -> tuple[float, int]:
        limits = self.limits
        if chat_id > 0:
            return limits.private_rate, limits.private_burst
        return limits.group_rate, limits.group_burst

    async def pause(self, chat_id: int, seconds: float) -> None:
        """Nothing goes to ``chat_id`` for ``seconds`` (a 429's ``retry_after``)."""
        until = self.timer() + seconds
        await self.redis.set(
            f"{self.prefix}pause:{chat_id}", repr(until), px=max(1, math.ceil(seconds * 1000))
        )

    async def acquire(self, chat_id: int) -> Grant:
        """Consume one send for ``chat_id`` if both budgets allow it now."""
        return await self._take(chat_id)

    async def debit(self) -> None:
        """Count a send made outside the outbox (a direct reply) in the global budget: it
        goes anyway, and the outbox leaves room for it (down to ``-DEBT`` tokens at most).

        Chat budgets are not charged: a reply answers the person's own message or tap,
        which Telegram allows for (the emulator's ``reply_credit``); charging them would
        hold back the next offer to a specialist who has just been chatting with the bot.
        """
        g_key = f"{self.prefix}global"
        g_rate, g_burst = self.limits.global_rate, self.limits.global_burst
        async with self.redis.pipeline(transaction=True) as pipe:
            while True:
                try:
                    await pipe.watch(g_key)
                    g_raw = await pipe.hmget(g_key, ["t", "s"])
                    now = self.timer()
                    left = max(_level(g_raw, g_rate, g_burst, now) - 1, -DEBT)
                    pipe.multi()
                    pipe.hset(g_key, mapping={"t": repr(left), "s": repr(now)})
                    pipe.expire(g_key, 60)
                    await pipe.execute()
                    return
                except WatchError:
                    continue

    async def _take(self, chat_id: int) -> Grant:
        g_key = f"{self.prefix}global"
        c_key = f"{self.prefix}chat:{chat_id}"
        p_key = f"{self.prefix}pause:{chat_id}"
        c_rate, c_burst = self._rate(chat_id)
        g_rate, g_burst = self.limits.global_rate, self.limits.global_burst
        async with self.redis.pipeline(transaction=True) as pipe:
            while True:
                try:
                    await pipe.watch(g_key, c_key)
                    paused = await pipe.get(p_key)
                    g_raw = await pipe.hmget(g_key, ["t", "s"])
                    c_raw = await pipe.hmget(c_key, ["t", "s"])
                    now = self.timer()
                    g_tokens = _level(g_raw, g_rate, g_burst, now)
                    c_tokens = _level(c_raw, c_rate, c_burst, now)
                    grant = _refusal(paused, now, g_tokens, g_rate, c_tokens, c_rate)
                    if grant is not None:
                        await pipe.unwatch()
                        return grant
                    pipe.multi()
                    pipe.hset(g_key, mapping={"t": repr(g_tokens - 1), "s": repr(now)})
                    pipe.expire(g_key, 60)
                    pipe.hset(c_key, mapping={"t": repr(c_tokens - 1), "s": repr(now)})
                    pipe.expire(c_key, max(60, math.ceil(c_burst / c_rate) + 1))
                    await pipe.execute()
                    return Grant(Scope.NONE)
                except WatchError:  # another process took a token meanwhile: look again
                    continue


def _refusal(
    paused: bytes | str | None,
    now: float,
    g_tokens: float,
    g_rate: float,
    c_tokens: float,
    c_rate: float,
) -> Grant | None:
    """Why a send may not go now (None: it may)."""
    if paused is not None and float(paused) > now:
        return Grant(Scope.CHAT, float(paused) - now)
    if c_tokens < 1 - EPSILON:
        return Grant(Scope.CHAT, (1 - c_tokens) / c_rate)
    if g_tokens < 1 - EPSILON:
        return Grant(Scope.GLOBAL, (1 - g_tokens) / g_rate)
    return None


def _level(raw: list[bytes | str | None], rate: float, burst: int, now: float) -> float:
    """Tokens in a bucket stored as (tokens, stamp), refilled up to ``now``."""
    tokens_raw, stamp_raw = raw
    if tokens_raw is None or stamp_raw is None:
        return float(burst)
    tokens, stamp = float(tokens_raw), float(stamp_raw)
    return min(float(burst), tokens + max(0.0, now - stamp) * rate)
