"""The real bot (unmodified PTB) polling the Bot API emulator (or receiving its webhook
pushes: ``bot_mode``); tests act as people."""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass

import pytest
from redis.asyncio import Redis

from bot.app import Runtime
from bot.clock import ManualClock
from bot.config import Settings
from bot.domain import Role
from bot.i18n import Catalogs
from bot.sandbox.client import SandboxClient
from bot.sandbox.emulator import BotApiEmulator
from bot.sandbox.limits import Limits
from bot.sandbox.live import Mode, running_bot
from bot.sandbox.script import Person, Transcript
from bot.services import Services


@dataclass
class World:
    """Everything a test needs: people, the bot's services, the emulator's control API."""

    client: SandboxClient
    runtime: Runtime
    transcript: Transcript
    catalogs: Catalogs

    @property
    def services(self) -> Services:
        return self.runtime.services

    async def person(self, label: str, language_code: str | None = "en") -> Person:
        return await Person.join(self.client, self.transcript, label, language_code=language_code)

    async def invite(self, role: Role, **kwargs: object) -> str:
        made = await self.services.invites.create(role, **kwargs)  # type: ignore[arg-type]
        return made.code


@pytest.fixture
async def emulator() -> AsyncIterator[BotApiEmulator]:
    # Flood limits stay off here: the outbox that paces sends is a later issue.
    async with BotApiEmulator(
        limits=Limits(flood_enabled=False), allow_loopback_http=True
    ) as emulator:
        yield emulator


@pytest.fixture
def bot_mode() -> Mode:
    """How the bot receives updates; a module runs in both modes with
    ``pytestmark = pytest.mark.parametrize("bot_mode", MODES)``."""
    return "polling"


@pytest.fixture
async def world(
    settings: Settings, emulator: BotApiEmulator, clock: ManualClock, redis: Redis, bot_mode: Mode
) -> AsyncIterator[World]:
    async with (
        running_bot(settings, emulator, clock=clock, redis=redis, mode=bot_mode) as runtime,
        SandboxClient(emulator.control_url, default_timeout=10) as client,
    ):
        yield World(client, runtime, Transcript(), runtime.services.catalogs)


@pytest.fixture
async def paced_world(settings: Settings, clock: ManualClock, redis: Redis) -> AsyncIterator[World]:
    """The bot against an emulator with Telegram's flood limits on, timers looked at often."""
    fast = settings.model_copy(update={"scheduler_interval_seconds": 0.05})
    async with (
        BotApiEmulator(limits=Limits(flood_enabled=True)) as emulator,
        running_bot(fast, emulator, clock=clock, redis=redis) as runtime,
        SandboxClient(emulator.control_url, default_timeout=10) as client,
    ):
        yield World(client, runtime, Transcript(), runtime.services.catalogs)
