"""Offers: routing, first accept wins (also under a race), declines, assignment, refusals."""

from __future__ import annotations

import asyncio
from datetime import timedelta

import pytest
from sqlalchemy import select, update

from bot.accounts.directory import UserView
from bot.cases.escalation import OFFER_TIMEOUT, REROUTE, Timers
from bot.cases.offers import OfferOutcome, OfferService, OfferStatus
from bot.cases.ports import EscalationReason, WithdrawReason
from bot.cases.rosters import RosterService
from bot.clock import ManualClock
from bot.config import Settings
from bot.domain import CaseStatus, Role
from bot.storage.database import Database
from bot.storage.models import AuditEvent, Case, Offer
from tests.cases.conftest import Factory, FakeNotifier


@pytest.fixture
def rosters(db: Database, clock: ManualClock) -> RosterService:
    return RosterService(db, clock)


@pytest.fixture
def offers(
    db: Database,
    clock: ManualClock,
    rosters: RosterService,
    notifier: FakeNotifier,
    settings: Settings,
) -> OfferService:
    return OfferService(db, clock, rosters, notifier, settings)


async def always_on(rosters: RosterService, *users: UserView, specialty: str = "radiology") -> None:
    for user in users:
        for day in range(7):
            await rosters.add_weekly(user.id, specialty, day, "00:00", "24:00")


async def case_row(db: Database, case_id: int) -> Case:
    async with db.transaction() as session:
        case = await session.get(Case, case_id)
        assert case is not None
        return case


async def offer_rows(db: Database, case_id: int) -> list[Offer]:
    async with db.transaction() as session:
        return list(
            (
                await session.scalars(
                    select(Offer).where(Offer.case_id == case_id).order_by(Offer.id)
                )
            ).all()
        )


async def test_routine_case_goes_to_one_specialist_with_a_timer(
    offers: OfferService,
    rosters: RosterService,
    factory: Factory,
    notifier: FakeNotifier,
    db: Database,
    clock: ManualClock,
) -> None:
    a, b = await factory.specialist(), await factory.specialist()
    await always_on(rosters, a, b)
    hw = await factory.health_worker()
    case_id = await factory.case(hw)

    result = await offers.route(case_id)

    assert [u.id for u in result.offered] == [a.id]
    assert notifier.of("offer") == [(case_id, a.id)]
    assert (await case_row(db, case_id)).status == CaseStatus.OFFERED
    [offer] = await offer_rows(db, case_id)
    assert offer.status == OfferStatus.PENDING
    assert (offer.chat_id, offer.message_id) == (a.telegram_id, 1)
    [timer] = await Timers(db, clock).pending(case_id)
    assert timer.kind == OFFER_TIMEOUT
    assert timer.due_at == clock.now() + timedelta(minutes=240)
    # Routing again while an offer is pending changes nothing.
    assert (await offers.route(case_id)).offered == ()


async def test_least_loaded_then_shared_language(
    offers: OfferService, rosters: RosterService, factory: Factory, db: Database
) -> None:
    busy = await factory.specialist(language="hi")
    english = await factory.specialist(language="en")
    hindi = await factory.specialist(language="hi")
    await always_on(rosters, busy, english, hindi)
    hw = await factory.health_worker(language="hi")
    other = await factory.case(hw)
    async with db.transaction() as session:
        await session.execute(
            update(Case)
            .where(Case.id == other)
            .values(status=CaseStatus.ACCEPTED, specialist_id=busy.id)
        )
    case_id = await factory.case(hw)
    assert [u.id for u in (await offers.route(case_id)).offered] == [hindi.id]


