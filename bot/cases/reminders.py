"""Reminders for reports nobody acknowledged: first the health worker, then coordinators.

A signed report on an emergency case (or one with an emergency referral) must be read at
once; an urgent one soon. When the health worker has not acknowledged it after the
urgency's delay they get one reminder; after a second delay the coordinators of the
case's district are alerted (case code and urgency only). Both steps are one durable
``report_reminder`` timer row each (``bot.cases.escalation``): claimed once across
processes, with the next step written in the claiming transaction; acknowledging
cancels it, and a timer that finds the report acknowledged does nothing.

Signing schedules the first step right after its own commit; ``ensure_scheduled`` (run at
start-up) catches reports whose process died in between.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Protocol, TypeVar

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from bot.accounts.directory import Directory, UserView, user_view
from bot.cases.escalation import Timers
from bot.cases.refusals import Refusal, lock_case
from bot.cases.reports import Acknowledged, ReportService, Signed
from bot.cases.views import CaseView, case_view
from bot.clock import Clock
from bot.domain import CaseStatus, Referral, Urgency
from bot.storage import audit
from bot.storage.database import Database
from bot.storage.models import Case, Report, Timer, User

log = logging.getLogger(__name__)
T = TypeVar("T")

REPORT_REMINDER = "report_reminder"
#: Timer payload ``stage``: remind the health worker, then alert the coordinators.
WORKER, COORDINATORS = "worker", "coordinators"
#: Reports signed longer ago than this are not picked up by the start-up sweep.
SWEEP_WINDOW = timedelta(days=1)


class ReminderNotifier(Protocol):
    """What reminders need from the chat side (the handler layer implements it)."""

    async def remind_health_worker(self, case: CaseView, health_worker: UserView) -> None:
        """Remind the health worker to read and acknowledge the report (with the button)."""
        ...

    async def alert_coordinators(
        self, case: CaseView, coordinators: list[UserView], waited: timedelta
    ) -> None:
        """Tell coordinators the report has gone unacknowledged for ``waited``."""
        ...


@dataclass(frozen=True)
class _Effect:
    case: CaseView
    stage: str
    health_worker: UserView
    waited: timedelta


class ReportReminders:
    """Schedules, cancels and fires the reminders of unacknowledged reports."""

    def __init__(
        self,
        db: Database,
        clock: Clock,
        timers: Timers,
        directory: Directory,
        notifier: ReminderNotifier,
        *,
        emergency: timedelta,
        urgent: timedelta,
    ) -> None:
        self.db = db
        self.clock = clock
        self.timers = timers
        self.directory = directory
        self.notifier = notifier
        self.delays = {Urgency.EMERGENCY: emergency, Urgency.URGENT: urgent}

    def delay_for(self, urgency: str | None, referral: str | None) -> timedelta | None:
        """The wait before each step: the case's urgency or the report's referral, whichever
        is more pressing; None for routine reports (no reminder)."""
        levels = {urgency, referral}
        if Urgency.EMERGENCY in levels or Referral.EMERGENCY in levels:
            return self.delays[Urgency.EMERGENCY]
        if Urgency.URGENT in levels or Referral.URGENT in levels:
            return self.delays[Urgency.URGENT]
        return None

    async def schedule(self, case_id: int) -> bool:
        """After signing: the first reminder, once per case; False when none is needed."""
        async with self.db.transaction() as session:
            if not await lock_case(session, case_id):
                return False
            return await self._schedule_in(session, case_id)

    async def cancel(self, case_id: int) -> int:
        """The report was acknowledged: no more reminders. Returns how many were cancelled."""
        return await self.timers.cancel(case_id, REPORT_REMINDER)

    async def ensure_scheduled(self) -> int:
        """At start-up: schedule reminders for recent reports signed just before a crash."""
        since = self.clock.now() - SWEEP_WINDOW
        async with self.db.transaction() as session:
            case_ids = list(
                (
                    await session.scalars(
                        select(Case.id).where(
                            Case.status == CaseStatus.REPORTED,
                            Case.reported_at >= since,
                        )
                    )
                ).all()
            )
        scheduled = 0
        for case_id in case_ids:
            scheduled += await self.schedule(case_id)
        return scheduled

    async def fire(self, timer_id: int, case_id: int | None, now: datetime) -> bool:
        """Claim and handle one reminder timer; False if another process claimed it."""
        effect: _Effect | None = None
        async with self.db.transaction() as session:
            if case_id is not None:
                await lock_case(session, case_id)
            timer = await self.timers.claim_in(session, timer_id, now)
            if timer is None:
                return False
            if timer.case_id is not None:
                effect = await self._step(session, timer, now)
        if effect is not None:
            await self._deliver(effect)
        return True

    # -- inside a transaction ------------------------------------------------------------

    async def _schedule_in(self, session: AsyncSession, case_id: int) -> bool:
        found = await _unacknowledged(session, case_id)
        if found is None:
            return False
        case, report = found
        delay = self.delay_for(case.urgency, report.referral)
        if delay is None:
            return False
        existing = await session.scalar(
            select(func.count())
            .select_from(Timer)
            .where(Timer.case_id == case_id, Timer.kind == REPORT_REMINDER)
        )
        if existing:
            return False
        signed = case.reported_at or self.clock.now()
        self.timers.add(session, REPORT_REMINDER, case_id, signed + delay, {"stage": WORKER})
        return True

    async def _step(self, session: AsyncSession, timer: Timer, now: datetime) -> _Effect | None:
        assert timer.case_id is not None
        found = await _unacknowledged(session, timer.case_id)
        if found is None:  # acknowledged (or closed) meanwhile: nothing to remind
            return None
        case, report = found
        delay = self.delay_for(case.urgency, report.referral)
        worker = await session.get(User, case.health_worker_id)
        if delay is None or worker is None:
            return None
        stage = (timer.payload or {}).get("stage", WORKER)
        subject = f"case:{case.id}"
        if stage == WORKER:
            self.timers.add(session, REPORT_REMINDER, case.id, now + delay, {"stage": COORDINATORS})
            audit.record(session, now, "report.reminder", subject=subject)
        else:
            audit.record(session, now, "report.reminder_escalated", subject=subject)
        waited = now - (case.reported_at or now)
        return _Effect(case_view(case), stage, user_view(worker), waited)

    # -- after the commit -----------------------------------------------------------------

    async def _deliver(self, effect: _Effect) -> None:
        if effect.stage == WORKER:
            await _quietly(self.notifier.remind_health_worker(effect.case, effect.health_worker))
            return
        coordinators = [
            u for u in await self.directory.approvers_for(effect.case.district) if u.reachable
        ]
        await _quietly(self.notifier.alert_coordinators(effect.case, coordinators, effect.waited))


class RemindingReportService(ReportService):
    """The report service whose signing schedules reminders and whose acknowledgement
    cancels them (composed in ``bot.app``; the report rules themselves are unchanged)."""

    def __init__(self, db: Database, clock: Clock, reminders: ReportReminders) -> None:
        super().__init__(db, clock)
        self.reminders = reminders

    async def sign(self, specialist_telegram_id: int) -> Signed | Refusal:
        signed = await super().sign(specialist_telegram_id)
        if isinstance(signed, Signed):
            await _quietly(self.reminders.schedule(signed.case.id))
        return signed

    async def acknowledge(
        self, health_worker_telegram_id: int, case_id: int
    ) -> Acknowledged | Refusal:
        done = await super().acknowledge(health_worker_telegram_id, case_id)
        if isinstance(done, Acknowledged):
            await _quietly(self.reminders.cancel(case_id))
        return done


async def _unacknowledged(session: AsyncSession, case_id: int) -> tuple[Case, Report] | None:
    """The case and its report while the report waits for acknowledgement, else None."""
    case = await session.get(Case, case_id, populate_existing=True)
    if case is None or case.status != CaseStatus.REPORTED:
        return None
    report = await session.scalar(select(Report).where(Report.case_id == case_id))
    if report is None or report.acknowledged_at is not None:
        return None
    return case, report


async def _quietly(call: Awaitable[T]) -> T | None:
    """Await a follow-up; log a failure (ids only) instead of undoing what committed."""
    try:
        return await call
    except Exception as exc:
        log.error("report reminder step failed", extra={"error": type(exc).__name__})
        log.debug("reminder failure detail", exc_info=True)
        return None
