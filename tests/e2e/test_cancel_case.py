"""The health worker cancels a submitted case from ``/mycases``: the reason as buttons, the
specialist's card withdrawn, stale and forged taps refused in the tapper's language."""

from __future__ import annotations

from bot.cases.refusals import RefusalReason
from bot.handlers import cancel
from bot.handlers.cancel_texts import REASONS
from tests.e2e.conftest import World
from tests.e2e.people import health_worker, specialist
from tests.e2e.test_routing import case_id, submit_case


async def test_cancel_an_offered_case(world: World) -> None:
    en, hi = world.catalogs.get("en"), world.catalogs.get("hi")
    meera = await specialist(world)
    sunita = await health_worker(world)
    code = await submit_case(world, sunita, with_film=False)
    card = await meera.expect(code)

    await sunita.send("/mycases")
    listing = await sunita.expect(hi._("Your open cases:"), code)
    await sunita.tap(listing, hi._("Cancel {code}", code=code))
    question = await sunita.expect(hi._("Why cancel case {code}?", code=code))
    assert question.button_texts() == [
        *(hi._(label) for label in REASONS.values()),
        hi._("Keep the case"),
    ]
    await sunita.tap(question, hi._(REASONS["duplicate"]))
    await sunita.expect_edit(question, hi._("Case {code} was cancelled.", code=code))
    await meera.expect_edit(card, en._("This case was cancelled."))

    # The old offer card and the old question change nothing now.
    accept = await meera.tap(card, f"of:a:{await case_id(world, code)}", forged=True)
    await meera.alert(accept, en._("This case no longer needs a specialist."))
    again = await sunita.tap(question, f"cx:r:{await case_id(world, code)}:other", forged=True)
    await sunita.alert(again, hi._("This case is closed for that."))
    await sunita.send("/mycases")
    await sunita.expect(hi._("You have no open cases."))
    await meera.silence()


async def test_cancel_an_accepted_case_tells_the_specialist(world: World) -> None:
    en, hi = world.catalogs.get("en"), world.catalogs.get("hi")
    meera = await specialist(world)
    sunita = await health_worker(world)
    code = await submit_case(world, sunita, with_film=False)
    card = await meera.expect(code)
    await meera.tap(card, en._("Accept"))
    card = await meera.expect_edit(card, en._("✅ You accepted this case."))
    await sunita.expect(code)

    # Only the health worker who sent it may cancel it.
    forged = await meera.tap(card, f"cx:a:{await case_id(world, code)}", forged=True)
    await meera.alert(forged, en._(cancel.REFUSALS[RefusalReason.NOT_YOURS]))

    await sunita.send("/mycases")
    listing = await sunita.expect(code)
    await sunita.tap(listing, hi._("Cancel {code}", code=code))
    question = await sunita.expect(hi._("Why cancel case {code}?", code=code))
    await sunita.tap(question, hi._(REASONS["recovered"]))
    await sunita.expect_edit(question, hi._("Case {code} was cancelled.", code=code))
    await meera.expect_edit(card, en._("This case was cancelled."))
    told = await meera.expect(
        en._(
            "Case {code} was cancelled by the health worker: {reason}.",
            code=code,
            reason=en._(REASONS["recovered"]),
        )
    )
    assert "Sunita" not in (told.text or "")
    report = await meera.tap(card, f"rep:{await case_id(world, code)}", forged=True)
    await meera.alert(report, en._("This case is closed for that."))