async def test_emergency_goes_to_everyone_and_first_accept_wins(
    offers: OfferService,
    rosters: RosterService,
    factory: Factory,
    notifier: FakeNotifier,
    db: Database,
    clock: ManualClock,
) -> None:
    a, b, c = [await factory.specialist() for _ in range(3)]
    await always_on(rosters, a, b, c)
    hw = await factory.health_worker()
    case_id = await factory.case(hw, urgency="emergency")
    assert {u.id for u in (await offers.route(case_id)).offered} == {a.id, b.id, c.id}
    [timer] = await Timers(db, clock).pending(case_id)
    assert timer.due_at == clock.now() + timedelta(minutes=5)

    won = await offers.accept(b.telegram_id, case_id)
    assert won.outcome is OfferOutcome.ACCEPTED
    assert won.case is not None and won.case.specialist_id == b.id
    assert won.case.status is CaseStatus.ACCEPTED
    assert notifier.of("accepted") == [(case_id, b.id, hw.id)]
    withdrawn = notifier.of("withdrawn")
    assert {(w[1], w[3]) for w in withdrawn} == {
        (a.id, WithdrawReason.TAKEN),
        (c.id, WithdrawReason.TAKEN),
    }
    statuses = {o.specialist_id: o.status for o in await offer_rows(db, case_id)}
    assert statuses == {a.id: "withdrawn", b.id: "accepted", c.id: "withdrawn"}
    assert await Timers(db, clock).pending(case_id) == []

    late = await offers.accept(a.telegram_id, case_id)
    assert late.outcome is OfferOutcome.ALREADY_TAKEN
    again = await offers.accept(b.telegram_id, case_id)
    assert again.outcome is OfferOutcome.ACCEPTED
    assert len(notifier.of("accepted")) == 1  # the repeated tap sent nothing


async def test_two_concurrent_accepts_exactly_one_wins(
    settings: Settings,
    rosters: RosterService,
    factory: Factory,
    notifier: FakeNotifier,
    db: Database,
    clock: ManualClock,
) -> None:
    a, b = await factory.specialist(), await factory.specialist()
    await always_on(rosters, a, b)
    hw = await factory.health_worker()
    # Two "processes": separate engines on the same database.
    other_db = Database(settings.effective_database_url)
    try:
        one = OfferService(db, clock, rosters, notifier, settings)
        two = OfferService(other_db, clock, RosterService(other_db, clock), notifier, settings)
        for _ in range(5):
            case_id = await factory.case(hw, urgency="emergency")
            await one.route(case_id)
            results = await asyncio.gather(
                one.accept(a.telegram_id, case_id), two.accept(b.telegram_id, case_id)
            )
            outcomes = sorted(r.outcome for r in results)
            assert outcomes == [OfferOutcome.ACCEPTED, OfferOutcome.ALREADY_TAKEN]
            winner = a.id if results[0].outcome is OfferOutcome.ACCEPTED else b.id
            case = await case_row(db, case_id)
            assert case.specialist_id == winner
            statuses = sorted(o.status for o in await offer_rows(db, case_id))
            assert statuses == ["accepted", "withdrawn"]
        assert len(notifier.of("accepted")) == 5
    finally:
        await other_db.dispose()


async def test_decline_goes_to_the_next_then_the_coordinator(
    offers: OfferService,
    rosters: RosterService,
    factory: Factory,
    notifier: FakeNotifier,
    db: Database,
) -> None:
    a, b = await factory.specialist(), await factory.specialist()
    await always_on(rosters, a, b)
    coordinator = await factory.coordinator()
    await factory.coordinator(district="Nashik")
    hw = await factory.health_worker()
    case_id = await factory.case(hw)
    await offers.route(case_id)

    assert (await offers.decline(a.telegram_id, case_id, "nonsense")).outcome is (
        OfferOutcome.INVALID
    )
    declined = await offers.decline(a.telegram_id, case_id, "busy")
    assert declined.outcome is OfferOutcome.DECLINED
    assert notifier.of("offer") == [(case_id, a.id), (case_id, b.id)]
    # Declining twice is harmless; accepting after declining is stale.
    assert (await offers.decline(a.telegram_id, case_id, "busy")).outcome is (OfferOutcome.DECLINED)
    assert (await offers.accept(a.telegram_id, case_id)).outcome is OfferOutcome.NOT_OFFERED

    await offers.decline(b.telegram_id, case_id, "not_my_specialty")
    assert notifier.of("escalated") == [(case_id, (coordinator.id,), EscalationReason.NO_ACCEPT)]
    assert notifier.of("nobody_on_call") == []
    case = await case_row(db, case_id)
    assert case.status == CaseStatus.OFFERED
    assert case.escalation_level == 1
    [timer] = await Timers(db, offers.clock).pending(case_id)
    assert timer.kind == REROUTE
    reasons = {o.specialist_id: o.decline_reason for o in await offer_rows(db, case_id)}
    assert reasons == {a.id: "busy", b.id: "not_my_specialty"}


