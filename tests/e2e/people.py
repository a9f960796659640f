"""Registered people for end-to-end tests, onboarded through the bot like anyone else."""

from __future__ import annotations

import asyncio

from bot.accounts.onboarding import Step
from bot.domain import Role
from bot.handlers import texts
from bot.i18n import LANGUAGE_NAMES
from bot.sandbox.script import Person
from tests.e2e.conftest import World


async def onboard(world: World, person: Person, code: str, language: str, *answers: str) -> None:
    """/start with the invite, pick the language, answer every question."""
    await person.send("/start", code)
    picker = await person.expect(texts.choose_language(world.catalogs.get("hi")))
    await person.tap(picker, LANGUAGE_NAMES[language])
    tr = world.catalogs.get(language)
    await person.expect(tr._(texts.QUESTIONS[Step.FULL_NAME]))
    for answer in answers:
        await person.send(answer)
        await person.expect()


async def health_worker(world: World, language: str = "hi", name: str = "Sunita Devi") -> Person:
    """An active health worker of PHC Amminabhavi, Dharwad."""
    phc = await world.services.facilities.add("PHC Amminabhavi", "Dharwad")
    code = await world.invite(Role.HEALTH_WORKER, facility_id=phc.id)
    person = await world.person(name.split()[0], language)
    await onboard(world, person, code, language, name)
    return person


async def specialist(
    world: World, name: str = "Dr. Meera Iyer", language: str = "en", specialty: str = "radiology"
) -> Person:
    """An approved specialist on call all week (every day, all day)."""
    code = await world.invite(
        Role.SPECIALIST, district="Dharwad", specialty=specialty, preapproved=True
    )
    person = await world.person(name.split()[-1], language)
    await onboard(world, person, code, language, name, "MD (Radiology)", "KMC 123456")
    user = await world.services.directory.by_telegram(person.id)
    assert user is not None
    for day in range(7):
        await world.services.rosters.add_weekly(user.id, specialty, day, "00:00", "24:00")
    return person


async def coordinator(world: World, language: str = "en") -> Person:
    code = await world.invite(Role.COORDINATOR, district="Dharwad", preapproved=True)
    person = await world.person("Ravi", language)
    await onboard(world, person, code, language, "Ravi Kumar")
    return person


async def offered_first(world: World, code: str, *people: Person) -> tuple[Person, Person]:
    """Which of two specialists got the (one-at-a-time) offer of ``code``, and the other.

    Reads the chats without consuming replies, so the chosen one can still ``expect`` it.
    """

    async def offered() -> Person | None:
        for person in people:
            if any(code in (m.text or "") for m in await world.client.messages(person.id)):
                return person
        return None

    for _ in range(500):
        found = await offered()
        if found is not None:
            other = next(p for p in people if p is not found)
            return found, other
        await asyncio.sleep(0.02)
    raise AssertionError(f"nobody was offered {code}")
