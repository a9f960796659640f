"""Webhook mode end to end: the emulator pushes updates to the bot's receiver route; a
request without the right secret is refused and nothing in it is processed."""

from __future__ import annotations

import asyncio
import time
from typing import Any

import aiohttp
import pytest
from prometheus_client.parser import text_string_to_metric_families
from redis.asyncio import Redis

from bot.clock import ManualClock
from bot.config import Settings
from bot.sandbox.client import SandboxClient
from bot.sandbox.emulator import BotApiEmulator
from bot.sandbox.live import running_bot
from bot.sandbox.script import Person, Transcript
from bot.web.webhook import SECRET_HEADER
from tests.e2e.conftest import World

webhook_only = pytest.mark.parametrize("bot_mode", ["webhook"])


async def eventually(condition: Any, within: float = 10.0) -> None:
    deadline = time.monotonic() + within
    while not await condition():
        assert time.monotonic() < deadline, "condition never became true"
        await asyncio.sleep(0.05)


def forged_help(user_id: int, update_id: int) -> dict[str, Any]:
    chat = {"id": user_id, "type": "private", "first_name": "Mallory"}
    return {
        "update_id": update_id,
        "message": {
            "message_id": 999,
            "date": int(time.time()),
            "chat": chat,
            "from": {"id": user_id, "is_bot": False, "first_name": "Mallory"},
            "text": "/help",
            "entities": [{"type": "bot_command", "offset": 0, "length": 5}],
        },
    }


@webhook_only
async def test_updates_arrive_by_webhook(world: World) -> None:
    asha = await world.person("Asha")
    await asha.send("/help")
    await asha.expect()
    info = await world.client.webhook()
    assert info["url"].endswith("/telegram/webhook") and info["secret_token"]
    assert info["delivered"] >= 1 and info["errors"] == []


@webhook_only
async def test_a_post_with_a_wrong_secret_is_refused(world: World) -> None:
    mallory = await world.person("Mallory")
    await mallory.send("/help")  # her chat exists, so a processed update would be answered
    await mallory.expect()
    info = await world.client.webhook()
    url = info["url"]
    async with aiohttp.ClientSession() as http:
        for headers in ({}, {SECRET_HEADER: "guessed"}, {SECRET_HEADER: info["secret_token"][:-1]}):
            async with http.post(url, json=forged_help(mallory.id, 10**9), headers=headers) as r:
                assert r.status == 403
        await mallory.silence(0.5)  # nothing in a refused request is processed
        right = {SECRET_HEADER: info["secret_token"]}
        async with http.post(url, json=forged_help(mallory.id, 10**9), headers=right) as r:
            assert r.status == 200
    await mallory.expect()  # the same request with the secret is answered


@webhook_only
async def test_emulator_with_a_stale_secret_retries_until_it_is_right(
    world: World, emulator: BotApiEmulator
) -> None:
    emulator.webhook_retry_delay = 0.05
    right = emulator.state.webhook["secret_token"]
    emulator.state.webhook["secret_token"] = "stale-secret"  # e.g. from an earlier start
    asha = await world.person("Asha")
    await asha.send("/help")

    async def refused() -> bool:
        errors = (await world.client.webhook())["errors"]
        return any("403" in e["message"] for e in errors)

    await eventually(refused)
    await asha.silence(0.3)
    assert (await world.client.webhook())["pending"] == 1  # kept, not lost

    emulator.state.webhook["secret_token"] = right
    await asha.expect()
    await asha.silence(0.3)  # answered once


async def test_health_and_metrics_of_the_running_bot(world: World) -> None:
    asha = await world.person("Asha")
    await asha.send("/help")
    await asha.expect()
    assert world.runtime.web_url is not None
    async with aiohttp.ClientSession(world.runtime.web_url) as http:
        async with http.get("/healthz") as response:
            health = await response.json()
            assert response.status == 200, health
        async with http.get("/metrics") as response:
            text = await response.text()
    assert set(health["checks"]) == {"database", "redis", "storage"}
    found = {family.name: family for family in text_string_to_metric_families(text)}
    updates = {s.labels["kind"]: s.value for s in found["sampark_updates"].samples}
    assert updates.get("message", 0) >= 1
    counts = [s for s in found["sampark_handler_seconds"].samples if s.name.endswith("_count")]
    assert any(s.labels["kind"] == "message" and s.value >= 1 for s in counts)


async def test_updates_sent_while_down_are_kept_across_mode_changes(
    settings: Settings, emulator: BotApiEmulator, clock: ManualClock, redis: Redis
) -> None:
    """Webhook → down → polling → down → webhook: every /help answered exactly once."""
    emulator.webhook_retry_delay = 0.05
    async with SandboxClient(emulator.control_url, default_timeout=10) as client:
        asha = await Person.join(client, Transcript(), "Asha", language_code="en")
        for mode in ("webhook", "polling", "webhook"):
            await asha.send("/help")  # the bot is down: the update waits in the emulator
            await asha.silence(0.3)
            async with running_bot(settings, emulator, clock=clock, redis=redis, mode=mode):
                await asha.expect()
                await asha.send("/help")
                await asha.expect()
                await asha.silence(0.3)
            assert bool((await client.webhook())["url"]) == (mode == "webhook")