async def test_nobody_on_call(
    offers: OfferService, factory: Factory, notifier: FakeNotifier, db: Database
) -> None:
    coordinator = await factory.coordinator()
    hw = await factory.health_worker()
    case_id = await factory.case(hw)
    result = await offers.route(case_id)
    assert result.offered == ()
    assert result.escalated is EscalationReason.NOBODY_ON_CALL
    assert notifier.of("nobody_on_call") == [(case_id, hw.id)]
    assert notifier.of("escalated") == [
        (case_id, (coordinator.id,), EscalationReason.NOBODY_ON_CALL)
    ]
    assert (await case_row(db, case_id)).status == CaseStatus.SUBMITTED
    [timer] = await Timers(db, offers.clock).pending(case_id)
    assert timer.kind == REROUTE
    assert timer.due_at == offers.clock.now() + timedelta(minutes=15)


async def test_forged_and_stale_calls_change_nothing(
    offers: OfferService,
    rosters: RosterService,
    factory: Factory,
    notifier: FakeNotifier,
    db: Database,
) -> None:
    a, outsider = await factory.specialist(), await factory.specialist()
    await always_on(rosters, a)
    hw = await factory.health_worker()
    case_id = await factory.case(hw)
    await offers.route(case_id)
    before = len(notifier.calls)

    assert (await offers.accept(hw.telegram_id, case_id)).outcome is OfferOutcome.NOT_ALLOWED
    assert (await offers.accept(424242, case_id)).outcome is OfferOutcome.NOT_ALLOWED
    refused = await offers.accept(outsider.telegram_id, case_id)
    assert refused == type(refused)(OfferOutcome.NOT_OFFERED)  # no case details leak
    assert (await offers.accept(a.telegram_id, 987654)).outcome is OfferOutcome.NOT_OFFERED
    assert (await offers.decline(outsider.telegram_id, case_id, "busy")).outcome is (
        OfferOutcome.NOT_OFFERED
    )
    assert (await offers.assign(a.telegram_id, case_id, a.id)).outcome is (OfferOutcome.NOT_ALLOWED)
    assert len(notifier.calls) == before
    assert (await case_row(db, case_id)).status == CaseStatus.OFFERED

    async with db.transaction() as session:
        await session.execute(
            update(Case).where(Case.id == case_id).values(status=CaseStatus.CANCELLED)
        )
    assert (await offers.accept(a.telegram_id, case_id)).outcome is OfferOutcome.CASE_CLOSED
    assert (await offers.decline(a.telegram_id, case_id, "busy")).outcome is (
        OfferOutcome.CASE_CLOSED
    )
    assert [o.status for o in await offer_rows(db, case_id)] == ["pending"]


