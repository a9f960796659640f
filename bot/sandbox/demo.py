"""``sampark demo`` and ``sampark sandbox``: the real bot against the local emulator."""

from __future__ import annotations

import asyncio
import logging
import re
import sys
import tempfile
from pathlib import Path

from bot.config import Settings
from bot.domain import ROLE_LABELS, SPECIALTIES, Role
from bot.handlers import texts
from bot.i18n import LANGUAGE_NAMES, Catalogs
from bot.sandbox.client import SandboxClient
from bot.sandbox.emulator import BotApiEmulator
from bot.sandbox.limits import Limits
from bot.sandbox.live import running_bot
from bot.sandbox.script import Person, Transcript, UnexpectedReply

log = logging.getLogger(__name__)
DISTRICT, FACILITY = "Dharwad", "PHC Amminabhavi"
LINK = re.compile(r"https://t\.me/\S+\?start=([A-Za-z0-9_-]+)")


def _code(text: str | None) -> str:
    match = LINK.search(text or "")
    if match is None:
        raise UnexpectedReply(f"no invite link in: {text!r}")
    return match.group(1)


async def play(client: SandboxClient, catalogs: Catalogs, code: str, language: str) -> Transcript:
    """The scripted scenario; raises ``UnexpectedReply`` at the first wrong reply."""
    t = Transcript()
    en, local = catalogs.get("en"), catalogs.get(language)

    t.note("A coordinator joins with the invite the operator printed")
    ravi = await Person.join(client, t, "Ravi (coordinator)", language_code="en")
    await ravi.send("/start", code)
    picker = await ravi.expect(texts.choose_language(en))
    await ravi.tap(picker, "English")
    await ravi.expect(en._("What is your full name?"))
    await ravi.send("Ravi Kumar")
    await ravi.expect(en._("Welcome, {name}! Your registration is complete.", name="Ravi Kumar"))

    t.note(f"The coordinator invites a health worker of {FACILITY}")
    await ravi.send("/invite")
    menu = await ravi.expect(en._("Whom do you want to invite?"))
    await ravi.tap(menu, en._(ROLE_LABELS[Role.HEALTH_WORKER]))
    await ravi.expect_edit(menu, en._("Which facility does the health worker belong to?"))
    await ravi.tap(menu, FACILITY)
    worker_code = _code((await ravi.expect_edit(menu, FACILITY)).text)

    t.note(f"A health worker onboards in {LANGUAGE_NAMES[language]}")
    sunita = await Person.join(client, t, "Sunita (health worker)", language_code=language)
    await sunita.send("/start", worker_code)
    picker = await sunita.expect(texts.choose_language(local))
    await sunita.tap(picker, LANGUAGE_NAMES[language])
    await sunita.expect(local._("What is your full name?"))
    await sunita.send("12345")
    await sunita.expect(local._(texts.PROBLEMS[texts.Problem.BAD_NAME]))
    await sunita.send("Sunita Devi")
    await sunita.expect(
        local._("Welcome, {name}! Your registration is complete.", name="Sunita Devi")
    )

    t.note("The coordinator invites a radiologist, who onboards in English")
    await ravi.send("/invite")
    menu = await ravi.expect(en._("Whom do you want to invite?"))
    await ravi.tap(menu, en._(ROLE_LABELS[Role.SPECIALIST]))
    specialist_code = _code((await ravi.expect_edit(menu, "https://t.me/")).text)
    meera = await Person.join(client, t, "Dr Meera (specialist)", language_code="en")
    await meera.send("/start", specialist_code)
    picker = await meera.expect(texts.choose_language(en))
    await meera.tap(picker, "English")
    await meera.expect(en._("What is your full name?"))
    await meera.send("Dr. Meera Iyer")
    await meera.expect(en._(texts.QUESTIONS[texts.Step.QUALIFICATION]))
    await meera.send("MD (Radiology)")
    await meera.expect(en._(texts.QUESTIONS[texts.Step.REGISTRATION_NUMBER]))
    await meera.send("KMC 123456")
    choices = await meera.expect(en._(texts.QUESTIONS[texts.Step.SPECIALTIES]))
    await meera.tap(choices, en._(SPECIALTIES["radiology"]))
    await meera.expect_edit(choices)
    await meera.tap(choices, en._("Done"))
    await meera.expect(
        en._(
            "Thank you, {name}. A coordinator will check your details; "
            "I will message you here when you are approved.",
            name="Dr. Meera Iyer",
        )
    )

    t.note("The coordinator approves her with one tap")
    card = await ravi.expect(en._("New registration to approve"), "KMC 123456")
    await ravi.tap(card, en._("Approve"))
    await ravi.expect_edit(card, en._("✅ Approved by you."))
    await meera.expect(
        en._(
            "Your registration as {role} has been approved. Welcome to Sampark!",
            role=en._(ROLE_LABELS[Role.SPECIALIST]),
        )
    )

    t.note("The health worker checks her registration")
    await sunita.send("/whoami")
    await sunita.expect(local._("Name: {name}", name="Sunita Devi"), FACILITY)
    return t


async def _seed(settings: Settings) -> str:
    """What an operator does first: a facility and a pre-approved coordinator invite."""
    from bot.app import build_services, close_services

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
        async with (
            BotApiEmulator(limits=Limits(flood_enabled=False)) as emulator,
            running_bot(demo_settings, emulator),
            SandboxClient(emulator.control_url) as client,
        ):
            try:
                transcript = await play(client, catalogs, code, language)
            except UnexpectedReply as exc:
                print(f"demo FAILED: {exc}", file=sys.stderr)
                return 1
    print(transcript.to_json() if as_json else transcript.render())
    if not as_json:
        print("\ndemo passed: every step got the reply it expected")
    return 0


async def run_sandbox(settings: Settings, *, port: int, stop: asyncio.Event) -> int:
    """Emulator + bot on localhost until ``stop``; prints how to act as a user."""
    sandbox_settings = settings.model_copy(update={"data_dir": settings.data_dir / "sandbox"})
    code = await _seed(sandbox_settings)
    emulator = BotApiEmulator()
    await emulator.start(port=port)
    try:
        async with running_bot(sandbox_settings, emulator):
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
