"""Coverage: who covers which hours of the coming days, and the gaps nobody covers.

Computed from weekly shifts and dated overrides exactly as ``RosterService.on_call``
answers for single moments: wall-clock time in the roster time zone, shifts crossing
midnight, an ``available=False`` override taking a specialist off call for every
specialty, and only active, reachable specialists counted.

``DailyGaps`` sends the coming week's gaps to coordinators once a day through a durable
timer of kind ``GAP_REPORT`` (claimed once across processes, like the escalation timers);
the message itself is rendered by the handler layer behind the ``GapNotifier`` port.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from typing import Protocol

from sqlalchemy import and_, or_, select
from sqlalchemy.ext.asyncio import AsyncSession

from bot.accounts.directory import UserView, user_view
from bot.cases.escalation import Timers
from bot.cases.rosters import RosterService, parse_hhmm
from bot.domain import SPECIALTIES, Role, Status
from bot.storage.models import Shift, Timer, User

log = logging.getLogger(__name__)

#: The timer kind of the daily coverage-gap message (no case).
GAP_REPORT = "roster_gaps"

Interval = tuple[datetime, datetime]


@dataclass(frozen=True)
class Block:
    """A specialist on call for a specialty, ``start``–``end`` in roster wall-clock time."""

    specialty: str
    specialist_id: int
    name: str
    start: datetime
    end: datetime


@dataclass(frozen=True)
class Gap:
    """Nobody of ``specialty`` is on call from ``start`` to ``end`` (roster wall clock)."""

    specialty: str
    start: datetime
    end: datetime

    @property
    def minutes(self) -> int:
        return int((self.end - self.start).total_seconds() // 60)


@dataclass(frozen=True)
class Coverage:
    """Blocks and gaps per specialty for ``start``–``end`` (naive roster wall clock)."""

    start: datetime
    end: datetime
    specialties: tuple[str, ...]
    blocks: dict[str, list[Block]]
    gaps: dict[str, list[Gap]]
    zone: str = "Asia/Kolkata"

    @property
    def days(self) -> int:
        return round((self.end - self.start).total_seconds() / 86400)

    @property
    def has_gaps(self) -> bool:
        return any(self.gaps.values())


def subtract(intervals: Iterable[Interval], minus: Iterable[Interval]) -> list[Interval]:
    """``intervals`` without ``minus``, merged and sorted."""
    result = merge(intervals)
    for cut_start, cut_end in merge(minus):
        kept: list[Interval] = []
        for start, end in result:
            if cut_end <= start or end <= cut_start:
                kept.append((start, end))
                continue
            if start < cut_start:
                kept.append((start, cut_start))
            if cut_end < end:
                kept.append((cut_end, end))
        result = kept
    return result


def merge(intervals: Iterable[Interval]) -> list[Interval]:
    """Overlapping or touching intervals joined, sorted; empty ones dropped."""
    merged: list[Interval] = []
    for start, end in sorted(i for i in intervals if i[0] < i[1]):
        if merged and start <= merged[-1][1]:
            merged[-1] = (merged[-1][0], max(merged[-1][1], end))
        else:
            merged.append((start, end))
    return merged


def shift_interval(shift: Shift, day: date) -> Interval:
    """The wall-clock interval of ``shift`` when it starts on ``day``."""
    midnight = datetime.combine(day, time())
    start = midnight + timedelta(minutes=shift.start_minute)
    end = midnight + timedelta(minutes=shift.end_minute)
    if shift.end_minute <= shift.start_minute:
        end += timedelta(days=1)
    return start, end


def _starts_on(shift: Shift, day: date) -> bool:
    if shift.on_date is not None:
        return shift.on_date == day.isoformat()
    return shift.weekday == day.weekday()


class CoverageService:
    """Answers what the roster covers over a stretch of days."""

    def __init__(self, rosters: RosterService) -> None:
        self.rosters = rosters

    def local_now(self) -> datetime:
        """Now on the roster's wall clock (naive), to the minute."""
        now = self.rosters.local(self.rosters.clock.now())
        return now.replace(second=0, microsecond=0, tzinfo=None)

    def week_start(self, at: datetime | None = None) -> datetime:
        """Monday 00:00 of the week containing ``at`` (default now), roster wall clock."""
        local = at.replace(tzinfo=None) if at is not None else self.local_now()
        return datetime.combine(local.date() - timedelta(days=local.weekday()), time())

    async def coverage(self, start: datetime | None = None, days: int = 7) -> Coverage:
        """Coverage from ``start`` (naive roster wall clock; default now) for ``days`` days."""
        window_start = start.replace(tzinfo=None) if start is not None else self.local_now()
        window_end = window_start + timedelta(days=days)
        first, last = window_start.date() - timedelta(days=1), window_end.date()
        dates = [first + timedelta(days=n) for n in range((last - first).days + 1)]
        async with self.rosters.db.transaction() as session:
            rows = await self._shifts(session, dates)
            specialties = await self._specialties(session)
        on: dict[tuple[int, str], list[Interval]] = {}
        off: dict[int, list[Interval]] = {}
        names: dict[int, str] = {}
        for shift, user in rows:
            names[user.id] = user.full_name
            specialties.add(shift.specialty)
            for day in dates:
                if not _starts_on(shift, day):
                    continue
                start_at, end_at = shift_interval(shift, day)
                clipped = (max(start_at, window_start), min(end_at, window_end))
                if shift.available:
                    on.setdefault((user.id, shift.specialty), []).append(clipped)
                else:
                    off.setdefault(user.id, []).append(clipped)
        ordered = tuple(code for code in SPECIALTIES if code in specialties)
        blocks: dict[str, list[Block]] = {code: [] for code in ordered}
        for (user_id, specialty), intervals in on.items():
            for start_at, end_at in subtract(intervals, off.get(user_id, [])):
                blocks[specialty].append(
                    Block(specialty, user_id, names[user_id], start_at, end_at)
                )
        gaps: dict[str, list[Gap]] = {}
        for code in ordered:
            blocks[code].sort(key=lambda b: (b.start, b.name, b.specialist_id))
            covered = [(b.start, b.end) for b in blocks[code]]
            gaps[code] = [
                Gap(code, s, e) for s, e in subtract([(window_start, window_end)], covered)
            ]
        zone = str(self.rosters.tz)
        return Coverage(window_start, window_end, ordered, blocks, gaps, zone)

    @staticmethod
    async def _shifts(session: AsyncSession, dates: list[date]) -> list[tuple[Shift, User]]:
        weekdays = {d.weekday() for d in dates}
        rows = await session.execute(
            select(Shift, User)
            .join(User, User.id == Shift.specialist_id)
            .where(
                or_(
                    and_(Shift.on_date.is_(None), Shift.weekday.in_(weekdays)),
                    Shift.on_date.in_({d.isoformat() for d in dates}),
                ),
                User.status == Status.ACTIVE,
                User.role == Role.SPECIALIST,
                User.reachable.is_(True),
            )
        )
        return [(shift, user) for shift, user in rows.all()]

    @staticmethod
    async def _specialties(session: AsyncSession) -> set[str]:
        """Specialties some active specialist offers (a specialty nobody offers is no gap)."""
        found: set[str] = set()
        for offered in await session.scalars(
            select(User.specialties).where(
                User.role == Role.SPECIALIST, User.status == Status.ACTIVE
            )
        ):
            found.update(code for code in offered or () if code in SPECIALTIES)
        return found

    async def offered_specialties(self) -> set[str]:
        """Specialties at least one active specialist offers."""
        async with self.rosters.db.transaction() as session:
            return await self._specialties(session)

    async def coordinators(self) -> list[UserView]:
        """Active, reachable coordinators: who receives the daily gap message."""
        async with self.rosters.db.transaction() as session:
            rows = await session.scalars(
                select(User)
                .where(
                    User.role == Role.COORDINATOR,
                    User.status == Status.ACTIVE,
                    User.reachable.is_(True),
                )
                .order_by(User.id)
            )
            return [user_view(u) for u in rows]