async def test_coordinator_assigns_by_hand(
    offers: OfferService,
    rosters: RosterService,
    factory: Factory,
    notifier: FakeNotifier,
    db: Database,
) -> None:
    a, b = await factory.specialist(), await factory.specialist()
    coordinator = await factory.coordinator()
    elsewhere = await factory.coordinator(district="Nashik")
    admin = await factory.user(Role.ADMIN, district=None)
    hw = await factory.health_worker()

    # Nobody on call: the case waits as submitted; the coordinator assigns it.
    case_id = await factory.case(hw)
    await offers.route(case_id)
    assert (await offers.assign(elsewhere.telegram_id, case_id, a.id)).outcome is (
        OfferOutcome.NOT_ALLOWED
    )
    assert (await offers.assign(coordinator.telegram_id, case_id, hw.id)).outcome is (
        OfferOutcome.INVALID
    )
    done = await offers.assign(coordinator.telegram_id, case_id, a.id)
    assert done.outcome is OfferOutcome.ASSIGNED
    assert done.case is not None and done.case.status is CaseStatus.ACCEPTED
    assert notifier.of("accepted") == [(case_id, a.id, hw.id)]
    assert (case_id, a.id) in notifier.of("offer")  # the specialist gets the card
    assert await Timers(db, offers.clock).pending(case_id) == []
    assert (await offers.assign(admin.telegram_id, case_id, b.id)).outcome is (
        OfferOutcome.ALREADY_TAKEN
    )
    assert [c.id for c in await offers.open_cases(a.telegram_id)] == [case_id]

    # An offered case: the pending offer is withdrawn when an admin assigns another.
    await always_on(rosters, b)
    second = await factory.case(hw)
    await offers.route(second)
    assert [c.id for c in await offers.pending_offers(b.telegram_id)] == [second]
    assert (await offers.assign(admin.telegram_id, second, a.id)).outcome is (OfferOutcome.ASSIGNED)
    assert (second, b.id, (b.telegram_id, 2), WithdrawReason.TAKEN) in [
        (w[0], w[1], (w[2].chat_id, w[2].message_id), w[3]) for w in notifier.of("withdrawn")
    ]
    assert await offers.pending_offers(b.telegram_id) == []
    assert [c.id for c in await offers.open_cases(a.telegram_id)] == [case_id, second]


async def test_undeliverable_offer_goes_to_the_next_at_once(
    offers: OfferService,
    rosters: RosterService,
    factory: Factory,
    notifier: FakeNotifier,
    db: Database,
) -> None:
    a, b = await factory.specialist(), await factory.specialist()
    await always_on(rosters, a, b)
    notifier.undeliverable.add(a.telegram_id)
    hw = await factory.health_worker()
    case_id = await factory.case(hw)
    await offers.route(case_id)
    assert notifier.of("offer") == [(case_id, a.id), (case_id, b.id)]
    statuses = {o.specialist_id: o.status for o in await offer_rows(db, case_id)}
    assert statuses == {a.id: "undelivered", b.id: "pending"}


async def test_audit_trail_without_patient_data(
    offers: OfferService, rosters: RosterService, factory: Factory, db: Database
) -> None:
    a = await factory.specialist()
    await always_on(rosters, a)
    hw = await factory.health_worker()
    case_id = await factory.case(hw)
    await offers.route(case_id)
    await offers.accept(a.telegram_id, case_id)
    async with db.transaction() as session:
        events = (await session.scalars(select(AuditEvent).order_by(AuditEvent.id))).all()
    actions = [e.action for e in events if e.subject == f"case:{case_id}"]
    assert actions == ["case.offer", "case.accept"]
    assert all("cough" not in repr(e.details) for e in events)


async def test_withdraw_all_when_a_case_is_cancelled(
    offers: OfferService,
    rosters: RosterService,
    factory: Factory,
    notifier: FakeNotifier,
    db: Database,
) -> None:
    a, b = await factory.specialist(), await factory.specialist()
    await always_on(rosters, a, b)
    hw = await factory.health_worker()
    case_id = await factory.case(hw, urgency="emergency")
    await offers.route(case_id)
    async with db.transaction() as session:
        await session.execute(
            update(Case).where(Case.id == case_id).values(status=CaseStatus.CANCELLED)
        )
    assert await offers.withdraw_all(case_id) == 2
    assert sorted((w[1], w[3]) for w in notifier.of("withdrawn")) == [
        (a.id, WithdrawReason.CANCELLED),
        (b.id, WithdrawReason.CANCELLED),
    ]
    assert await Timers(db, offers.clock).pending(case_id) == []
    assert await offers.withdraw_all(case_id) == 0
    assert await offers.withdraw_all(987654) == 0


async def test_decline_on_a_case_already_accepted_is_stale(
    offers: OfferService, rosters: RosterService, factory: Factory, db: Database
) -> None:
    a = await factory.specialist()
    await always_on(rosters, a)
    hw = await factory.health_worker()
    case_id = await factory.case(hw)
    await offers.route(case_id)
    await offers.accept(a.telegram_id, case_id)
    assert (await offers.decline(a.telegram_id, case_id, "busy")).outcome is (
        OfferOutcome.NOT_OFFERED
    )
    assert (await case_row(db, case_id)).status == CaseStatus.ACCEPTED
