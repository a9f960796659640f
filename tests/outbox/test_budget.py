"""The shared send budget in Redis: global rate, per-chat rates, 429 pauses."""

from __future__ import annotations

from redis.asyncio import Redis

from bot.outbox import Scope, SendBudget, SendLimits
from tests.outbox.conftest import FakeTime


def make(redis: Redis, timer: FakeTime, **limits: float) -> SendBudget:
    return SendBudget(redis, SendLimits(**limits), timer=timer)  # type: ignore[arg-type]


async def test_private_chat_gets_one_per_second_after_its_burst(
    redis: Redis, fake_time: FakeTime
) -> None:
    budget = make(redis, fake_time, private_rate=1.0, private_burst=2)
    assert (await budget.acquire(7)).ok
    assert (await budget.acquire(7)).ok
    grant = await budget.acquire(7)
    assert grant.scope is Scope.CHAT and 0.99 < grant.wait <= 1.0
    assert (await budget.acquire(8)).ok  # another chat is not held up
    fake_time.now += 1.0
    assert (await budget.acquire(7)).ok


async def test_groups_get_twenty_a_minute(redis: Redis, fake_time: FakeTime) -> None:
    budget = make(redis, fake_time, group_rate=20 / 60, group_burst=1)
    assert (await budget.acquire(-100)).ok
    grant = await budget.acquire(-100)
    assert grant.scope is Scope.CHAT and abs(grant.wait - 3.0) < 1e-6


async def test_global_rate_is_one_budget_for_every_process(
    redis: Redis, fake_time: FakeTime
) -> None:
    one = make(redis, fake_time, global_rate=10, global_burst=5)
    two = make(redis, fake_time, global_rate=10, global_burst=5)
    granted = [(await (one if i % 2 else two).acquire(1000 + i)).ok for i in range(8)]
    assert granted == [True] * 5 + [False] * 3
    grant = await one.acquire(2000)
    assert grant.scope is Scope.GLOBAL and abs(grant.wait - 0.1) < 1e-6
    fake_time.now += 0.1
    assert (await two.acquire(2000)).ok


async def test_over_a_second_the_global_rate_holds(redis: Redis, fake_time: FakeTime) -> None:
    budget = make(redis, fake_time, global_rate=28, global_burst=3)
    granted = 0
    for step in range(100):  # 1 s in 10 ms steps, a new chat every time
        fake_time.now += 0.01
        if (await budget.acquire(5000 + step)).ok:
            granted += 1
    assert 28 <= granted <= 31


async def test_a_pause_holds_only_that_chat(redis: Redis, fake_time: FakeTime) -> None:
    budget = make(redis, fake_time)
    await budget.pause(9, 5)
    grant = await budget.acquire(9)
    assert grant.scope is Scope.CHAT and abs(grant.wait - 5) < 1e-6
    assert (await budget.acquire(10)).ok
    fake_time.now += 5.01
    assert (await budget.acquire(9)).ok


async def test_a_direct_reply_is_counted_in_the_global_budget(
    redis: Redis, fake_time: FakeTime
) -> None:
    budget = make(redis, fake_time, global_rate=10, global_burst=2, private_burst=2)
    for _ in range(4):
        await budget.debit()  # replies go anyway, overdrawing by one token at most
    grant = await budget.acquire(7)
    assert grant.scope is Scope.GLOBAL and abs(grant.wait - 0.2) < 1e-6
    fake_time.now += 0.2
    assert (await budget.acquire(7)).ok  # the chat's own budget was not charged
    assert (await budget.acquire(7)).scope is Scope.GLOBAL
