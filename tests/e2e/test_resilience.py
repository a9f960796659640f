"""Failures of Telegram or of people never crash the bot nor lose what was said."""

from __future__ import annotations

import pytest

from bot.accounts.onboarding import Step
from bot.domain import Role
from bot.handlers import texts
from tests.auxil.waiting import eventually
from tests.e2e.conftest import World
from tests.e2e.test_onboarding import coordinator, open_invite


@pytest.mark.parametrize("language", ["en", "hi"])
@pytest.mark.parametrize("role", [Role.COORDINATOR, Role.ADMIN])
async def test_preapproved_coordinator_and_admin(world: World, role: Role, language: str) -> None:
    tr = world.catalogs.get(language)
    code = await world.invite(role, district="Dharwad", preapproved=True)
    boss = await world.person("Boss", language)
    await open_invite(world, boss, code, language)
    await boss.send("Anita Rao")
    welcome = await boss.expect(
        tr._("Welcome, {name}! Your registration is complete.", name="Anita Rao")
    )
    assert "/invite" in (welcome.text or "")
    menu = await world.client.effective_commands(boss.id)
    assert "invite" in str(menu)


async def test_a_failed_send_is_apologised_for_and_nothing_is_lost(world: World) -> None:
    en = world.catalogs.get("en")
    code = await world.invite(Role.SPECIALIST)
    meera = await world.person("Meera", "en")
    await open_invite(world, meera, code, "en")
    await world.client.inject_fault("error", method="sendMessage", chat_id=meera.id, status=502)
    await meera.send("Dr. Meera Iyer")  # the answer is saved, the reply to it is lost
    await meera.expect(
        en._("Sorry, something went wrong on our side. Please try again in a minute.")
    )
    await meera.send("/start")
    await meera.expect(en._(texts.QUESTIONS[Step.QUALIFICATION]))


async def test_blocked_approver_is_marked_unreachable(world: World) -> None:
    ravi = await coordinator(world)
    await world.client.block(ravi.id)
    code = await world.invite(Role.SPECIALIST, district="Dharwad", specialty="radiology")
    meera = await world.person("Meera", "en")
    await open_invite(world, meera, code, "en")
    await meera.send("Dr. Meera Iyer")
    await meera.send("MD")
    await meera.send("KMC 12345")
    en = world.catalogs.get("en")
    await meera.expect(en._(texts.QUESTIONS[Step.QUALIFICATION]))
    await meera.expect(en._(texts.QUESTIONS[Step.REGISTRATION_NUMBER]))
    await meera.expect("Dr. Meera Iyer")

    async def unreachable() -> bool:
        approver = await world.services.directory.by_telegram(ravi.id)
        return approver is not None and not approver.reachable

    assert await eventually(unreachable)


async def test_each_update_is_handled_once(world: World) -> None:
    guard = world.services.guard
    assert await guard.first_delivery(1, 42)
    assert not await guard.first_delivery(1, 42)
    assert await guard.first_delivery(2, 42)


async def test_strangers_are_throttled(world: World) -> None:
    guard = world.services.guard
    allowed = [await guard.stranger_may_speak(77) for _ in range(25)]
    assert allowed.count(True) == guard.stranger_limit
    assert allowed[-1] is False
