"""``sampark demo`` and ``sampark sandbox``: the real bot against the local emulator."""

from __future__ import annotations

import asyncio
import logging
import sys
import tempfile
from collections.abc import Awaitable, Callable
from pathlib import Path

from bot.app import Runtime, build_services, close_services
from bot.config import Settings
from bot.domain import Role
from bot.i18n import Catalogs
from bot.sandbox.client import SandboxClient
from bot.sandbox.emulator import BotApiEmulator
from bot.sandbox.live import running_bot
from bot.sandbox.scenario import DISTRICT, FACILITY, consultation, onboarding
from bot.sandbox.script import Transcript, UnexpectedReply

log = logging.getLogger(__name__)


async def _seed(settings: Settings) -> str:
    """What an operator does first: a facility and a pre-approved coordinator invite."""
    db, kv, services = await build_services(settings)
    try:
        await services.facilities.add(FACILITY, DISTRICT)
        invite = await services.invites.create(
            Role.COORDINATOR, district=DISTRICT, uses=1, preapproved=True
        )
        return invite.code
    finally:
        await close_services(db, kv, services)


async def run_demo(settings: Settings, *, as_json: bool, language: str) -> int:
    """Play the scenario on a throw-away database; 0 only if every reply was right."""
    catalogs = Catalogs(settings.locales_dir)
    if language not in catalogs.available:
        print(
            f"sampark demo: no catalog for {language!r}; have {catalogs.available}", file=sys.stderr
        )
        return 2
    if settings.log_level.upper() != "DEBUG":  # throw-away keys and data: no need to shout
        logging.getLogger().setLevel(logging.ERROR)
    with tempfile.TemporaryDirectory(prefix="sampark-demo-") as tmp:
        demo_settings = settings.model_copy(
            update={"data_dir": Path(tmp), "database_url": "", "redis_url": "", "keys_file": None}
        )
        code = await _seed(demo_settings)
        transcript = Transcript()
        async with (
            BotApiEmulator() as emulator,
            running_bot(demo_settings, emulator) as runtime,
            SandboxClient(emulator.control_url, default_timeout=30) as client,
        ):
            try:
                cast = await onboarding(client, catalogs, transcript, code, language)
                await consultation(client, catalogs, transcript, cast, language, on_call(runtime))
            except UnexpectedReply as exc:
                print(transcript.render(), f"\ndemo FAILED: {exc}", sep="\n", file=sys.stderr)
                return 1
            stats = await client.stats()
    print(transcript.to_json() if as_json else transcript.render())
    if not as_json:
        print(
            f"\ndemo passed: every step got the reply it expected "
            f"({stats['responses_429']} flood-limit refusals from the emulator)"
        )
    return 0


def on_call(runtime: Runtime) -> Callable[[int], Awaitable[None]]:
    """Put a specialist (by Telegram id) on call for radiology all week."""

    async def put(telegram_id: int) -> None:
        services = runtime.services
        user = await services.directory.by_telegram(telegram_id)
        if user is None:
            raise UnexpectedReply("the specialist is not registered")
        for day in range(7):
            await services.rosters.add_weekly(user.id, "radiology", day, "00:00", "24:00")

    return put


async def run_sandbox(settings: Settings, *, port: int, stop: asyncio.Event) -> int:
    """Emulator + bot on localhost until ``stop``; prints how to act as a user."""
    sandbox_settings = settings.model_copy(update={"data_dir": settings.data_dir / "sandbox"})
    code = await _seed(sandbox_settings)
    emulator = BotApiEmulator(allow_loopback_http=True)
    await emulator.start(port=port)
    try:
        async with running_bot(sandbox_settings, emulator, web_port=settings.web_port):
            control = emulator.control_url
            post = f"curl -s -H 'content-type: application/json' -XPOST {control}"
            print(
                f"Sandbox running. Bot API: {emulator.base_url}<token>/…\n"
                f"Control API: {control} (reference: docs/sandbox-control-api.md)\n\n"
                "Try it:\n"
                f'  {post}/users -d \'{{"first_name": "Ravi"}}\'\n'
                f"  {post}/users/<id>/command -d "
                f'\'{{"command": "start", "args": ["{code}"]}}\'\n'
                f"  curl -s {control}/chats/<id>/messages\n\n"
                f"Coordinator invite for {DISTRICT}: {code}  (Ctrl-C to stop)",
                flush=True,
            )
            await stop.wait()
    finally:
        await emulator.stop()
    return 0
