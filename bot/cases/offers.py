"""Offers: a submitted case goes to on-call specialists; the first accept wins.

Every change happens in one transaction that first locks the case row (a no-op UPDATE:
a row lock on PostgreSQL, the write lock on SQLite), so routing, accepts, declines and
timers of one case never interleave; lock order is always case → offers → timers.
Offer rows and the next timer are written before any message goes out; messages are sent
after the commit, and the message references are stored afterwards.

State decisions:

- Nobody on call at submission: the case stays ``submitted`` (nobody was offered it),
  the health worker is told, coordinators are alerted (``NOBODY_ON_CALL``) and a
  ``reroute`` timer looks at the roster again every ``reroute_after``; those retries are
  silent until someone is offered the case.
- Everyone on call declined or let it expire: the case stays ``offered`` with no pending
  offer, coordinators are alerted (``NO_ACCEPT``), ``escalation_level`` goes up by one and
  the same ``reroute`` timer keeps looking for someone newly on call.
- A coordinator may assign a ``submitted`` case: it passes through ``offered`` (an offer
  row records the assignment) to ``accepted`` within one transaction.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from enum import StrEnum
from typing import TypeAlias, TypeVar

from sqlalchemy import func, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from bot.accounts.directory import Directory, UserView, user_view
from bot.cases import routing, states
from bot.cases.escalation import OFFER_TIMEOUT, REROUTE, ROUTE, Timers
from bot.cases.ports import CaseNotifier, EscalationReason, MessageRef, Queued, WithdrawReason
from bot.cases.rosters import RosterService
from bot.cases.views import CaseView, case_view
from bot.clock import Clock
from bot.config import Settings
from bot.domain import APPROVERS, CaseStatus, Role, Status, Urgency
from bot.storage import audit
from bot.storage.database import Database
from bot.storage.models import Case, Offer, User

log = logging.getLogger(__name__)
T = TypeVar("T")


class OfferStatus(StrEnum):
    PENDING = "pending"
    ACCEPTED = "accepted"  # also: assigned by a coordinator
    DECLINED = "declined"
    WITHDRAWN = "withdrawn"  # someone else took the case, or it was cancelled
    EXPIRED = "expired"  # not answered in time
    UNDELIVERED = "undelivered"  # the message could not be sent


class OfferOutcome(StrEnum):
    ACCEPTED = "accepted"
    ASSIGNED = "assigned"
    DECLINED = "declined"
    ALREADY_TAKEN = "already_taken"  # another specialist accepted first
    NOT_OFFERED = "not_offered"  # never offered to this person, or the offer is stale
    NOT_ALLOWED = "not_allowed"  # wrong role, inactive, or another district
    CASE_CLOSED = "case_closed"  # no longer waiting for a specialist
    INVALID = "invalid"  # unknown case, specialist or decline reason


#: Reasons a specialist may give for declining.
DECLINE_REASONS = frozenset({"busy", "not_my_specialty", "need_more_info", "other"})


@dataclass(frozen=True)
class OfferResult:
    """What happened; ``case`` is set only for people entitled to see it."""

    outcome: OfferOutcome
    case: CaseView | None = None


AcceptResult: TypeAlias = OfferResult
DeclineResult: TypeAlias = OfferResult
AssignResult: TypeAlias = OfferResult


@dataclass(frozen=True)
class RouteResult:
    offered: tuple[UserView, ...] = ()
    escalated: EscalationReason | None = None


@dataclass
class _Effects:
    """Messages to send once the transaction has committed."""

    case: CaseView | None = None
    offers: list[tuple[int, UserView]] = field(default_factory=list)
    withdrawn: list[tuple[UserView, MessageRef, WithdrawReason]] = field(default_factory=list)
    accepted: tuple[UserView, UserView] | None = None  # specialist, health worker
    escalation: EscalationReason | None = None
    nobody_on_call: UserView | None = None  # the health worker

    def merge(self, other: _Effects) -> _Effects:
        self.case = other.case or self.case
        self.offers += other.offers
        self.withdrawn += other.withdrawn
        self.accepted = other.accepted or self.accepted
        self.escalation = other.escalation or self.escalation
        self.nobody_on_call = other.nobody_on_call or self.nobody_on_call
        return self


def _ref(offer: Offer) -> MessageRef | None:
    if offer.chat_id is None or offer.message_id is None:
        return None
    return MessageRef(offer.chat_id, offer.message_id)


class OfferService:
    """Routes cases to specialists and settles accepts, declines and assignments."""

    def __init__(
        self,
        db: Database,
        clock: Clock,
        rosters: RosterService,
        notifier: CaseNotifier,
        settings: Settings,
        *,
        timers: Timers | None = None,
        reroute_after: timedelta = timedelta(minutes=15),
    ) -> None:
        self.db = db
        self.clock = clock
        self.rosters = rosters
        self.notifier = notifier
        self.settings = settings
        self.timers = timers or Timers(db, clock)
        self.reroute_after = reroute_after
        self.directory = Directory(db, clock)

    def timeout_for(self, urgency: Urgency | str | None) -> timedelta:
        """How long an offer waits for an answer, by the case's urgency."""
        minutes = {
            Urgency.EMERGENCY: self.settings.escalation_emergency_minutes,
            Urgency.URGENT: self.settings.escalation_urgent_minutes,
            Urgency.ROUTINE: self.settings.escalation_routine_minutes,
        }
        return timedelta(minutes=minutes[Urgency(urgency) if urgency else Urgency.ROUTINE])

    # -- public API -----------------------------------------------------------------

    async def route(self, case_id: int) -> RouteResult:
        """Offer a just-submitted (or waiting) case to the best on-call specialist(s).

        Does nothing while the case has a pending offer or is no longer waiting.
        """
        now = self.clock.now()
        async with self.db.transaction() as session:
            if not await self._lock_case(session, case_id):
                return RouteResult()
            effects = await self._plan_route(session, case_id, now, escalate=True)
        await self._deliver(effects)
        return RouteResult(tuple(u for _, u in effects.offers), effects.escalation)

    async def accept(self, specialist_telegram_id: int, case_id: int) -> AcceptResult:
        """First accept wins; a repeated tap by the winner is ``accepted`` again, no effects."""
        now = self.clock.now()
        async with self.db.transaction() as session:
            user = await self._active(session, specialist_telegram_id, {Role.SPECIALIST})
            if user is None:
                return OfferResult(OfferOutcome.NOT_ALLOWED)
            if not await self._lock_case(session, case_id):
                return OfferResult(OfferOutcome.NOT_OFFERED)
            case = await self._case(session, case_id)
            offer = await self._latest_offer(session, case_id, user.id)
            if offer is None:
                return OfferResult(OfferOutcome.NOT_OFFERED)
            view = case_view(case)
            if case.specialist_id == user.id:
                return OfferResult(OfferOutcome.ACCEPTED, view)
            if case.specialist_id is not None:
                return OfferResult(OfferOutcome.ALREADY_TAKEN, view)
            if case.status not in states.WAITING:
                return OfferResult(OfferOutcome.CASE_CLOSED, view)
            if offer.status != OfferStatus.PENDING:
                return OfferResult(OfferOutcome.NOT_OFFERED, view)
            if not await self._take(session, case, from_states={CaseStatus.OFFERED}, user=user):
                await session.refresh(case)
                return OfferResult(OfferOutcome.ALREADY_TAKEN, case_view(case))
            effects = await self._settle(session, case, user, offer, now, action="case.accept")
        await self._deliver(effects)
        return OfferResult(OfferOutcome.ACCEPTED, effects.case)

    async def decline(
        self, specialist_telegram_id: int, case_id: int, reason: str
    ) -> DeclineResult:
        """Decline an offer; with no other pending offer the next candidate gets it now."""
        if reason not in DECLINE_REASONS:
            return OfferResult(OfferOutcome.INVALID)
        now = self.clock.now()
        async with self.db.transaction() as session:
            user = await self._active(session, specialist_telegram_id, {Role.SPECIALIST})
            if user is None:
                return OfferResult(OfferOutcome.NOT_ALLOWED)
            if not await self._lock_case(session, case_id):
                return OfferResult(OfferOutcome.NOT_OFFERED)
            case = await self._case(session, case_id)
            offer = await self._latest_offer(session, case_id, user.id)
            if offer is None:
                return OfferResult(OfferOutcome.NOT_OFFERED)
            view = case_view(case)
            if offer.status == OfferStatus.DECLINED:
                return OfferResult(OfferOutcome.DECLINED, view)
            if case.specialist_id == user.id:  # a stale card of a case they already have
                return OfferResult(OfferOutcome.NOT_OFFERED, view)
            if case.specialist_id is not None and case.specialist_id != user.id:
                return OfferResult(OfferOutcome.ALREADY_TAKEN, view)
            if case.status not in states.WAITING:
                return OfferResult(OfferOutcome.CASE_CLOSED, view)
            if offer.status != OfferStatus.PENDING:
                return OfferResult(OfferOutcome.NOT_OFFERED, view)
            offer.status = OfferStatus.DECLINED
            offer.decided_at = now
            offer.decline_reason = reason
            audit.record(
                session,
                now,
                "case.decline",
                actor=specialist_telegram_id,
                subject=f"case:{case_id}",
                reason=reason,
            )
            await session.flush()
            effects = await self._plan_route(session, case_id, now, escalate=True)
            effects.case = effects.case or view
        await self._deliver(effects)
        return OfferResult(OfferOutcome.DECLINED, effects.case)

    async def assign(
        self, coordinator_telegram_id: int, case_id: int, specialist_user_id: int
    ) -> AssignResult:
        """A coordinator of the case's district (or an admin) assigns a specialist by hand."""
        now = self.clock.now()
        async with self.db.transaction() as session:
            boss = await self._active(session, coordinator_telegram_id, set(APPROVERS))
            if boss is None:
                return OfferResult(OfferOutcome.NOT_ALLOWED)
            if not await self._lock_case(session, case_id):
                return OfferResult(OfferOutcome.INVALID)
            case = await self._case(session, case_id)
            if boss.role != Role.ADMIN and boss.district != case.district:
                return OfferResult(OfferOutcome.NOT_ALLOWED)
            view = case_view(case)
            specialist = await session.get(User, specialist_user_id)
            if (
                specialist is None
                or specialist.role != Role.SPECIALIST
                or specialist.status != Status.ACTIVE
            ):
                return OfferResult(OfferOutcome.INVALID, view)
            if case.specialist_id == specialist.id:
                return OfferResult(OfferOutcome.ASSIGNED, view)
            if case.specialist_id is not None:
                return OfferResult(OfferOutcome.ALREADY_TAKEN, view)
            if case.status not in states.WAITING:
                return OfferResult(OfferOutcome.CASE_CLOSED, view)
            offer = await self._latest_offer(session, case_id, specialist.id)
            if offer is None or offer.status != OfferStatus.PENDING:
                offer = Offer(
                    case_id=case_id,
                    specialist_id=specialist.id,
                    status=OfferStatus.PENDING,
                    offered_at=now,
                )
                session.add(offer)
                await session.flush()
            if not await self._take(
                session, case, from_states=set(states.WAITING), user=specialist
            ):
                await session.refresh(case)
                return OfferResult(OfferOutcome.ALREADY_TAKEN, case_view(case))
            effects = await self._settle(
                session,
                case,
                specialist,
                offer,
                now,
                action="case.assign",
                actor=coordinator_telegram_id,
            )
            if offer.chat_id is None:  # the specialist has no card for this case yet
                effects.offers.append((offer.id, user_view(specialist)))
        await self._deliver(effects)
        return OfferResult(OfferOutcome.ASSIGNED, effects.case)

    async def withdraw_all(
        self, case_id: int, reason: WithdrawReason = WithdrawReason.CANCELLED
    ) -> int:
        """Withdraw every pending offer of a case and cancel its timers (e.g. once the
        case was cancelled); edits the offer messages. Returns how many were withdrawn."""
        now = self.clock.now()
        async with self.db.transaction() as session:
            if not await self._lock_case(session, case_id):
                return 0
            case = await self._case(session, case_id)
            effects = _Effects(case=case_view(case))
            pending = (
                await session.scalars(
                    select(Offer).where(
                        Offer.case_id == case_id, Offer.status == OfferStatus.PENDING
                    )
                )
            ).all()
            for offer in pending:
                offer.status = OfferStatus.WITHDRAWN
                offer.decided_at = now
                holder = await session.get(User, offer.specialist_id)
                ref = _ref(offer)
                if ref is not None and holder is not None:
                    effects.withdrawn.append((user_view(holder), ref, reason))
            await self.timers.cancel_in(session, case_id)
            if pending:
                audit.record(
                    session,
                    now,
                    "case.offers_withdrawn",
                    subject=f"case:{case_id}",
                    reason=str(reason),
                )
        await self._deliver(effects)
        return len(pending)

    async def open_cases(self, specialist_telegram_id: int) -> list[CaseView]:
        """The specialist's accepted cases and those awaiting information, oldest first."""
        async with self.db.transaction() as session:
            user = await self._active(session, specialist_telegram_id, {Role.SPECIALIST})
            if user is None:
                return []
            rows = await session.scalars(
                select(Case)
                .where(
                    Case.specialist_id == user.id,
                    Case.status.in_(states.OPEN_FOR_SPECIALIST),
                )
                .order_by(Case.submitted_at, Case.id)
            )
            return [case_view(c) for c in rows]

    async def pending_offers(self, specialist_telegram_id: int) -> list[CaseView]:
        """Cases currently offered to the specialist and not yet answered, oldest first."""
        async with self.db.transaction() as session:
            user = await self._active(session, specialist_telegram_id, {Role.SPECIALIST})
            if user is None:
                return []
            rows = await session.scalars(
                select(Case)
                .join(Offer, Offer.case_id == Case.id)
                .where(
                    Offer.specialist_id == user.id,
                    Offer.status == OfferStatus.PENDING,
                    Case.status == CaseStatus.OFFERED,
                )
                .order_by(Case.submitted_at, Case.id)
            )
            return [case_view(c) for c in rows]

    async def fire(self, timer_id: int, case_id: int | None, now: datetime) -> bool:
        """Claim and handle one timer atomically; False if another process claimed it."""
        async with self.db.transaction() as session:
            if case_id is not None:
                await self._lock_case(session, case_id)
            timer = await self.timers.claim_in(session, timer_id, now)
            if timer is None:
                return False
            if timer.case_id is None or timer.kind not in (OFFER_TIMEOUT, REROUTE, ROUTE):
                log.warning("unknown timer ignored", extra={"timer_id": timer_id})
                return True
            effects = _Effects()
            if timer.kind == OFFER_TIMEOUT:
                effects = await self._expire(session, timer.case_id, now)
            effects.merge(
                await self._plan_route(session, timer.case_id, now, escalate=timer.kind != REROUTE)
            )
        await self._deliver(effects)
        return True

    # -- inside a transaction -----------------------------------------------------------

    @staticmethod
    async def _lock_case(session: AsyncSession, case_id: int) -> bool:
        """Serialise work on one case; False if there is no such case."""
        result = await session.execute(
            update(Case)
            .where(Case.id == case_id)
            .values(escalation_level=Case.escalation_level)
            .execution_options(synchronize_session=False)
        )
        return bool(result.rowcount)  # type: ignore[attr-defined]

    @staticmethod
    async def _case(session: AsyncSession, case_id: int) -> Case:
        case = await session.get(Case, case_id, populate_existing=True)
        assert case is not None  # locked just before
        return case

    @staticmethod
    async def _active(session: AsyncSession, telegram_id: int, roles: set[Role]) -> User | None:
        user = await session.scalar(select(User).where(User.telegram_id == telegram_id))
        if user is None or user.status != Status.ACTIVE or user.role not in roles:
            return None
        return user

    @staticmethod
    async def _latest_offer(session: AsyncSession, case_id: int, user_id: int) -> Offer | None:
        return await session.scalar(
            select(Offer)
            .where(Offer.case_id == case_id, Offer.specialist_id == user_id)
            .order_by(Offer.id.desc())
            .limit(1)
        )

    async def _take(
        self, session: AsyncSession, case: Case, *, from_states: set[CaseStatus], user: User
    ) -> bool:
        """The atomic first-accept-wins UPDATE; False when someone else already has it."""
        now = self.clock.now()
        for state in from_states:
            if state == CaseStatus.SUBMITTED:
                states.check(state, CaseStatus.OFFERED)  # an assignment passes through
            else:
                states.check(state, CaseStatus.ACCEPTED)
        result = await session.execute(
            update(Case)
            .where(
                Case.id == case.id,
                Case.status.in_(from_states),
                Case.specialist_id.is_(None),
            )
            .values(
                status=CaseStatus.ACCEPTED,
                specialist_id=user.id,
                accepted_at=now,
                updated_at=now,
            )
            .execution_options(synchronize_session=False)
        )
        return bool(result.rowcount == 1)  # type: ignore[attr-defined]

    async def _settle(
        self,
        session: AsyncSession,
        case: Case,
        specialist: User,
        offer: Offer,
        now: datetime,
        *,
        action: str,
        actor: int | None = None,
    ) -> _Effects:
        """After a win: the offer is accepted, the others withdrawn, timers cancelled."""
        offer.status = OfferStatus.ACCEPTED
        offer.decided_at = now
        effects = _Effects()
        others = await session.scalars(
            select(Offer).where(
                Offer.case_id == case.id,
                Offer.id != offer.id,
                Offer.status == OfferStatus.PENDING,
            )
        )
        for other in others:
            other.status = OfferStatus.WITHDRAWN
            other.decided_at = now
            ref = _ref(other)
            holder = await session.get(User, other.specialist_id)
            if ref is not None and holder is not None:
                effects.withdrawn.append((user_view(holder), ref, WithdrawReason.TAKEN))
        await self.timers.cancel_in(session, case.id)
        audit.record(
            session,
            now,
            action,
            actor=actor if actor is not None else specialist.telegram_id,
            subject=f"case:{case.id}",
            specialist_id=specialist.id,
        )
        await session.flush()
        await session.refresh(case)
        health_worker = await session.get(User, case.health_worker_id)
        assert health_worker is not None
        effects.case = case_view(case)
        effects.accepted = (user_view(specialist), user_view(health_worker))
        return effects

    async def _expire(self, session: AsyncSession, case_id: int, now: datetime) -> _Effects:
        """Every pending offer of the case ran out of time."""
        effects = _Effects()
        pending = await session.scalars(
            select(Offer).where(Offer.case_id == case_id, Offer.status == OfferStatus.PENDING)
        )
        for offer in pending:
            offer.status = OfferStatus.EXPIRED
            offer.decided_at = now
            holder = await session.get(User, offer.specialist_id)
            ref = _ref(offer)
            if ref is not None and holder is not None:
                effects.withdrawn.append((user_view(holder), ref, WithdrawReason.EXPIRED))
            audit.record(
                session,
                now,
                "case.offer_expired",
                subject=f"case:{case_id}",
                specialist_id=offer.specialist_id,
            )
        await session.flush()
        return effects

    async def _loads(self, session: AsyncSession, user_ids: list[int]) -> dict[int, int]:
        if not user_ids:
            return {}
        rows = await session.execute(
            select(Case.specialist_id, func.count())
            .where(Case.specialist_id.in_(user_ids), Case.status.in_(states.OPEN_FOR_SPECIALIST))
            .group_by(Case.specialist_id)
        )
        return {int(uid): int(n) for uid, n in rows if uid is not None}

    async def _plan_route(
        self, session: AsyncSession, case_id: int, now: datetime, *, escalate: bool
    ) -> _Effects:
        """Offer the case to the next candidate(s), or escalate when nobody is left.

        Call with the case locked. ``escalate`` False (a periodic reroute) stays silent
        when there is still nobody.
        """
        effects = _Effects()
        case = await self._case(session, case_id)
        if case.status not in states.WAITING:
            return effects
        pending = await session.scalar(
            select(func.count())
            .select_from(Offer)
            .where(Offer.case_id == case_id, Offer.status == OfferStatus.PENDING)
        )
        if pending:
            return effects
        already = set(
            (
                await session.scalars(select(Offer.specialist_id).where(Offer.case_id == case_id))
            ).all()
        )
        on_call = (
            await self.rosters.on_call_in(session, case.specialty, now) if case.specialty else []
        )
        loads = await self._loads(session, [u.id for u in on_call])
        health_worker = await session.get(User, case.health_worker_id)
        assert health_worker is not None
        chosen = routing.choose(
            [routing.Candidate(u.id, u.language, loads.get(u.id, 0)) for u in on_call],
            language=health_worker.language,
            urgency=case.urgency,
            excluded=already,
        )
        await self.timers.cancel_in(session, case_id)
        if chosen:
            by_id = {u.id: u for u in on_call}
            if case.status != CaseStatus.OFFERED:
                states.check(case.status, CaseStatus.OFFERED)
                case.status = CaseStatus.OFFERED
            case.updated_at = now
            made = [
                Offer(
                    case_id=case_id,
                    specialist_id=c.user_id,
                    status=OfferStatus.PENDING,
                    offered_at=now,
                )
                for c in chosen
            ]
            session.add_all(made)
            await session.flush()
            self.timers.add(
                session,
                OFFER_TIMEOUT,
                case_id,
                now + self.timeout_for(case.urgency),
                {"offer_ids": [o.id for o in made]},
            )
            for offer in made:
                audit.record(
                    session,
                    now,
                    "case.offer",
                    subject=f"case:{case_id}",
                    specialist_id=offer.specialist_id,
                )
                effects.offers.append((offer.id, by_id[offer.specialist_id]))
        else:
            self.timers.add(session, REROUTE, case_id, now + self.reroute_after)
            if escalate:
                reason = EscalationReason.NO_ACCEPT if already else EscalationReason.NOBODY_ON_CALL
                case.escalation_level += 1
                case.updated_at = now
                effects.escalation = reason
                if not already:
                    effects.nobody_on_call = user_view(health_worker)
                audit.record(
                    session, now, "case.escalate", subject=f"case:{case_id}", reason=str(reason)
                )
        await session.flush()
        effects.case = case_view(case)
        return effects

    # -- after the commit -----------------------------------------------------------------

    async def _deliver(self, effects: _Effects) -> None:
        """Send what the committed transaction decided; a failing send never undoes it."""
        case = effects.case
        if case is None:
            return
        for holder, ref, reason in effects.withdrawn:
            await self._quietly(self.notifier.offer_withdrawn(case, holder, ref, reason))
        if effects.accepted is not None:
            specialist, health_worker = effects.accepted
            await self._quietly(self.notifier.case_accepted(case, specialist, health_worker))
        reroute = False
        for offer_id, specialist in effects.offers:
            sent = await self._quietly(self.notifier.offer(case, specialist))
            if isinstance(sent, Queued):  # the ref comes later, through ``offer_sent``
                continue
            reroute |= await self._store_ref(offer_id, specialist, case, sent)
        if effects.nobody_on_call is not None:
            await self._quietly(self.notifier.nobody_on_call(case, effects.nobody_on_call))
        if effects.escalation is not None:
            coordinators = [
                u for u in await self.directory.approvers_for(case.district) if u.reachable
            ]
            await self._quietly(self.notifier.escalated(case, coordinators, effects.escalation))
        if reroute:  # every offer just made was undeliverable: next candidates now
            await self.route(case.id)

    async def offer_sent(self, case_id: int, specialist_id: int, ref: MessageRef | None) -> None:
        """The outbox settled a queued offer card: remember where it went, or (``None``:
        blocked, failed, outcome unknown) mark the offer undelivered and route on."""
        async with self.db.transaction() as session:
            offer = await self._latest_offer(session, case_id, specialist_id)
            specialist = await session.get(User, specialist_id)
            case = await session.get(Case, case_id)
            if offer is None or specialist is None or case is None:
                return
            offer_id, holder, view = offer.id, user_view(specialist), case_view(case)
        if await self._store_ref(offer_id, holder, view, ref):
            await self.route(case_id)

    async def _store_ref(
        self, offer_id: int, specialist: UserView, case: CaseView, ref: MessageRef | None
    ) -> bool:
        """Remember where the offer went; True if the case now needs routing again."""
        now = self.clock.now()
        withdraw: WithdrawReason | None = None
        async with self.db.transaction() as session:
            if not await self._lock_case(session, case.id):
                return False
            offer = await session.get(Offer, offer_id, populate_existing=True)
            if offer is None:
                return False
            if ref is not None:
                offer.chat_id, offer.message_id = ref.chat_id, ref.message_id
                if offer.status == OfferStatus.WITHDRAWN:  # taken while we were sending
                    withdraw = WithdrawReason.TAKEN
                elif offer.status == OfferStatus.EXPIRED:
                    withdraw = WithdrawReason.EXPIRED
            elif offer.status == OfferStatus.PENDING:
                offer.status = OfferStatus.UNDELIVERED
                offer.decided_at = now
                audit.record(
                    session,
                    now,
                    "case.offer_undelivered",
                    subject=f"case:{case.id}",
                    specialist_id=specialist.id,
                )
                await session.flush()
                pending = await session.scalar(
                    select(func.count())
                    .select_from(Offer)
                    .where(Offer.case_id == case.id, Offer.status == OfferStatus.PENDING)
                )
                return not pending
        if withdraw is not None and ref is not None:
            await self._quietly(self.notifier.offer_withdrawn(case, specialist, ref, withdraw))
        return False

    @staticmethod
    async def _quietly(call: Awaitable[T]) -> T | None:
        """Await a notifier call; log a failure (no patient data) instead of raising."""
        try:
            return await call
        except Exception as exc:
            log.error("notification failed", extra={"error": type(exc).__name__})
            log.debug("notification failure detail", exc_info=True)
            return None