class GapNotifier(Protocol):
    async def coverage_gaps(self, coverage: Coverage, coordinators: list[UserView]) -> int:
        """Tell each coordinator the gaps (or that there are none); returns how many were queued."""
        ...


class DailyGaps:
    """The daily gap message: a durable timer that reschedules itself for the next day."""

    def __init__(
        self,
        coverage: CoverageService,
        timers: Timers,
        notifier: GapNotifier,
        *,
        at: str = "07:00",
        days: int = 7,
    ) -> None:
        self.coverage = coverage
        self.timers = timers
        self.notifier = notifier
        self.minute = parse_hhmm(at)
        self.days = days

    def next_due(self, now: datetime) -> datetime:
        """The first ``at`` wall-clock time in the roster zone strictly after ``now`` (aware)."""
        tz = self.coverage.rosters.tz
        local = now.astimezone(tz)
        due = datetime.combine(local.date(), time(), tzinfo=tz) + timedelta(minutes=self.minute)
        if due <= local:
            due = datetime.combine(local.date() + timedelta(days=1), time(), tzinfo=tz)
            due += timedelta(minutes=self.minute)
        return due.astimezone(UTC)  # SQLite keeps no offset: store UTC

    async def ensure_scheduled(self) -> int:
        """Schedule the next report unless one is pending; returns the pending timer's id."""
        async with self.timers.db.transaction() as session:
            pending = await session.scalar(
                select(Timer.id)
                .where(
                    Timer.kind == GAP_REPORT,
                    Timer.fired_at.is_(None),
                    Timer.cancelled.is_(False),
                )
                .order_by(Timer.due_at)
                .limit(1)
            )
            if pending is not None:
                return int(pending)
            timer = Timers.add(session, GAP_REPORT, None, self.next_due(self.timers.clock.now()))
            await session.flush()
            return timer.id

    async def fire(self, timer_id: int, case_id: int | None, now: datetime) -> bool:
        """Claim the timer, schedule tomorrow's, then send; False if another process had it."""
        async with self.timers.db.transaction() as session:
            timer = await Timers.claim_in(session, timer_id, now)
            if timer is None:
                return False
            if timer.kind != GAP_REPORT:
                log.warning("not a gap report timer", extra={"timer_id": timer_id})
                return True
            twin = await session.scalar(
                select(Timer.id).where(
                    Timer.kind == GAP_REPORT,
                    Timer.id != timer_id,
                    Timer.due_at == timer.due_at,
                    Timer.fired_at.is_not(None),
                )
            )
            others = await session.scalar(
                select(Timer.id).where(
                    Timer.kind == GAP_REPORT,
                    Timer.fired_at.is_(None),
                    Timer.cancelled.is_(False),
                )
            )
            if others is None:
                Timers.add(session, GAP_REPORT, None, self.next_due(now))
        if twin is not None:  # scheduled twice by two processes: one message is enough
            return True
        report = await self.coverage.coverage(days=self.days)
        coordinators = await self.coverage.coordinators()
        await self.notifier.coverage_gaps(report, coordinators)
        return True
