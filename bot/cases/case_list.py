"""The coordinator's view of the district: open cases, and one case's history.

Coordinators see the cases of their own district, administrators every district. Nothing
here carries patient identifiers: cases are ``CaseView`` (code, age, sex, clinical text)
and the history names only the specialists and coordinators involved. Every list and
every read of a case is audited, refusals too.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from bot.accounts.access import may_see_case
from bot.cases import states
from bot.cases.refusals import Refusal, RefusalReason
from bot.cases.views import CaseView, case_view
from bot.clock import Clock
from bot.domain import APPROVERS, CaseStatus, Role, Status, Urgency
from bot.storage import audit
from bot.storage.database import Database
from bot.storage.models import AuditEvent, Case, User

#: Cases still needing someone: waiting, being worked on, or reported but unacknowledged.
OPEN = (
    CaseStatus.SUBMITTED,
    CaseStatus.OFFERED,
    CaseStatus.ACCEPTED,
    CaseStatus.AWAITING_INFO,
    CaseStatus.REPORTED,
)
#: The audit actions that make up a case's history (in ``CaseEvent.action``).
HISTORY_ACTIONS = (
    "case.submit",
    "case.offer",
    "case.decline",
    "case.offer_expired",
    "case.accept",
    "case.assign",
    "case.escalate",
    "case.reported",
    "report.acknowledge",
    "case.cancel",
)
_URGENCY_RANK = {Urgency.EMERGENCY: 0, Urgency.URGENT: 1, Urgency.ROUTINE: 2}
#: More open cases than this in one district are not listed (the oldest, most urgent are).
MAX_LISTED = 500


@dataclass(frozen=True)
class CaseEvent:
    """One step of a case: ``name`` is the specialist concerned, ``detail`` a reason code."""

    at: datetime
    action: str
    name: str | None = None
    detail: str | None = None


@dataclass(frozen=True)
class CaseHistory:
    case: CaseView
    events: tuple[CaseEvent, ...]
    assignable: bool  # still waiting for a specialist: a coordinator may assign it


def priority(case: CaseView) -> tuple[int, float, int]:
    """Most urgent first, then the longest waiting."""
    rank = _URGENCY_RANK.get(case.urgency or Urgency.ROUTINE, 2)
    since = case.submitted_at.timestamp() if case.submitted_at else float("inf")
    return rank, since, case.id


class CaseListService:
    def __init__(self, db: Database, clock: Clock) -> None:
        self.db = db
        self.clock = clock

    async def open_cases(self, viewer_telegram_id: int) -> list[CaseView] | Refusal:
        """The viewer's district's open cases, most urgent and oldest first."""
        now = self.clock.now()
        async with self.db.transaction() as session:
            viewer = await _approver(session, viewer_telegram_id)
            if viewer is None or (viewer.role == Role.COORDINATOR and not viewer.district):
                audit.record(
                    session, now, "cases.list.refused", actor=viewer_telegram_id, reason="role"
                )
                return Refusal(RefusalReason.NOT_YOURS)
            query = select(Case).where(Case.status.in_(OPEN))
            if viewer.role != Role.ADMIN:
                query = query.where(Case.district == viewer.district)
            rows = await session.scalars(query.order_by(Case.submitted_at, Case.id))
            cases = sorted((case_view(c) for c in rows), key=priority)[:MAX_LISTED]
            audit.record(session, now, "cases.list", actor=viewer_telegram_id, count=len(cases))
            return cases

    async def history(self, viewer_telegram_id: int, case_id: int) -> CaseHistory | Refusal:
        """One case with what happened to it, for a coordinator of its district or an admin."""
        now = self.clock.now()
        async with self.db.transaction() as session:
            case = await session.get(Case, case_id)
            viewer = await _approver(session, viewer_telegram_id)
            refusal = None
            if case is None:
                refusal = Refusal(RefusalReason.UNKNOWN_CASE)
            elif viewer is None or not may_see_case(viewer, case):
                refusal = Refusal(RefusalReason.NOT_YOURS)
            if refusal is not None or case is None:
                audit.record(
                    session,
                    now,
                    "case.history.refused",
                    actor=viewer_telegram_id,
                    subject=f"case:{case_id}",
                    reason=refusal.reason.value if refusal else "",
                )
                return refusal or Refusal(RefusalReason.UNKNOWN_CASE)
            events = await _events(session, case.id)
            audit.record(session, now, "case.history", actor=viewer_telegram_id, subject=_s(case))
            view = case_view(case)
            assignable = view.status in states.WAITING and view.specialist_id is None
            return CaseHistory(view, events, assignable)


async def _approver(session: AsyncSession, telegram_id: int) -> User | None:
    user = await session.scalar(select(User).where(User.telegram_id == telegram_id))
    if user is None or user.status != Status.ACTIVE or user.role not in APPROVERS:
        return None
    return user


async def _events(session: AsyncSession, case_id: int) -> tuple[CaseEvent, ...]:
    rows = (
        await session.scalars(
            select(AuditEvent)
            .where(AuditEvent.subject == f"case:{case_id}", AuditEvent.action.in_(HISTORY_ACTIONS))
            .order_by(AuditEvent.at, AuditEvent.id)
        )
    ).all()
    user_ids = {int(r.details["specialist_id"]) for r in rows if _has(r.details, "specialist_id")}
    telegram_ids = {r.actor_telegram_id for r in rows if r.action == "case.decline"}
    names: dict[tuple[str, int], str] = {}
    if user_ids or telegram_ids:
        people = await session.scalars(
            select(User).where((User.id.in_(user_ids)) | (User.telegram_id.in_(telegram_ids)))
        )
        for person in people:
            names[("id", person.id)] = person.full_name
            names[("tg", person.telegram_id)] = person.full_name
    events = []
    for row in rows:
        details = row.details or {}
        name = None
        if _has(details, "specialist_id"):
            name = names.get(("id", int(details["specialist_id"])))
        elif row.action == "case.decline" and row.actor_telegram_id is not None:
            name = names.get(("tg", row.actor_telegram_id))
        reason = details.get("reason")
        events.append(CaseEvent(row.at, row.action, name, str(reason) if reason else None))
    return tuple(events)


def _has(details: dict[str, Any] | None, key: str) -> bool:
    return bool(details) and details.get(key) is not None  # type: ignore[union-attr]


def _s(case: Case) -> str:
    return f"case:{case.id}"
