"""A submitted case reaches the on-call specialist; first accept wins; timeouts escalate."""

from __future__ import annotations

import asyncio
from datetime import timedelta

from sqlalchemy import select

from bot.clock import ManualClock
from bot.domain import SPECIALTIES, Urgency
from bot.sandbox import scenario
from bot.sandbox.script import Person
from bot.storage.models import Case
from tests.e2e.conftest import World
from tests.e2e.people import coordinator, health_worker, offered_first, specialist


async def submit_case(
    world: World, sunita: Person, *, urgency: Urgency = Urgency.URGENT, with_film: bool = True
) -> str:
    """The health worker (Hindi) submits a radiology case; returns its code."""
    return await scenario.submit_case(
        world.client, world.catalogs, sunita, "hi", urgency=urgency, with_files=with_film
    )


async def case_id(world: World, code: str) -> int:
    async with world.runtime.db.transaction() as session:
        found = await session.scalar(select(Case.id).where(Case.code == code))
    assert found is not None
    return found


async def test_offer_with_previews_accept_and_tell_the_health_worker(world: World) -> None:
    en = world.catalogs.get("en")
    meera = await specialist(world)
    sunita = await health_worker(world)
    code = await submit_case(world, sunita)
    for _ in range(2):  # the chest film and the photo, as an album
        preview = await meera.expect()
        assert preview.attachment is not None and preview.protect_content
        assert preview.media_group_id is not None
    card = await meera.expect(code, "Cough for 3 weeks")
    assert card.protect_content
    assert "Sunita" not in (card.text or "")
    assert card.button_texts() == [en._("Accept"), en._("Decline")]
    await meera.tap(card, en._("Accept"))
    accepted = await meera.expect_edit(card, en._("✅ You accepted this case."))
    assert en._("Write report") in accepted.button_texts()
    await sunita.expect("Dr. Meera Iyer", code)
    # A second tap on the old Accept (e.g. from another device) changes nothing.
    await meera.tap(card, f"of:a:{await case_id(world, code)}", forged=True)
    await meera.send("/mycases")
    listing = await meera.expect(code, en._("Your open cases:"))
    assert "Sunita" not in (listing.text or "")
    await sunita.silence()


async def test_two_specialists_race_and_exactly_one_wins(world: World) -> None:
    en = world.catalogs.get("en")
    meera = await specialist(world, "Dr. Meera Iyer")
    arjun = await specialist(world, "Dr. Arjun Rao")
    sunita = await health_worker(world)
    code = await submit_case(world, sunita, urgency=Urgency.EMERGENCY, with_film=False)
    cards = [await p.expect(code) for p in (meera, arjun)]
    taps = await asyncio.gather(
        *(p.tap(c, en._("Accept")) for p, c in zip((meera, arjun), cards, strict=True))
    )
    answers = [await world.client.callback_answer(t.callback_query_id, 5) for t in taps]
    losers = [a for a in answers if a.answer_text]
    assert len(losers) == 1
    assert losers[0].answer_text == en._("Another specialist already accepted this case.")
    await sunita.expect(code)  # exactly one acceptance reaches the health worker
    await sunita.silence()


async def test_decline_goes_to_the_next_and_timeout_escalates(
    world: World, clock: ManualClock
) -> None:
    en = world.catalogs.get("en")
    ravi = await coordinator(world)
    meera = await specialist(world, "Dr. Meera Iyer")
    arjun = await specialist(world, "Dr. Arjun Rao")
    sunita = await health_worker(world)
    code = await submit_case(world, sunita, with_film=False)
    first, second = await offered_first(world, code, meera, arjun)
    card = await first.expect(code)
    await first.tap(card, en._("Decline"))
    reasons = await first.expect_edit(card)
    await first.tap(reasons, en._("Busy now"))
    await first.expect_edit(
        card, en._("You declined case {code} ({reason}).", code=code, reason=en._("Busy now"))
    )
    card = await second.expect(code)
    clock.advance(timedelta(minutes=31))
    await world.services.escalator.tick()
    await second.expect_edit(
        card, en._("Not answered in time: the case went to another specialist.")
    )
    alert = await ravi.expect(code)
    assert en._("Assign to {name}", name="Dr. Meera Iyer") in alert.button_texts()
    await ravi.tap(alert, en._("Assign to {name}", name="Dr. Meera Iyer"))
    await ravi.expect_edit(
        alert, en._("Case {code} assigned to {name}.", code=code, name="Dr. Meera Iyer")
    )
    await sunita.expect("Dr. Meera Iyer", code)


async def test_nobody_on_call_is_said_honestly(world: World) -> None:
    ravi = await coordinator(world)
    sunita = await health_worker(world)
    code = await submit_case(world, sunita, with_film=False)
    hi = world.catalogs.get("hi")
    await sunita.expect(code, hi._(SPECIALTIES["radiology"]))
    await ravi.expect(code)
