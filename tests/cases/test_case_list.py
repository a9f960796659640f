"""The coordinator's case list and a case's history: district only, urgent and old first."""

from __future__ import annotations

from datetime import timedelta

import pytest

from bot.cases.case_list import CaseHistory, CaseListService
from bot.cases.escalation import Escalator, Timers
from bot.cases.offers import OfferOutcome, OfferService
from bot.cases.refusals import Refusal, RefusalReason
from bot.cases.rosters import RosterService
from bot.clock import ManualClock
from bot.config import Settings
from bot.domain import CaseStatus
from bot.storage.database import Database
from tests.cases.conftest import Factory, FakeNotifier
from tests.cases.factories_reports import admin, audit_actions
from tests.cases.test_escalation import always_on


@pytest.fixture
def listing(db: Database, clock: ManualClock) -> CaseListService:
    return CaseListService(db, clock)


async def test_district_open_cases_most_urgent_then_oldest(
    listing: CaseListService, factory: Factory, clock: ManualClock, db: Database
) -> None:
    coordinator = await factory.coordinator()
    hw = await factory.health_worker()
    old_routine = await factory.case(hw, urgency="routine")
    clock.advance(timedelta(minutes=5))
    old_urgent = await factory.case(hw, urgency="urgent", status=CaseStatus.ACCEPTED)
    clock.advance(timedelta(minutes=5))
    new_urgent = await factory.case(hw, urgency="urgent", status=CaseStatus.OFFERED)
    emergency = await factory.case(hw, urgency="emergency", status=CaseStatus.REPORTED)
    for status in (CaseStatus.DRAFT, CaseStatus.CANCELLED, CaseStatus.ACKNOWLEDGED):
        await factory.case(hw, status=status)
    elsewhere = await factory.health_worker(district="Nashik")
    far = await factory.case(elsewhere, district="Nashik", urgency="emergency")

    listed = await listing.open_cases(coordinator.telegram_id)
    assert not isinstance(listed, Refusal)
    assert [c.id for c in listed] == [emergency, old_urgent, new_urgent, old_routine]

    boss = await admin(factory, district=None)
    everything = await listing.open_cases(boss.telegram_id)
    assert not isinstance(everything, Refusal)
    assert [c.id for c in everything][:2] == [emergency, far]
    assert "cases.list" in await audit_actions(db)


async def test_only_coordinators_and_admins(
    listing: CaseListService, factory: Factory, db: Database
) -> None:
    hw = await factory.health_worker()
    specialist = await factory.specialist()
    nowhere = await factory.coordinator(district=None)
    case_id = await factory.case(hw)
    for person in (hw, specialist, nowhere):
        refused = await listing.open_cases(person.telegram_id)
        assert refused == Refusal(RefusalReason.NOT_YOURS)
        refused = await listing.history(person.telegram_id, case_id)
        assert refused == Refusal(RefusalReason.NOT_YOURS)
    other = await factory.coordinator(district="Nashik")
    assert await listing.history(other.telegram_id, case_id) == Refusal(RefusalReason.NOT_YOURS)
    coordinator = await factory.coordinator()
    assert await listing.history(coordinator.telegram_id, 999_999) == Refusal(
        RefusalReason.UNKNOWN_CASE
    )
    actions = await audit_actions(db)
    assert "cases.list.refused" in actions
    assert "case.history.refused" in actions


async def test_history_tells_offers_declines_escalations_and_assignment(
    listing: CaseListService,
    factory: Factory,
    db: Database,
    clock: ManualClock,
    notifier: FakeNotifier,
    settings: Settings,
) -> None:
    timers = Timers(db, clock)
    offers = OfferService(db, clock, RosterService(db, clock), notifier, settings, timers=timers)
    escalator = Escalator(timers, offers)
    meera = await factory.specialist(name="Dr Meera")
    await always_on(db, clock, meera)
    coordinator = await factory.coordinator()
    hw = await factory.health_worker()
    case_id = await factory.case(hw, urgency="urgent")
    await offers.route(case_id)
    clock.advance(timedelta(minutes=1))
    assert (await offers.decline(meera.telegram_id, case_id, "busy")).outcome is (
        OfferOutcome.DECLINED
    )

    found = await listing.history(coordinator.telegram_id, case_id)
    assert isinstance(found, CaseHistory)
    assert found.assignable
    assert [(e.action, e.name, e.detail) for e in found.events] == [
        ("case.offer", "Dr Meera", None),
        ("case.decline", "Dr Meera", "busy"),
        ("case.escalate", None, "no_accept"),
    ]
    arjun = await factory.specialist(name="Dr Arjun")
    assigned = await offers.assign(coordinator.telegram_id, case_id, arjun.id)
    assert assigned.outcome is OfferOutcome.ASSIGNED
    found = await listing.history(coordinator.telegram_id, case_id)
    assert isinstance(found, CaseHistory)
    assert not found.assignable
    assert found.case.status is CaseStatus.ACCEPTED
    assert (found.events[-1].action, found.events[-1].name) == ("case.assign", "Dr Arjun")
    assert await escalator.tick() == 0
    assert "case.history" in await audit_actions(db)
