"""A health worker cancels their own submitted case before a report is signed.

One transaction under the case lock checks ownership and state, moves the case to
``cancelled`` (a legal move from submitted, offered, accepted and awaiting information,
``bot.cases.states``), cancels every timer of the case and records the reason in the audit
trail. After the commit: pending offers are withdrawn and their cards edited
(``OfferService.withdraw_all``), the specialist who had accepted it sees their card edited
the same way and is told why, and the case's study links are revoked. If the process dies
after the commit, the case is already cancelled: a pending offer's Accept is refused and
links to a cancelled case stop working a week later anyway.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable
from dataclasses import dataclass
from datetime import datetime
from typing import Protocol, TypeVar

from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession

from bot.accounts.directory import UserView, user_view
from bot.cases import states
from bot.cases.escalation import Timers
from bot.cases.offers import OfferService, OfferStatus
from bot.cases.ports import CaseNotifier, MessageRef, WithdrawReason
from bot.cases.refusals import Refusal, RefusalReason, lock_case
from bot.cases.views import CaseView, case_view
from bot.clock import Clock
from bot.domain import CaseStatus, Role, Status
from bot.security.capability_links import LinkService
from bot.storage import audit
from bot.storage.database import Database
from bot.storage.models import Case, Offer, Report, User

log = logging.getLogger(__name__)
T = TypeVar("T")

#: Why a health worker may cancel a case (stable codes, used in callback data).
CANCEL_REASONS = ("duplicate", "elsewhere", "recovered", "other")
#: States from which the health worker may still cancel.
CANCELLABLE = states.CANCELLABLE
#: The health worker's cases shown in their list: cancellable, or reported and unread.
LISTED = (*CANCELLABLE, CaseStatus.REPORTED)


class CancelNotifier(Protocol):
    async def case_cancelled(self, case: CaseView, specialist: UserView, reason: str) -> None:
        """Tell the specialist who had accepted the case that it was cancelled, and why."""
        ...


@dataclass(frozen=True)
class Cancelled:
    case: CaseView
    reason: str


@dataclass(frozen=True)
class _Accepted:
    specialist: UserView
    ref: MessageRef | None


class CancelService:
    def __init__(
        self,
        db: Database,
        clock: Clock,
        offers: OfferService,
        links: LinkService,
        notifier: CaseNotifier,
        cancel_notifier: CancelNotifier,
        timers: Timers,
    ) -> None:
        self.db = db
        self.clock = clock
        self.offers = offers
        self.links = links
        self.notifier = notifier
        self.cancel_notifier = cancel_notifier
        self.timers = timers

    async def own_cases(self, health_worker_telegram_id: int) -> list[CaseView]:
        """The health worker's open cases, oldest first (empty for anyone else)."""
        async with self.db.transaction() as session:
            user = await _health_worker(session, health_worker_telegram_id)
            if user is None:
                return []
            rows = await session.scalars(
                select(Case)
                .where(Case.health_worker_id == user.id, Case.status.in_(LISTED))
                .order_by(Case.submitted_at, Case.id)
            )
            return [case_view(c) for c in rows]

    async def check(self, health_worker_telegram_id: int, case_id: int) -> CaseView | Refusal:
        """Whether this person may cancel this case now (before asking for the reason)."""
        async with self.db.transaction() as session:
            case = await session.get(Case, case_id)
            refusal = await self._refusal(session, health_worker_telegram_id, case)
            if refusal is not None or case is None:
                return refusal or Refusal(RefusalReason.UNKNOWN_CASE)
            return case_view(case)

    async def cancel(
        self, health_worker_telegram_id: int, case_id: int, reason: str
    ) -> Cancelled | Refusal:
        """Cancel the case for ``reason`` (one of ``CANCEL_REASONS``); refusals change nothing."""
        now = self.clock.now()
        async with self.db.transaction() as session:
            case: Case | None = None
            refusal: Refusal | None = Refusal(RefusalReason.UNKNOWN_CASE)  # a forged button
            if reason in CANCEL_REASONS and await lock_case(session, case_id):
                case = await session.get(Case, case_id, populate_existing=True)
                refusal = await self._refusal(session, health_worker_telegram_id, case)
            if refusal is not None or case is None:
                refusal = refusal or Refusal(RefusalReason.UNKNOWN_CASE)
                audit.record(
                    session,
                    now,
                    "case.cancel.refused",
                    actor=health_worker_telegram_id,
                    subject=f"case:{case_id}",
                    reason=refusal.reason.value,
                )
                return refusal
            accepted = await self._move(session, case, now)
            await self.timers.cancel_in(session, case.id)
            audit.record(
                session,
                now,
                "case.cancel",
                actor=health_worker_telegram_id,
                subject=f"case:{case.id}",
                reason=reason,
            )
            await session.refresh(case)
            view = case_view(case)
        await self._after(view, accepted, reason)
        return Cancelled(view, reason)

    # -- inside the transaction -----------------------------------------------------------

    @staticmethod
    async def _refusal(
        session: AsyncSession, telegram_id: int, case: Case | None
    ) -> Refusal | None:
        if case is None or case.status == CaseStatus.DRAFT:
            return Refusal(RefusalReason.UNKNOWN_CASE)
        user = await _health_worker(session, telegram_id)
        if user is None or user.id != case.health_worker_id:
            return Refusal(RefusalReason.NOT_YOURS)
        if await session.scalar(select(Report.id).where(Report.case_id == case.id)) is not None:
            return Refusal(RefusalReason.ALREADY_REPORTED, case.code)
        if case.status not in CANCELLABLE:
            return Refusal(RefusalReason.NOT_OPEN, case.code)
        return None

    @staticmethod
    async def _move(session: AsyncSession, case: Case, now: datetime) -> _Accepted | None:
        """The case to ``cancelled``; returns the specialist who had accepted it, if any."""
        states.check(case.status, CaseStatus.CANCELLED)
        await session.execute(
            update(Case)
            .where(Case.id == case.id, Case.status == case.status)
            .values(status=CaseStatus.CANCELLED, updated_at=now)
            .execution_options(synchronize_session=False)
        )
        if case.specialist_id is None:
            return None
        specialist = await session.get(User, case.specialist_id)
        if specialist is None:
            return None
        offer = await session.scalar(
            select(Offer)
            .where(
                Offer.case_id == case.id,
                Offer.specialist_id == specialist.id,
                Offer.status == OfferStatus.ACCEPTED,
            )
            .order_by(Offer.id.desc())
            .limit(1)
        )
        ref = None
        if offer is not None and offer.chat_id is not None and offer.message_id is not None:
            ref = MessageRef(offer.chat_id, offer.message_id)
        return _Accepted(user_view(specialist), ref)

    # -- after the commit -----------------------------------------------------------------

    async def _after(self, case: CaseView, accepted: _Accepted | None, reason: str) -> None:
        """Offers withdrawn, the specialist told, links revoked; a failure undoes nothing."""
        await _quietly(self.offers.withdraw_all(case.id, WithdrawReason.CANCELLED))
        if accepted is not None:
            if accepted.ref is not None:
                await _quietly(
                    self.notifier.offer_withdrawn(
                        case, accepted.specialist, accepted.ref, WithdrawReason.CANCELLED
                    )
                )
            await _quietly(self.cancel_notifier.case_cancelled(case, accepted.specialist, reason))
        await _quietly(self.links.revoke_for_case(case.id, reason="case cancelled"))


async def _health_worker(session: AsyncSession, telegram_id: int) -> User | None:
    user = await session.scalar(select(User).where(User.telegram_id == telegram_id))
    if user is None or user.status != Status.ACTIVE or user.role != Role.HEALTH_WORKER:
        return None
    return user


async def _quietly(call: Awaitable[T]) -> T | None:
    try:
        return await call
    except Exception as exc:
        log.error("cancellation follow-up failed", extra={"error": type(exc).__name__})
        log.debug("cancellation failure detail", exc_info=True)
        return None
