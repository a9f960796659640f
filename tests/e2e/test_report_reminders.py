"""An emergency report nobody acknowledged: the health worker is reminded, then the
coordinator is alerted; acknowledging from the reminder stops it."""

from __future__ import annotations

from datetime import timedelta

from bot.cases.reports import Field
from bot.clock import ManualClock
from bot.domain import REFERRAL_LABELS, URGENCY_LABELS, Referral, Urgency
from bot.handlers import case_list
from bot.handlers import reports as report_texts
from bot.sandbox.script import ChatMessage, Person
from tests.e2e.conftest import World
from tests.e2e.people import coordinator, health_worker, specialist
from tests.e2e.test_routing import submit_case


async def reported_case(world: World, meera: Person, sunita: Person) -> tuple[str, ChatMessage]:
    """Sunita submits an emergency case, Meera accepts and signs; the report as received."""
    en, hi = world.catalogs.get("en"), world.catalogs.get("hi")
    code = await submit_case(world, sunita, urgency=Urgency.EMERGENCY, with_film=False)
    card = await meera.expect(code)
    await meera.tap(card, en._("Accept"))
    card = await meera.expect_edit(card, en._("✅ You accepted this case."))
    await sunita.expect(code)
    await meera.tap(card, en._("Write report"))
    await meera.expect(en._(report_texts.QUESTIONS[Field.FINDINGS], code=code))
    for text in (
        "Right lower zone consolidation.",
        "Pneumonia.",
        "Refer to the district hospital.",
    ):
        await meera.send(text)
        prompt = await meera.expect()
    await meera.tap(prompt, en._(REFERRAL_LABELS[Referral.NONE]))
    follow = await meera.expect(en._(report_texts.QUESTIONS[Field.FOLLOW_UP]))
    await meera.tap(follow, en._("No follow-up needed"))
    preview = await meera.expect("Pneumonia.")
    await meera.tap(preview, en._("✍️ Sign and send"))
    await meera.expect(en._("Report on case {code} sent to the health worker.", code=code))
    report = await sunita.expect(hi._("📋 Report for case {code}", code=code))
    return code, report


async def test_reminder_then_coordinator_then_acknowledged(
    world: World, clock: ManualClock
) -> None:
    en, hi = world.catalogs.get("en"), world.catalogs.get("hi")
    ravi = await coordinator(world)
    meera = await specialist(world)
    sunita = await health_worker(world)
    code, _report = await reported_case(world, meera, sunita)
    minutes = world.services.settings.report_reminder_emergency_minutes

    clock.advance(timedelta(minutes=minutes - 1))
    await world.services.escalator.tick()
    await sunita.silence()
    clock.advance(timedelta(minutes=1))
    await world.services.escalator.tick()
    reminder = await sunita.expect(
        hi._(
            "⏰ The report on case {code} is waiting for you. Please read it and tap Received.",
            code=code,
        )
    )
    assert reminder.protect_content
    assert reminder.button_texts() == [hi._("✅ Received")]
    await ravi.silence()

    clock.advance(timedelta(minutes=minutes))
    await world.services.escalator.tick()
    alert = await ravi.expect(code, en._(URGENCY_LABELS[Urgency.EMERGENCY]))
    assert "Sunita" not in (alert.text or "")
    assert "Meera" not in (alert.text or "")
    await ravi.tap(alert, code)  # the case's card and history
    history = await ravi.expect(code, en._(case_list.EVENTS["case.reported"]))
    assert "Sunita" not in (history.text or "")

    await sunita.tap(reminder, hi._("✅ Received"))
    await meera.expect(
        en._("The health worker acknowledged your report on case {code}.", code=code)
    )
    clock.advance(timedelta(hours=6))
    await world.services.escalator.tick()
    await sunita.silence()
    await ravi.silence()


async def test_acknowledged_in_time_means_no_reminder(world: World, clock: ManualClock) -> None:
    en, hi = world.catalogs.get("en"), world.catalogs.get("hi")
    ravi = await coordinator(world)
    meera = await specialist(world)
    sunita = await health_worker(world)
    code, report = await reported_case(world, meera, sunita)
    await sunita.tap(report, hi._("✅ Received"))
    await meera.expect(
        en._("The health worker acknowledged your report on case {code}.", code=code)
    )
    clock.advance(timedelta(hours=6))
    await world.services.escalator.tick()
    await sunita.silence()
    await ravi.silence()
