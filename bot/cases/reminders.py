"""Reminders for reports nobody acknowledged: first the health worker, then coordinators.

A signed report on an emergency case (or one with an emergency referral) must be read at
once; an urgent one soon. When the health worker has not acknowledged it after the
urgency's delay they get one reminder; after a second delay the coordinators of the
case's district are alerted (case code and urgency only). Both steps are one durable
``report_reminder`` timer row each (``bot.cases.escalation``): claimed once across
processes, with the next step written in the claiming transaction; acknowledging
cancels it, and a timer that finds the report acknowledged does nothing.

The report service calls :class:`ReportReminders` as its ``ReportHooks``: the first step
is written in the signing transaction and cancelled in the acknowledging one, so a crash
can never leave a signed report without its reminder.
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
from bot.cases.refusals import lock_case
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

    async def signed(self, session: AsyncSession, case_id: int) -> None:
        """``ReportHooks``: the first reminder, in the signing transaction, when one is due."""
        await self._schedule_in(session, case_id)

    async def acknowledged(self, session: AsyncSession, case_id: int) -> None:
        """``ReportHooks``: the report was read, no more reminders."""
        await Timers.cancel_in(session, case_id, REPORT_REMINDER)

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
