"""Escalation: timeouts move a case along, timers fire once and survive restarts."""

from __future__ import annotations

import asyncio
from datetime import timedelta

import pytest

from bot.accounts.directory import UserView
from bot.cases.escalation import OFFER_TIMEOUT, REROUTE, ROUTE, Escalator, Timers
from bot.cases.offers import OfferOutcome, OfferService
from bot.cases.ports import EscalationReason, WithdrawReason
from bot.cases.rosters import RosterService
from bot.clock import ManualClock
from bot.config import Settings
from bot.domain import CaseStatus
from bot.storage.database import Database
from bot.storage.models import Case
from tests.cases.conftest import Factory, FakeNotifier


def build(
    db: Database, clock: ManualClock, notifier: FakeNotifier, settings: Settings
) -> tuple[OfferService, Escalator]:
    timers = Timers(db, clock)
    offers = OfferService(db, clock, RosterService(db, clock), notifier, settings, timers=timers)
    return offers, Escalator(timers, offers)


async def always_on(db: Database, clock: ManualClock, *users: UserView) -> None:
    rosters = RosterService(db, clock)
    for user in users:
        for day in range(7):
            await rosters.add_weekly(user.id, "radiology", day, "00:00", "24:00")


async def case_row(db: Database, case_id: int) -> Case:
    async with db.transaction() as session:
        case = await session.get(Case, case_id)
        assert case is not None
        return case


async def test_timeout_goes_to_the_next_specialist_then_the_coordinator(
    db: Database, clock: ManualClock, notifier: FakeNotifier, settings: Settings, factory: Factory
) -> None:
    offers, escalator = build(db, clock, notifier, settings)
    a, b = await factory.specialist(), await factory.specialist()
    await always_on(db, clock, a, b)
    coordinator = await factory.coordinator()
    hw = await factory.health_worker()
    case_id = await factory.case(hw, urgency="urgent")
    await offers.route(case_id)
    assert notifier.of("offer") == [(case_id, a.id)]

    clock.advance(timedelta(minutes=29))
    assert await escalator.tick() == 0
    clock.advance(timedelta(minutes=1))
    assert await escalator.tick() == 1
    [(wcase, wuser, ref, reason)] = notifier.of("withdrawn")
    assert (wcase, wuser, ref.chat_id, reason) == (case_id, a.id, a.telegram_id, "expired")
    assert notifier.of("offer") == [(case_id, a.id), (case_id, b.id)]
    assert (await offers.accept(a.telegram_id, case_id)).outcome is OfferOutcome.NOT_OFFERED

    clock.advance(timedelta(minutes=30))
    assert await escalator.tick() == 1
    assert notifier.of("escalated") == [(case_id, (coordinator.id,), EscalationReason.NO_ACCEPT)]
    case = await case_row(db, case_id)
    assert case.escalation_level == 1
    assert case.status == CaseStatus.OFFERED

    # Reroutes while nobody new is on call are silent.
    calls = len(notifier.calls)
    clock.advance(timedelta(minutes=15))
    assert await escalator.tick() == 1
    assert len(notifier.calls) == calls
    [timer] = await escalator.timers.pending(case_id)
    assert timer.kind == REROUTE

    # Someone comes on call: the next reroute offers it to them.
    c = await factory.specialist()
    await always_on(db, clock, c)
    clock.advance(timedelta(minutes=15))
    assert await escalator.tick() == 1
    assert notifier.of("offer")[-1] == (case_id, c.id)
    assert (await offers.accept(c.telegram_id, case_id)).outcome is OfferOutcome.ACCEPTED
    clock.advance(timedelta(days=1))
    assert await escalator.tick() == 0


async def test_emergency_offers_expire_together(
    db: Database, clock: ManualClock, notifier: FakeNotifier, settings: Settings, factory: Factory
) -> None:
    offers, escalator = build(db, clock, notifier, settings)
    a, b = await factory.specialist(), await factory.specialist()
    await always_on(db, clock, a, b)
    await factory.coordinator()
    hw = await factory.health_worker()
    case_id = await factory.case(hw, urgency="emergency")
    await offers.route(case_id)
    await offers.decline(a.telegram_id, case_id, "busy")  # b still pending: no escalation
    assert notifier.of("escalated") == []
    clock.advance(timedelta(minutes=5))
    assert await escalator.tick() == 1
    assert [(w[1], w[3]) for w in notifier.of("withdrawn")] == [(b.id, WithdrawReason.EXPIRED)]
    assert [e[2] for e in notifier.of("escalated")] == [EscalationReason.NO_ACCEPT]


async def test_two_escalators_fire_each_timer_once(
    db: Database, clock: ManualClock, notifier: FakeNotifier, settings: Settings, factory: Factory
) -> None:
    a, b = await factory.specialist(), await factory.specialist()
    await always_on(db, clock, a, b)
    hw = await factory.health_worker()
    offers, first = build(db, clock, notifier, settings)
    case_ids = [await factory.case(hw, urgency="emergency") for _ in range(6)]
    for case_id in case_ids:
        await offers.route(case_id)
    other_db = Database(settings.effective_database_url)
    try:
        _, second = build(other_db, clock, notifier, settings)
        clock.advance(timedelta(minutes=5))
        fired = await asyncio.gather(first.tick(), second.tick(), first.tick())
        assert sum(fired) == len(case_ids)
    finally:
        await other_db.dispose()
    expired = [(w[0], w[1]) for w in notifier.of("withdrawn")]
    assert sorted(expired) == sorted((c, s.id) for c in case_ids for s in (a, b))
    assert len(notifier.of("escalated")) == len(case_ids)


