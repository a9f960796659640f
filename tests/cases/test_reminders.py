"""Report reminders: the health worker once, then the coordinators; once; cancelled by ack."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

import pytest
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from bot.accounts.directory import Directory, UserView
from bot.cases.escalation import Escalator, Timers
from bot.cases.offers import OfferService
from bot.cases.refusals import Refusal
from bot.cases.reminders import (
    COORDINATORS,
    REPORT_REMINDER,
    WORKER,
    ReportReminders,
)
from bot.cases.reports import Acknowledged, Field, ReportPrompt, ReportService, Signed
from bot.cases.rosters import RosterService
from bot.cases.views import CaseView
from bot.clock import ManualClock
from bot.config import Settings
from bot.storage.database import Database
from bot.storage.models import Timer
from tests.cases.conftest import Factory, FakeNotifier
from tests.cases.factories_reports import Consultation, audit_actions, consultation, set_case

EMERGENCY, URGENT = timedelta(minutes=15), timedelta(minutes=120)


@dataclass
class FakeReminderNotifier:
    calls: list[tuple[str, Any]] = field(default_factory=list)

    async def remind_health_worker(self, case: CaseView, health_worker: UserView) -> None:
        self.calls.append((WORKER, (case.id, health_worker.id)))

    async def alert_coordinators(
        self, case: CaseView, coordinators: list[UserView], waited: timedelta
    ) -> None:
        self.calls.append((COORDINATORS, (case.id, tuple(c.id for c in coordinators), waited)))


@dataclass
class Rig:
    reminders: ReportReminders
    reports: ReportService
    escalator: Escalator
    sent: FakeReminderNotifier


@pytest.fixture
def rig(db: Database, clock: ManualClock, settings: Settings) -> Rig:
    timers = Timers(db, clock)
    sent = FakeReminderNotifier()
    reminders = ReportReminders(
        db, clock, timers, Directory(db, clock), sent, emergency=EMERGENCY, urgent=URGENT
    )
    offers = OfferService(db, clock, RosterService(db, clock), FakeNotifier(), settings)
    escalator = Escalator(timers, offers, fire={REPORT_REMINDER: reminders.fire})
    return Rig(reminders, ReportService(db, clock, hooks=reminders), escalator, sent)


async def sign(reports: ReportService, c: Consultation, referral: str = "none") -> Signed:
    tid = c.specialist.telegram_id
    assert isinstance(await reports.begin(tid, c.case_id), ReportPrompt)
    for text in ("Clear lungs.", "Normal study.", "Nothing to do."):
        await reports.answer(tid, text)
    await reports.choose(tid, Field.REFERRAL, referral)
    await reports.choose(tid, Field.FOLLOW_UP, "none")
    signed = await reports.sign(tid)
    assert isinstance(signed, Signed)
    return signed


async def reminder_timers(db: Database, case_id: int) -> list[Timer]:
    async with db.transaction() as session:
        return list(
            await session.scalars(
                select(Timer)
                .where(Timer.case_id == case_id, Timer.kind == REPORT_REMINDER)
                .order_by(Timer.id)
            )
        )


async def emergency_case(
    factory: Factory, db: Database, urgency: str = "emergency"
) -> Consultation:
    c = await consultation(factory)
    await set_case(db, c.case_id, urgency=urgency)
    return c


async def test_worker_is_reminded_once_then_coordinators_are_alerted(
    rig: Rig, factory: Factory, db: Database, clock: ManualClock
) -> None:
    coordinator = await factory.coordinator()
    await factory.coordinator(district="Nashik")  # another district hears nothing
    c = await emergency_case(factory, db)
    await sign(rig.reports, c)
    [timer] = await rig.reminders.timers.pending(c.case_id)
    assert timer.due_at == clock.now() + EMERGENCY

    clock.advance(EMERGENCY - timedelta(seconds=1))
    assert await rig.escalator.tick() == 0
    clock.advance(timedelta(seconds=1))
    assert await rig.escalator.tick() == 1
    assert rig.sent.calls == [(WORKER, (c.case_id, c.health_worker.id))]
    assert await rig.escalator.tick() == 0  # once

    clock.advance(EMERGENCY)
    assert await rig.escalator.tick() == 1
    assert rig.sent.calls[1] == (COORDINATORS, (c.case_id, (coordinator.id,), 2 * EMERGENCY))
    assert await rig.reminders.timers.pending(c.case_id) == []
    clock.advance(timedelta(days=1))
    assert await rig.escalator.tick() == 0
    assert len(rig.sent.calls) == 2
    actions = await audit_actions(db)
    assert {"report.reminder", "report.reminder_escalated"} <= set(actions)


async def test_acknowledging_cancels_the_reminders(
    rig: Rig, factory: Factory, db: Database, clock: ManualClock
) -> None:
    await factory.coordinator()
    c = await emergency_case(factory, db)
    await sign(rig.reports, c)
    clock.advance(EMERGENCY)
    assert await rig.escalator.tick() == 1  # the health worker was reminded
    done = await rig.reports.acknowledge(c.health_worker.telegram_id, c.case_id)
    assert isinstance(done, Acknowledged)
    assert await rig.reminders.timers.pending(c.case_id) == []
    clock.advance(timedelta(hours=5))
    assert await rig.escalator.tick() == 0
    assert [kind for kind, _ in rig.sent.calls] == [WORKER]


async def test_a_refused_acknowledgement_cancels_nothing(
    rig: Rig, factory: Factory, db: Database
) -> None:
    c = await emergency_case(factory, db)
    await sign(rig.reports, c)
    stranger = await factory.health_worker()
    assert isinstance(await rig.reports.acknowledge(stranger.telegram_id, c.case_id), Refusal)
    assert len(await rig.reminders.timers.pending(c.case_id)) == 1


async def test_a_timer_that_finds_the_report_acknowledged_does_nothing(
    rig: Rig, factory: Factory, db: Database, clock: ManualClock
) -> None:
    """Acknowledged by a process that did not cancel (e.g. it died right after)."""
    c = await emergency_case(factory, db)
    await sign(rig.reports, c)
    plain = ReportService(db, clock)
    assert isinstance(await plain.acknowledge(c.health_worker.telegram_id, c.case_id), Acknowledged)
    clock.advance(EMERGENCY)
    assert await rig.escalator.tick() == 1
    assert rig.sent.calls == []
    assert await rig.reminders.timers.pending(c.case_id) == []


async def test_delays_follow_urgency_and_referral(
    rig: Rig, factory: Factory, db: Database, clock: ManualClock
) -> None:
    urgent = await emergency_case(factory, db, urgency="urgent")
    await sign(rig.reports, urgent)
    [timer] = await rig.reminders.timers.pending(urgent.case_id)
    assert timer.due_at == clock.now() + URGENT

    routine = await emergency_case(factory, db, urgency="routine")
    await sign(rig.reports, routine)
    assert await rig.reminders.timers.pending(routine.case_id) == []

    referred = await emergency_case(factory, db, urgency="routine")
    await sign(rig.reports, referred, referral="emergency")
    [timer] = await rig.reminders.timers.pending(referred.case_id)
    assert timer.due_at == clock.now() + EMERGENCY


async def test_fires_once_with_several_processes(
    rig: Rig, factory: Factory, db: Database, clock: ManualClock, settings: Settings
) -> None:
    c = await emergency_case(factory, db)
    await sign(rig.reports, c)
    clock.advance(EMERGENCY)
    twins = [rig.escalator]
    for _ in range(2):
        timers = Timers(db, clock)
        reminders = ReportReminders(
            db, clock, timers, Directory(db, clock), rig.sent, emergency=EMERGENCY, urgent=URGENT
        )
        offers = OfferService(db, clock, RosterService(db, clock), FakeNotifier(), settings)
        twins.append(Escalator(timers, offers, fire={REPORT_REMINDER: reminders.fire}))
    fired = await asyncio.gather(*(e.tick() for e in twins))
    assert sum(fired) == 1
    assert rig.sent.calls == [(WORKER, (c.case_id, c.health_worker.id))]
    assert [t.payload["stage"] for t in await reminder_timers(db, c.case_id)] == [
        WORKER,
        COORDINATORS,
    ]


async def test_a_signature_and_its_reminder_commit_together(
    rig: Rig, factory: Factory, db: Database, clock: ManualClock
) -> None:
    class Failing:
        async def signed(self, session: AsyncSession, case_id: int) -> None:
            raise RuntimeError("disk full")

        async def acknowledged(self, session: AsyncSession, case_id: int) -> None:
            raise AssertionError("not reached")

    c = await emergency_case(factory, db)
    with pytest.raises(RuntimeError):
        await sign(ReportService(db, clock, hooks=Failing()), c)
    assert await reminder_timers(db, c.case_id) == []  # and the report is not signed either
    assert isinstance(await rig.reports.sign(c.specialist.telegram_id), Signed)
    assert len(await reminder_timers(db, c.case_id)) == 1
