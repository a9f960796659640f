"""Durable timers and the escalator that fires them.

Timers are rows, so they survive restarts; time comes only from the injected clock. A due
timer is claimed with a conditional UPDATE (``fired_at IS NULL AND NOT cancelled``), so of
several processes ticking at once exactly one fires it — on SQLite and PostgreSQL alike.
The escalator claims a timer in the same transaction that applies its effects (expired
offers, new offers, the next timer): if the process dies half-way the claim rolls back
and the timer fires again later; messages are sent only after that transaction commits.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable, Mapping
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession

from bot.clock import Clock
from bot.storage.database import Database
from bot.storage.models import Timer

if TYPE_CHECKING:
    from bot.cases.offers import OfferService

log = logging.getLogger(__name__)

#: An offer went unanswered for the urgency's time: expire it, offer the next person.
#: Handles one due timer: (timer id, case id, now) → whether it fired.
TimerHandler = Callable[[int, "int | None", datetime], Awaitable[bool]]

OFFER_TIMEOUT = "offer_timeout"
#: Nobody was left to offer the case to: look at the roster again (silently).
REROUTE = "reroute"
#: Route a just-submitted case. Written in the submit transaction (due at once), it makes
#: routing durable: if the process dies before ``OfferService.route`` runs, the escalator
#: routes the case; when ``route`` runs first it cancels this timer.
ROUTE = "route"


class Timers:
    """Schedules, cancels and claims durable timers."""

    def __init__(self, db: Database, clock: Clock) -> None:
        self.db = db
        self.clock = clock

    @staticmethod
    def add(
        session: AsyncSession,
        kind: str,
        case_id: int | None,
        due_at: datetime,
        payload: dict[str, Any] | None = None,
    ) -> Timer:
        """Add a timer to the caller's transaction (so it commits with what caused it)."""
        timer = Timer(kind=kind, case_id=case_id, due_at=due_at, payload=payload or {})
        session.add(timer)
        return timer

    async def schedule(
        self,
        kind: str,
        case_id: int | None,
        due_at: datetime,
        payload: dict[str, Any] | None = None,
    ) -> int:
        """Schedule a timer in its own transaction; returns its id."""
        async with self.db.transaction() as session:
            timer = self.add(session, kind, case_id, due_at, payload)
            await session.flush()
            return timer.id

    @staticmethod
    async def cancel_in(session: AsyncSession, case_id: int, kind: str | None = None) -> int:
        """Cancel the case's unfired timers (of ``kind``) in the caller's transaction."""
        query = update(Timer).where(
            Timer.case_id == case_id, Timer.fired_at.is_(None), Timer.cancelled.is_(False)
        )
        if kind is not None:
            query = query.where(Timer.kind == kind)
        result = await session.execute(query.values(cancelled=True))
        return int(result.rowcount)  # type: ignore[attr-defined]

    async def cancel(self, case_id: int, kind: str | None = None) -> int:
        """Cancel the case's unfired timers (of ``kind``); returns how many."""
        async with self.db.transaction() as session:
            return await self.cancel_in(session, case_id, kind)

    async def due(self, now: datetime, limit: int = 100) -> list[tuple[int, int | None, str]]:
        """``(timer id, case id, kind)`` of unclaimed timers due at ``now``, oldest first."""
        async with self.db.transaction() as session:
            rows = await session.execute(
                select(Timer.id, Timer.case_id, Timer.kind)
                .where(Timer.due_at <= now, Timer.fired_at.is_(None), Timer.cancelled.is_(False))
                .order_by(Timer.due_at, Timer.id)
                .limit(limit)
            )
            return [(row[0], row[1], row[2]) for row in rows]

    @staticmethod
    async def claim_in(session: AsyncSession, timer_id: int, now: datetime) -> Timer | None:
        """Claim one timer in the caller's transaction; None if another process has it."""
        result = await session.execute(
            update(Timer)
            .where(Timer.id == timer_id, Timer.fired_at.is_(None), Timer.cancelled.is_(False))
            .values(fired_at=now)
        )
        if result.rowcount != 1:  # type: ignore[attr-defined]
            return None
        return await session.get(Timer, timer_id, populate_existing=True)

    async def claim_due(self, now: datetime | None = None, limit: int = 100) -> list[Timer]:
        """Claim every due timer (up to ``limit``) exactly once across processes."""
        now = now or self.clock.now()
        claimed: list[Timer] = []
        for timer_id, _case_id, _kind in await self.due(now, limit):
            async with self.db.transaction() as session:
                timer = await self.claim_in(session, timer_id, now)
            if timer is not None:
                claimed.append(timer)
        return claimed

    async def postpone(self, timer_id: int, due_at: datetime) -> None:
        """Move an unfired timer later (after its handler failed)."""
        async with self.db.transaction() as session:
            await session.execute(
                update(Timer)
                .where(Timer.id == timer_id, Timer.fired_at.is_(None))
                .values(due_at=due_at)
            )

    async def pending(self, case_id: int | None = None) -> list[Timer]:
        """Unfired, uncancelled timers (of a case), soonest first."""
        async with self.db.transaction() as session:
            query = select(Timer).where(Timer.fired_at.is_(None), Timer.cancelled.is_(False))
            if case_id is not None:
                query = query.where(Timer.case_id == case_id)
            return list((await session.scalars(query.order_by(Timer.due_at, Timer.id))).all())


class Escalator:
    """Fires due timers: expired offers go to the next specialist, then to coordinators."""

    def __init__(
        self,
        timers: Timers,
        offers: OfferService,
        *,
        batch: int = 100,
        retry_after: timedelta = timedelta(minutes=1),
        fire: Mapping[str, TimerHandler] | None = None,
    ) -> None:
        """``fire`` maps other timer kinds to their handlers; case timers go to ``offers``."""
        self.timers = timers
        self.offers = offers
        self.handlers = dict(fire or {})
        self.batch = batch
        self.retry_after = retry_after

    async def tick(self, now: datetime | None = None) -> int:
        """Handle every timer due at ``now`` (default: the clock); returns how many fired.

        A timer whose handler raises is logged (ids only, no patient data) and retried
        ``retry_after`` later; the other timers still fire.
        """
        now = now or self.timers.clock.now()
        fired = 0
        for timer_id, case_id, kind in await self.timers.due(now, self.batch):
            handler = self.handlers.get(kind, self.offers.fire)
            try:
                if await handler(timer_id, case_id, now):
                    fired += 1
            except Exception as exc:
                log.error(
                    "timer failed, retrying later",
                    extra={"timer_id": timer_id, "case_id": case_id, "error": type(exc).__name__},
                )
                log.debug("timer failure detail", exc_info=True)
                try:
                    await self.timers.postpone(timer_id, now + self.retry_after)
                except Exception as again:  # the database itself may be down
                    log.error("could not postpone timer", extra={"error": type(again).__name__})
        return fired

    async def run(self, stop: asyncio.Event, interval: float) -> None:
        """Tick every ``interval`` seconds until ``stop`` is set; never dies of an error."""
        while not stop.is_set():
            try:
                await self.tick()
            except Exception as exc:
                log.error("escalation tick failed", extra={"error": type(exc).__name__})
                log.debug("tick failure detail", exc_info=True)
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), timeout=interval)
