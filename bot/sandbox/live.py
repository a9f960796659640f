"""The real bot, polling the emulator in this process (sandbox, demo, end-to-end tests)."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from redis.asyncio import Redis

from bot.app import Runtime, build_runtime, serve
from bot.clock import Clock
from bot.config import Settings
from bot.sandbox.emulator import SANDBOX_TOKEN, BotApiEmulator


def sandbox_settings(settings: Settings, emulator: BotApiEmulator) -> Settings:
    """``settings`` pointed at the emulator with its token and bot name."""
    return settings.model_copy(
        update={
            "telegram_bot_token": SANDBOX_TOKEN,
            "telegram_api_base": emulator.root_url,
            "bot_username": emulator.state.bot_username,
        }
    )


@asynccontextmanager
async def running_bot(
    settings: Settings,
    emulator: BotApiEmulator,
    *,
    clock: Clock | None = None,
    redis: Redis | None = None,
) -> AsyncIterator[Runtime]:
    """Build the bot against ``emulator`` and poll until the block exits."""
    runtime = await build_runtime(sandbox_settings(settings, emulator), clock=clock, redis=redis)
    stop = asyncio.Event()
    ready = asyncio.Event()
    task = asyncio.create_task(serve(runtime, stop, poll_timeout=1, ready=ready))
    try:
        await asyncio.wait(
            [task, asyncio.ensure_future(ready.wait())], return_when=asyncio.FIRST_COMPLETED
        )
        if task.done():
            task.result()  # start-up failed: raise it here
        yield runtime
    finally:
        stop.set()
        await task
        await runtime.close()
