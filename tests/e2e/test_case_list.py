"""``/cases``: the coordinator lists the district's open cases, opens one's history and
assigns it by hand; nobody else may."""

from __future__ import annotations

from bot.domain import URGENCY_LABELS, Urgency
from bot.handlers import case_list
from tests.e2e.conftest import World
from tests.e2e.people import coordinator, health_worker, specialist
from tests.e2e.test_routing import case_id, submit_case


async def test_coordinator_lists_opens_and_assigns(world: World) -> None:
    en, hi = world.catalogs.get("en"), world.catalogs.get("hi")
    ravi = await coordinator(world)
    sunita = await health_worker(world)
    code = await submit_case(world, sunita, urgency=Urgency.EMERGENCY, with_film=False)
    await sunita.expect(code)  # nobody on call: told honestly
    await ravi.expect(code)  # the escalation
    meera = await specialist(world)  # on call from now on, not offered the case yet

    await ravi.send("/cases")
    listing = await ravi.expect(
        en._("Open cases: {n}", n=1),
        code,
        en._(URGENCY_LABELS[Urgency.EMERGENCY]),
        en._(case_list.STATES["submitted"]),
    )
    assert "Sunita" not in (listing.text or "")
    assert listing.protect_content
    await ravi.tap(listing, "🔴 " + code)
    card = await ravi.expect(
        code,
        en._("History:"),
        en._(case_list.EVENTS["case.submit"]),
        en._(case_list.ESCALATIONS["nobody_on_call"]),
    )
    assert "Sunita" not in (card.text or "")
    await ravi.tap(card, en._("Assign to {name}", name="Dr. Meera Iyer"))
    await ravi.expect_edit(
        card, en._("Case {code} assigned to {name}.", code=code, name="Dr. Meera Iyer")
    )
    await meera.expect(code)
    await sunita.expect("Dr. Meera Iyer", code)

    # The same button again: the case is taken, nothing changes.
    again = await ravi.tap(listing, f"cl:c:{await case_id(world, code)}", forged=True)
    await world.client.callback_answer(again.callback_query_id, 5)
    history = await ravi.expect(code, en._(case_list.EVENTS["case.assign"], name="Dr. Meera Iyer"))
    assert history.button_texts() == []

    # Health workers may not; a forged case id is stale.
    await sunita.send("/cases")
    await sunita.expect(hi._(case_list.ONLY_COORDINATORS))
    forged = await ravi.tap(listing, "cl:c:999999", forged=True)
    await ravi.alert(forged, en._("This button is no longer valid."))
    await ravi.send("/help")
    await ravi.expect("/cases")
