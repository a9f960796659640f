"""Cancelling a submitted case: own cases only, before a report; offers withdrawn, the
specialist told, timers cancelled, links revoked, audited."""

from __future__ import annotations

from dataclasses import dataclass, field

import pytest
from redis.asyncio import Redis
from sqlalchemy import select

from bot.accounts.directory import UserView
from bot.cases import states
from bot.cases.cancel import Cancelled, CancelService
from bot.cases.escalation import Timers
from bot.cases.offers import OfferOutcome, OfferService, OfferStatus
from bot.cases.ports import WithdrawReason
from bot.cases.refusals import Refusal, RefusalReason
from bot.cases.rosters import RosterService
from bot.cases.views import CaseView
from bot.clock import ManualClock
from bot.config import Settings
from bot.domain import CaseStatus
from bot.security.capability_links import LinkService
from bot.security.keys import KeyRing
from bot.storage.database import Database
from bot.storage.kv import KeyValue
from bot.storage.models import AuditEvent, Link, Offer, Report
from tests.cases.conftest import Factory, FakeNotifier
from tests.cases.factories_reports import case_row, consultation, set_case
from tests.cases.test_escalation import always_on


@dataclass
class FakeCancelNotifier:
    calls: list[tuple[int, int, str]] = field(default_factory=list)

    async def case_cancelled(self, case: CaseView, specialist: UserView, reason: str) -> None:
        self.calls.append((case.id, specialist.id, reason))


@dataclass
class Rig:
    service: CancelService
    offers: OfferService
    links: LinkService
    told: FakeCancelNotifier
    timers: Timers


@pytest.fixture
def rig(
    db: Database, clock: ManualClock, notifier: FakeNotifier, settings: Settings, redis: Redis
) -> Rig:
    timers = Timers(db, clock)
    offers = OfferService(db, clock, RosterService(db, clock), notifier, settings, timers=timers)
    links = LinkService(db, clock, KeyRing.generate(), KeyValue(redis))
    told = FakeCancelNotifier()
    service = CancelService(db, clock, offers, links, notifier, told, timers)
    return Rig(service, offers, links, told, timers)


async def offers_of(db: Database, case_id: int) -> list[Offer]:
    async with db.transaction() as session:
        return list(await session.scalars(select(Offer).where(Offer.case_id == case_id)))


async def test_a_pending_offer_is_withdrawn_and_its_timer_cancelled(
    rig: Rig, factory: Factory, db: Database, clock: ManualClock, notifier: FakeNotifier
) -> None:
    meera = await factory.specialist()
    await always_on(db, clock, meera)
    hw = await factory.health_worker()
    case_id = await factory.case(hw, urgency="urgent")
    await rig.offers.route(case_id)
    assert await rig.timers.pending(case_id)

    assert (await rig.service.own_cases(hw.telegram_id))[0].id == case_id
    done = await rig.service.cancel(hw.telegram_id, case_id, "duplicate")
    assert isinstance(done, Cancelled)
    assert done.case.status is CaseStatus.CANCELLED
    assert (await case_row(db, case_id)).status == CaseStatus.CANCELLED
    assert [o.status for o in await offers_of(db, case_id)] == [OfferStatus.WITHDRAWN]
    [(wcase, wuser, _ref, reason)] = notifier.of("withdrawn")
    assert (wcase, wuser, reason) == (case_id, meera.id, WithdrawReason.CANCELLED)
    assert await rig.timers.pending(case_id) == []
    assert rig.told.calls == []  # nobody had accepted it
    late = await rig.offers.accept(meera.telegram_id, case_id)
    assert late.outcome is not OfferOutcome.ACCEPTED
    assert await rig.service.own_cases(hw.telegram_id) == []
    async with db.transaction() as session:
        row = await session.scalar(select(AuditEvent).where(AuditEvent.action == "case.cancel"))
    assert row is not None
    assert (row.actor_telegram_id, row.details) == (hw.telegram_id, {"reason": "duplicate"})


async def test_an_accepted_case_tells_the_specialist_and_revokes_links(
    rig: Rig, factory: Factory, db: Database, notifier: FakeNotifier
) -> None:
    c = await consultation(factory)
    async with db.transaction() as session:
        session.add(
            Offer(
                case_id=c.case_id,
                specialist_id=c.specialist.id,
                status=OfferStatus.ACCEPTED,
                offered_at=factory.clock.now(),
                chat_id=c.specialist.telegram_id,
                message_id=77,
            )
        )
    issued = await rig.links.issue(c.case_id, c.specialist.id)
    done = await rig.service.cancel(c.health_worker.telegram_id, c.case_id, "recovered")
    assert isinstance(done, Cancelled)
    assert rig.told.calls == [(c.case_id, c.specialist.id, "recovered")]
    [(_case, user, ref, reason)] = notifier.of("withdrawn")
    assert (user, ref.message_id, reason) == (c.specialist.id, 77, WithdrawReason.CANCELLED)
    async with db.transaction() as session:
        link = await session.get(Link, issued.link_id)
    assert link is not None and link.revoked_at is not None


async def test_refusals_change_nothing(rig: Rig, factory: Factory, db: Database) -> None:
    c = await consultation(factory, status=CaseStatus.REPORTED)
    hw = c.health_worker
    other = await factory.health_worker()
    open_case = await factory.case(hw)
    cases: list[tuple[int, int, str, RefusalReason]] = [
        (other.telegram_id, open_case, "other", RefusalReason.NOT_YOURS),
        (c.specialist.telegram_id, open_case, "other", RefusalReason.NOT_YOURS),
        (hw.telegram_id, 999_999, "other", RefusalReason.UNKNOWN_CASE),
        (hw.telegram_id, open_case, "bored", RefusalReason.UNKNOWN_CASE),
        (hw.telegram_id, c.case_id, "other", RefusalReason.NOT_OPEN),
    ]
    for actor, case_id, reason, expected in cases:
        refused = await rig.service.cancel(actor, case_id, reason)
        assert isinstance(refused, Refusal) and refused.reason is expected, (actor, expected)
    # A signed report: too late to cancel.
    async with db.transaction() as session:
        session.add(
            Report(
                case_id=c.case_id,
                specialist_id=c.specialist.id,
                findings="f",
                impression="i",
                advice="a",
                referral="none",
                signed_name="Dr",
                signed_registration="R",
                signed_at=factory.clock.now(),
            )
        )
    refused = await rig.service.check(hw.telegram_id, c.case_id)
    assert isinstance(refused, Refusal) and refused.reason is RefusalReason.ALREADY_REPORTED
    await set_case(db, open_case, status=CaseStatus.CANCELLED)
    again = await rig.service.cancel(hw.telegram_id, open_case, "other")
    assert isinstance(again, Refusal) and again.reason is RefusalReason.NOT_OPEN
    assert (await case_row(db, c.case_id)).status == CaseStatus.REPORTED
    async with db.transaction() as session:
        refusals = (
            await session.scalars(
                select(AuditEvent.action).where(AuditEvent.action == "case.cancel.refused")
            )
        ).all()
    assert len(refusals) == 6


def test_cancellable_states_can_legally_become_cancelled() -> None:
    for state in states.CANCELLABLE:
        states.check(state, CaseStatus.CANCELLED)
    assert CaseStatus.REPORTED not in states.CANCELLABLE