async def test_claim_due_claims_each_timer_once(
    db: Database, clock: ManualClock, settings: Settings, factory: Factory
) -> None:
    timers = Timers(db, clock)
    hw = await factory.health_worker()
    case_id = await factory.case(hw)
    ids = [
        await timers.schedule("test", case_id, clock.now() + timedelta(minutes=i)) for i in range(8)
    ]
    cancelled = await timers.schedule("other", case_id, clock.now())
    await timers.cancel(case_id, kind="other")
    other_db = Database(settings.effective_database_url)
    try:
        clock.advance(timedelta(minutes=10))
        batches = await asyncio.gather(
            timers.claim_due(), Timers(other_db, clock).claim_due(), timers.claim_due()
        )
    finally:
        await other_db.dispose()
    claimed = [t.id for batch in batches for t in batch]
    assert sorted(claimed) == ids
    assert cancelled not in claimed
    assert await timers.claim_due() == []


async def test_pending_timer_survives_a_restart(
    settings: Settings, clock: ManualClock, factory: Factory, db: Database
) -> None:
    a, b = await factory.specialist(), await factory.specialist()
    await always_on(db, clock, a, b)
    hw = await factory.health_worker()
    case_id = await factory.case(hw)
    before = FakeNotifier()
    offers, _ = build(db, clock, before, settings)
    await offers.route(case_id)
    await db.dispose()  # the process dies

    fresh = Database(settings.effective_database_url)
    try:
        await fresh.prepare()
        after = FakeNotifier()
        _, escalator = build(fresh, clock, after, settings)
        [timer] = await escalator.timers.pending(case_id)
        assert timer.kind == OFFER_TIMEOUT
        clock.advance(timedelta(hours=4))
        assert await escalator.tick() == 1
        assert after.of("offer") == [(case_id, b.id)]
        assert [(w[1], w[3]) for w in after.of("withdrawn")] == [(a.id, WithdrawReason.EXPIRED)]
        assert await escalator.tick() == 0  # nothing twice
    finally:
        await fresh.dispose()


async def test_a_failing_timer_is_retried_and_the_loop_survives(
    db: Database, clock: ManualClock, notifier: FakeNotifier, settings: Settings, factory: Factory
) -> None:
    offers, escalator = build(db, clock, notifier, settings)
    hw = await factory.health_worker()
    case_id = await factory.case(hw)
    timer_id = await escalator.timers.schedule(OFFER_TIMEOUT, case_id, clock.now())

    calls = 0
    real_fire = offers.fire

    async def flaky(timer_id: int, case_id: int | None, now):  # type: ignore[no-untyped-def]
        nonlocal calls
        calls += 1
        if calls == 1:
            raise RuntimeError("database hiccup")
        return await real_fire(timer_id, case_id, now)

    offers.fire = flaky  # type: ignore[method-assign]
    assert await escalator.tick() == 0
    [timer] = await escalator.timers.pending(case_id)
    assert timer.id == timer_id and timer.due_at == clock.now() + timedelta(minutes=1)
    clock.advance(timedelta(minutes=1))
    assert await escalator.tick() == 1

    # run(): an exception in tick is logged and the loop goes on until stopped.
    ticks = 0

    async def broken_tick(now=None) -> int:  # type: ignore[no-untyped-def]
        nonlocal ticks
        ticks += 1
        if ticks >= 3:
            stop.set()
        raise RuntimeError("boom")

    stop = asyncio.Event()
    escalator.tick = broken_tick  # type: ignore[method-assign]
    await asyncio.wait_for(escalator.run(stop, interval=0.001), timeout=5)
    assert ticks == 3


@pytest.mark.parametrize(
    ("urgency", "minutes"), [("emergency", 5), ("urgent", 30), ("routine", 240)]
)
def test_timeouts_follow_settings(settings: Settings, urgency: str, minutes: int) -> None:
    offers = OfferService(None, ManualClock(), None, FakeNotifier(), settings)  # type: ignore[arg-type]
    assert offers.timeout_for(urgency) == timedelta(minutes=minutes)


async def test_a_route_timer_makes_submission_routing_durable(
    db: Database, clock: ManualClock, notifier: FakeNotifier, settings: Settings, factory: Factory
) -> None:
    offers, escalator = build(db, clock, notifier, settings)
    a = await factory.specialist()
    await always_on(db, clock, a)
    hw = await factory.health_worker()
    lost = await factory.case(hw)  # submitted, then the process died before route()
    routed = await factory.case(hw)
    async with db.transaction() as session:
        Timers.add(session, ROUTE, lost, clock.now())
        Timers.add(session, ROUTE, routed, clock.now())
    await offers.route(routed)  # cancels its ROUTE timer
    assert await escalator.tick() == 1
    assert notifier.of("offer") == [(routed, a.id), (lost, a.id)]

    # With nobody on call the first routing is not silent, unlike a reroute.
    nobody = await factory.case(hw, specialty="dermatology")
    await escalator.timers.schedule(ROUTE, nobody, clock.now())
    assert await escalator.tick() == 1
    assert notifier.of("nobody_on_call") == [(nobody, hw.id)]
