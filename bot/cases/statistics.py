"""Statistics for coordinators: open cases, volumes, turnaround and escalations.

Scope is one district (a coordinator's) or every district (``district=None``, an
administrator's); the window is the last 7 or 30 days of the roster's wall clock
(Asia/Kolkata): today and the days before it, from local midnight. A case belongs to the
window by its submission time; drafts never count.

Counts are grouped in SQL (portable: ``SUM(CASE …)`` rather than ``FILTER`` or date
functions, so SQLite and PostgreSQL agree). Medians and 90th percentiles are computed in
Python over the window's durations (a district's volume is small) with the same linear
interpolation as PostgreSQL's ``percentile_cont``. Broadcast reach counts the recipients
in scope (their district) of broadcasts sent in the window: reached means the message was
delivered (its outbox row sent, or purged after it settled), and an alert's seen rate is
the share of its recipients who tapped "Seen".

Nothing here carries patient identifiers or free text; ``export_csv`` neither.
"""

from __future__ import annotations

import csv
import io
import math
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import ColumnElement, and_, case, func, or_, select

from bot.cases import states
from bot.clock import Clock
from bot.domain import CaseStatus
from bot.storage.database import Database
from bot.storage.models import Broadcast, BroadcastRecipient, Case, Facility, OutboxMessage, User

#: The windows offered, in days.
PERIODS = (7, 30)

#: Cases still waiting for the specialist side (not yet reported, not cancelled).
OPEN_STATES: tuple[CaseStatus, ...] = (
    CaseStatus.SUBMITTED,
    CaseStatus.OFFERED,
    CaseStatus.ACCEPTED,
    CaseStatus.AWAITING_INFO,
)
assert frozenset(OPEN_STATES) == states.WAITING | states.OPEN_FOR_SPECIALIST

#: Age buckets of open cases (since submission): key and upper bound.
AGE_BUCKETS: tuple[tuple[str, timedelta | None], ...] = (
    ("lt_1h", timedelta(hours=1)),
    ("1h_4h", timedelta(hours=4)),
    ("4h_24h", timedelta(hours=24)),
    ("gt_1d", None),
)

#: The turnaround legs: key, start column, end column.
LEGS: tuple[tuple[str, str, str], ...] = (
    ("submit_accept", "submitted_at", "accepted_at"),
    ("accept_report", "accepted_at", "reported_at"),
    ("report_ack", "reported_at", "acknowledged_at"),
    ("submit_report", "submitted_at", "reported_at"),
)

CSV_COLUMNS = (
    "code",
    "district",
    "facility",
    "specialty",
    "urgency",
    "status",
    "escalation_level",
    "submitted_at",
    "accepted_at",
    "reported_at",
    "acknowledged_at",
    "closed_at",
    "minutes_submit_to_accept",
    "minutes_accept_to_report",
    "minutes_report_to_acknowledge",
    "minutes_submit_to_report",
)


class StatisticsError(ValueError):
    """A window the service does not offer."""


@dataclass(frozen=True)
class Turnaround:
    """One leg of the consultation over the window's cases that completed it."""

    leg: str
    count: int
    median: timedelta | None
    p90: timedelta | None


@dataclass(frozen=True)
class Day:
    """Cases submitted on one local day, by their current status."""

    day: date
    by_status: tuple[tuple[str, int], ...]

    @property
    def total(self) -> int:
        return sum(n for _status, n in self.by_status)


@dataclass(frozen=True)
class Reach:
    """Broadcasts and alerts sent in the window, counted over recipients in scope."""

    broadcasts: int = 0  # sent in the window (alerts included)
    alerts: int = 0
    recipients: int = 0
    reached: int = 0  # delivered
    blocked: int = 0
    alert_recipients: int = 0
    alert_seen: int = 0

    @property
    def seen_rate(self) -> float | None:
        """Share of alert recipients who tapped "Seen" (None without alerts)."""
        return self.alert_seen / self.alert_recipients if self.alert_recipients else None


@dataclass(frozen=True)
class Statistics:
    """A district's (or every district's) figures for one window."""

    district: str | None
    days: int
    since: datetime
    until: datetime
    submitted: int
    escalated: int
    open_by_state: tuple[tuple[str, int], ...]
    open_by_age: tuple[tuple[str, int], ...]
    per_facility: tuple[tuple[str | None, int], ...]
    per_specialty: tuple[tuple[str | None, int], ...]
    turnaround: tuple[Turnaround, ...]
    per_day: tuple[Day, ...]
    reach: Reach = Reach()

    @property
    def open_total(self) -> int:
        return sum(n for _state, n in self.open_by_state)

    def leg(self, key: str) -> Turnaround:
        return next(t for t in self.turnaround if t.leg == key)


def percentile(values: Sequence[float], fraction: float) -> float | None:
    """Linear interpolation between closest ranks (PostgreSQL ``percentile_cont``)."""
    if not values:
        return None
    ordered = sorted(values)
    position = (len(ordered) - 1) * fraction
    low, high = math.floor(position), math.ceil(position)
    return ordered[low] + (ordered[high] - ordered[low]) * (position - low)


