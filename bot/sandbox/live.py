"""The real bot against the emulator in this process (sandbox, demo, end-to-end tests).

``mode="polling"`` (the default) long-polls ``getUpdates``; ``mode="webhook"`` sets a
webhook on the emulator pointing at the bot's own receiver route (plain http on loopback,
so the emulator must be built with ``allow_loopback_http=True``) with a fresh secret, and
the emulator pushes every update to it.
"""

from __future__ import annotations

import asyncio
import socket
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Literal

from redis.asyncio import Redis

from bot.app import Runtime, build_runtime, serve
from bot.clock import Clock
from bot.config import Settings
from bot.sandbox.emulator import SANDBOX_TOKEN, BotApiEmulator
from bot.web.webhook import WebhookConfig

Mode = Literal["polling", "webhook"]
MODES: tuple[Mode, ...] = ("polling", "webhook")


def free_port(host: str = "127.0.0.1") -> int:
    """A TCP port nobody listens on right now."""
    with socket.socket() as sock:
        sock.bind((host, 0))
        port: int = sock.getsockname()[1]
        return port


def sandbox_settings(
    settings: Settings, emulator: BotApiEmulator, *, web_port: int | None = None
) -> Settings:
    """``settings`` pointed at the emulator with its token and bot name; the web side on
    loopback at ``web_port`` (default: a free port, so tests never collide)."""
    port = free_port() if web_port is None else web_port
    return settings.model_copy(
        update={
            "telegram_bot_token": SANDBOX_TOKEN,
            "telegram_api_base": emulator.root_url,
            "bot_username": emulator.state.bot_username,
            "web_host": "127.0.0.1",
            "web_port": port,
            "public_url": f"http://127.0.0.1:{port}",
        }
    )


@asynccontextmanager
async def running_bot(
    settings: Settings,
    emulator: BotApiEmulator,
    *,
    clock: Clock | None = None,
    redis: Redis | None = None,
    mode: Mode = "polling",
    web_port: int | None = None,
) -> AsyncIterator[Runtime]:
    """Build the bot against ``emulator`` and receive updates until the block exits."""
    settings = sandbox_settings(settings, emulator, web_port=web_port)
    webhook = (
        WebhookConfig.parse(f"{settings.public_url}/telegram/webhook")
        if mode == "webhook"
        else None
    )
    runtime = await build_runtime(settings, clock=clock, redis=redis)
    stop = asyncio.Event()
    ready = asyncio.Event()
    task = asyncio.create_task(serve(runtime, stop, poll_timeout=1, ready=ready, webhook=webhook))
    try:
        await asyncio.wait(
            [task, asyncio.ensure_future(ready.wait())], return_when=asyncio.FIRST_COMPLETED
        )
        if task.done():
            task.result()  # start-up failed: raise it here
        yield runtime
    finally:
        stop.set()
        try:
            await task
        finally:
            await runtime.close()