def _duration(start: datetime | None, end: datetime | None) -> timedelta | None:
    if start is None or end is None or end < start:
        return None
    return end - start


def _seconds(value: float | None) -> timedelta | None:
    return None if value is None else timedelta(seconds=value)


class StatisticsService:
    """Reads cases; never writes. ``tz`` is the wall clock days are counted in."""

    def __init__(self, db: Database, clock: Clock, tz: str = "Asia/Kolkata") -> None:
        self.db = db
        self.clock = clock
        self.tz = ZoneInfo(tz)

    def window(self, days: int) -> tuple[datetime, datetime]:
        """From local midnight ``days - 1`` days ago until now."""
        if days not in PERIODS:
            raise StatisticsError(f"the window is one of {PERIODS} days, not {days}")
        until = self.clock.now()
        first = until.astimezone(self.tz).date() - timedelta(days=days - 1)
        return datetime.combine(first, time(), self.tz).astimezone(until.tzinfo), until

    def _scope(self, district: str | None, since: datetime, until: datetime) -> list[Any]:
        where: list[Any] = [Case.submitted_at >= since, Case.submitted_at <= until]
        if district is not None:
            where.append(Case.district == district)
        return where

    async def compute(self, district: str | None, days: int) -> Statistics:
        """The figures for ``district`` (None: every district) over the last ``days``."""
        since, until = self.window(days)
        in_window = self._scope(district, since, until)
        open_where: list[Any] = [Case.status.in_([s.value for s in OPEN_STATES])]
        if district is not None:
            open_where.append(Case.district == district)
        async with self.db.transaction() as session:
            open_rows = (
                await session.execute(
                    select(Case.status, func.count()).where(*open_where).group_by(Case.status)
                )
            ).all()
            ages = (await session.execute(select(*self._age_sums(until)).where(*open_where))).one()
            totals = (
                await session.execute(
                    select(
                        func.count(),
                        func.coalesce(func.sum(case((Case.escalation_level > 0, 1), else_=0)), 0),
                    ).where(*in_window)
                )
            ).one()
            facility_rows = (
                await session.execute(
                    select(Facility.name, func.count(Case.id))
                    .select_from(Case)
                    .outerjoin(Facility, Case.facility_id == Facility.id)
                    .where(*in_window)
                    .group_by(Facility.id, Facility.name)
                )
            ).all()
            specialty_rows = (
                await session.execute(
                    select(Case.specialty, func.count()).where(*in_window).group_by(Case.specialty)
                )
            ).all()
            timeline = (
                await session.execute(
                    select(
                        Case.status,
                        Case.submitted_at,
                        Case.accepted_at,
                        Case.reported_at,
                        Case.acknowledged_at,
                    ).where(*in_window)
                )
            ).all()
            reach = await self._reach(session, district, since, until)
        by_state = {str(status): int(n) for status, n in open_rows}
        return Statistics(
            district=district,
            days=days,
            since=since,
            until=until,
            submitted=int(totals[0]),
            escalated=int(totals[1]),
            open_by_state=tuple((s.value, by_state.get(s.value, 0)) for s in OPEN_STATES),
            open_by_age=tuple(
                (key, int(n or 0)) for (key, _bound), n in zip(AGE_BUCKETS, ages, strict=True)
            ),
            per_facility=_ranked(facility_rows),
            per_specialty=_ranked(specialty_rows),
            turnaround=self._turnaround(timeline),
            per_day=self._per_day(timeline, since, until),
            reach=reach,
        )

    @staticmethod
    async def _reach(session: Any, district: str | None, since: datetime, until: datetime) -> Reach:
        """One grouped query over the window's broadcast recipients (outer-joined outbox)."""
        alert = Broadcast.kind == "alert"
        delivered = or_(OutboxMessage.status == "sent", OutboxMessage.id.is_(None))
        where: list[Any] = [Broadcast.sent_at >= since, Broadcast.sent_at <= until]
        if district is not None:
            where.append(User.district == district)
        row = (
            await session.execute(
                select(
                    func.count(func.distinct(Broadcast.id)),
                    func.count(func.distinct(case((alert, Broadcast.id), else_=None))),
                    func.count(BroadcastRecipient.id),
                    func.coalesce(func.sum(case((delivered, 1), else_=0)), 0),
                    func.coalesce(
                        func.sum(case((OutboxMessage.status == "blocked", 1), else_=0)), 0
                    ),
                    func.coalesce(func.sum(case((alert, 1), else_=0)), 0),
                    func.coalesce(
                        func.sum(
                            case((and_(alert, BroadcastRecipient.seen_at.is_not(None)), 1), else_=0)
                        ),
                        0,
                    ),
                )
                .select_from(BroadcastRecipient)
                .join(Broadcast, Broadcast.id == BroadcastRecipient.broadcast_id)
                .join(User, User.id == BroadcastRecipient.user_id)
                .outerjoin(OutboxMessage, OutboxMessage.dedupe_key == BroadcastRecipient.dedupe_key)
                .where(*where)
            )
        ).one()
        return Reach(*(int(value or 0) for value in row))

    def _age_sums(self, now: datetime) -> list[ColumnElement[Any]]:
        """One ``SUM(CASE …)`` per age bucket, comparing submission time with bounds."""
        sums: list[ColumnElement[Any]] = []
        newer_than: datetime | None = None  # the previous bucket's lower edge in time
        for _key, bound in AGE_BUCKETS:
            conditions: list[Any] = []
            if bound is not None:
                conditions.append(Case.submitted_at > now - bound)
            if newer_than is not None:
                conditions.append(Case.submitted_at <= newer_than)
            condition = and_(*conditions) if conditions else Case.submitted_at.is_not(None)
            sums.append(func.sum(case((condition, 1), else_=0)))
            newer_than = now - bound if bound is not None else None
        return sums

    @staticmethod
    def _turnaround(timeline: Sequence[Any]) -> tuple[Turnaround, ...]:
        legs: list[Turnaround] = []
        for key, start, end in LEGS:
            seconds = [
                d.total_seconds()
                for row in timeline
                if (d := _duration(getattr(row, start), getattr(row, end))) is not None
            ]
            legs.append(
                Turnaround(
                    key,
                    len(seconds),
                    _seconds(percentile(seconds, 0.5)),
                    _seconds(percentile(seconds, 0.9)),
                )
            )
        return tuple(legs)

    def _per_day(
        self, timeline: Sequence[Any], since: datetime, until: datetime
    ) -> tuple[Day, ...]:
        first = since.astimezone(self.tz).date()
        last = until.astimezone(self.tz).date()
        counts: dict[date, Counter[str]] = {}
        day = first
        while day <= last:
            counts[day] = Counter()
            day += timedelta(days=1)
        for row in timeline:
            local = row.submitted_at.astimezone(self.tz).date()
            if local in counts:
                counts[local][str(row.status)] += 1
        return tuple(
            Day(d, tuple(sorted(c.items(), key=lambda item: _status_order(item[0]))))
            for d, c in counts.items()
        )

    async def export_csv(self, district: str | None, days: int) -> bytes:
        """One row per case in the window: codes, places, states, times and durations.

        No patient identifiers and no free text; UTF-8 with a byte-order mark so that
        spreadsheet programs read facility names in Indian scripts correctly.
        """
        since, until = self.window(days)
        async with self.db.transaction() as session:
            rows = (
                await session.execute(
                    select(
                        Case.code,
                        Case.district,
                        Facility.name.label("facility"),
                        Case.specialty,
                        Case.urgency,
                        Case.status,
                        Case.escalation_level,
                        Case.submitted_at,
                        Case.accepted_at,
                        Case.reported_at,
                        Case.acknowledged_at,
                        Case.closed_at,
                    )
                    .select_from(Case)
                    .outerjoin(Facility, Case.facility_id == Facility.id)
                    .where(*self._scope(district, since, until))
                    .order_by(Case.submitted_at, Case.id)
                )
            ).all()
        out = io.StringIO()
        writer = csv.writer(out, lineterminator="\r\n")
        writer.writerow(CSV_COLUMNS)
        for row in rows:
            minutes = [
                _minutes(_duration(getattr(row, start), getattr(row, end)))
                for _key, start, end in LEGS
            ]
            writer.writerow(
                [
                    row.code,
                    _cell(row.district),
                    _cell(row.facility),
                    _cell(row.specialty),
                    _cell(row.urgency),
                    row.status,
                    row.escalation_level,
                    *(
                        _iso(getattr(row, name))
                        for name in (
                            "submitted_at",
                            "accepted_at",
                            "reported_at",
                            "acknowledged_at",
                            "closed_at",
                        )
                    ),
                    *minutes,
                ]
            )
        return out.getvalue().encode("utf-8-sig")


def _ranked(rows: Sequence[Any]) -> tuple[tuple[Any, int], ...]:
    """Most cases first, then by name (None last)."""
    pairs = [(name, int(n)) for name, n in rows]
    return tuple(sorted(pairs, key=lambda p: (-p[1], p[0] is None, p[0] or "")))


def _status_order(status: str) -> int:
    order = list(CaseStatus)
    try:
        return order.index(CaseStatus(status))
    except ValueError:
        return len(order)


def _iso(value: datetime | None) -> str:
    return value.isoformat(timespec="seconds") if value is not None else ""


def _minutes(value: timedelta | None) -> str:
    return f"{value.total_seconds() / 60:.1f}" if value is not None else ""


def _cell(value: str | None) -> str:
    """Text a spreadsheet will not run as a formula."""
    if not value:
        return ""
    return "'" + value if value[0] in "=+-@\t\r" else value
