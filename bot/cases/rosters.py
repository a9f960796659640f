"""On-call rosters: weekly shifts and one-off overrides, in the roster's time zone.

A shift is wall-clock time in the roster time zone (Asia/Kolkata by default, resolved with
``zoneinfo``). When ``end`` is not after ``start`` the shift crosses midnight: a Monday
20:00–08:00 shift covers Monday 20:00 to Tuesday 08:00. An end of ``24:00`` means
midnight at the end of the day.

Overrides are tied to a date: ``available=True`` adds cover for that window,
``available=False`` takes the specialist off call for that window, whatever the specialty
(a doctor on leave is on leave for everything).
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from sqlalchemy import and_, delete, or_, select
from sqlalchemy.ext.asyncio import AsyncSession

from bot.accounts.directory import UserView, user_view
from bot.clock import Clock
from bot.domain import SPECIALTIES, Role, Status
from bot.storage import audit
from bot.storage.database import Database
from bot.storage.models import Shift, User

WEEKDAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
_HHMM = re.compile(r"^(\d{1,2}):(\d{2})$")
DAY_MINUTES = 24 * 60


class RosterError(ValueError):
    """A roster change was refused; the message says why in plain words."""


class DuplicateShift(RosterError):
    """``if_absent`` was asked and the very same shift is already in the roster."""

    def __init__(self, existing: ShiftView) -> None:
        super().__init__(f"shift {existing.id} is already in the roster")
        self.existing = existing


def parse_hhmm(text: str, *, allow_24: bool = False) -> int:
    """Minutes after midnight of ``HH:MM``; ``24:00`` only when ``allow_24`` (an end)."""
    match = _HHMM.match(text.strip())
    if not match:
        raise RosterError(f"{text!r} is not a time of day like 08:00 or 20:30")
    hours, minutes = int(match.group(1)), int(match.group(2))
    if hours == 24 and minutes == 0 and allow_24:
        return DAY_MINUTES
    if hours > 23 or minutes > 59:
        raise RosterError(f"{text!r} is not a time of day like 08:00 or 20:30")
    return hours * 60 + minutes


def format_hhmm(minute: int) -> str:
    return f"{minute // 60:02d}:{minute % 60:02d}"


def parse_weekday(text: str) -> int:
    """0 for ``mon`` … 6 for ``sun`` (three-letter or full English names)."""
    key = text.strip().lower()[:3]
    if key not in WEEKDAYS:
        raise RosterError(f"{text!r} is not a day of the week (mon, tue, … sun)")
    return WEEKDAYS.index(key)


def covers(start: int, end: int, minute: int, *, today: bool, yesterday: bool) -> bool:
    """Whether a window starting on a day covers ``minute`` of the day in question.

    ``today``: the window starts on the day in question; ``yesterday``: it started the
    day before (only matters for windows that cross midnight).
    """
    if start < end:
        return today and start <= minute < end
    return (today and minute >= start) or (yesterday and minute < end)


@dataclass(frozen=True)
class ShiftView:
    """One roster row as shown to coordinators and the CLI."""

    id: int
    specialist_id: int
    specialist_name: str
    specialty: str
    weekday: int | None
    on_date: str | None
    start: str
    end: str
    available: bool

    @property
    def when(self) -> str:
        day = WEEKDAYS[self.weekday].capitalize() if self.weekday is not None else self.on_date
        return f"{day} {self.start}-{self.end}"


def _shift_view(shift: Shift, user: User) -> ShiftView:
    return ShiftView(
        id=shift.id,
        specialist_id=shift.specialist_id,
        specialist_name=user.full_name,
        specialty=shift.specialty,
        weekday=shift.weekday,
        on_date=shift.on_date,
        start=format_hhmm(shift.start_minute),
        end=format_hhmm(shift.end_minute),
        available=shift.available,
    )


def _window(start: str, end: str) -> tuple[int, int]:
    start_minute = parse_hhmm(start)
    end_minute = parse_hhmm(end, allow_24=True)
    if start_minute == end_minute:
        raise RosterError("a shift cannot start and end at the same time")
    return start_minute, end_minute


def _shift_covers(shift: Shift, local_day: date, minute: int) -> bool:
    previous = local_day - timedelta(days=1)
    if shift.on_date is not None:
        today = shift.on_date == local_day.isoformat()
        yesterday = shift.on_date == previous.isoformat()
    else:
        today = shift.weekday == local_day.weekday()
        yesterday = shift.weekday == previous.weekday()
    return covers(shift.start_minute, shift.end_minute, minute, today=today, yesterday=yesterday)


class RosterService:
    """Adds, removes and lists shifts, and answers who is on call at a moment."""

    def __init__(self, db: Database, clock: Clock, tz: str = "Asia/Kolkata") -> None:
        self.db = db
        self.clock = clock
        try:
            self.tz = ZoneInfo(tz)
        except (ZoneInfoNotFoundError, ValueError) as exc:
            raise RosterError(f"unknown time zone {tz!r}") from exc

    async def add_weekly(
        self,
        specialist_id: int,
        specialty: str,
        weekday: int,
        start: str,
        end: str,
        *,
        actor: int | None = None,
        if_absent: bool = False,
    ) -> ShiftView:
        """A recurring shift every ``weekday`` (0 = Monday) from ``start`` to ``end``.

        ``if_absent``: raise ``DuplicateShift`` instead of adding the same shift twice.
        """
        if not 0 <= weekday <= 6:
            raise RosterError("weekday must be 0 (Monday) to 6 (Sunday)")
        return await self._add(
            specialist_id,
            specialty,
            _window(start, end),
            weekday=weekday,
            actor=actor,
            if_absent=if_absent,
        )

    async def add_override(
        self,
        specialist_id: int,
        specialty: str,
        on_date: date,
        start: str,
        end: str,
        *,
        available: bool = True,
        actor: int | None = None,
        if_absent: bool = False,
    ) -> ShiftView:
        """A one-off window on ``on_date``: extra cover, or time off when not ``available``."""
        return await self._add(
            specialist_id,
            specialty,
            _window(start, end),
            on_date=on_date.isoformat(),
            available=available,
            actor=actor,
            if_absent=if_absent,
        )

    async def _add(
        self,
        specialist_id: int,
        specialty: str,
        window: tuple[int, int],
        *,
        weekday: int | None = None,
        on_date: str | None = None,
        available: bool = True,
        actor: int | None = None,
        if_absent: bool = False,
    ) -> ShiftView:
        if specialty not in SPECIALTIES:
            raise RosterError(
                f"unknown specialty {specialty!r}; one of: {', '.join(sorted(SPECIALTIES))}"
            )
        async with self.db.transaction() as session:
            user = await session.get(User, specialist_id)
            if user is None:
                raise RosterError(f"no user with id {specialist_id}")
            if user.role != Role.SPECIALIST:
                raise RosterError(f"user {specialist_id} is a {user.role}, not a specialist")
            if if_absent:
                same = await session.scalar(
                    select(Shift).where(
                        Shift.specialist_id == specialist_id,
                        Shift.specialty == specialty,
                        Shift.weekday.is_(None) if weekday is None else Shift.weekday == weekday,
                        Shift.on_date.is_(None) if on_date is None else Shift.on_date == on_date,
                        Shift.start_minute == window[0],
                        Shift.end_minute == window[1],
                        Shift.available.is_(available),
                    )
                )
                if same is not None:
                    raise DuplicateShift(_shift_view(same, user))
            shift = Shift(
                specialist_id=specialist_id,
                specialty=specialty,
                weekday=weekday,
                on_date=on_date,
                start_minute=window[0],
                end_minute=window[1],
                available=available,
            )
            session.add(shift)
            await session.flush()
            audit.record(
                session,
                self.clock.now(),
                "roster.add",
                actor=actor,
                subject=f"shift:{shift.id}",
                specialist_id=specialist_id,
                specialty=specialty,
                available=available,
            )
            return _shift_view(shift, user)

    async def remove(self, shift_id: int, *, actor: int | None = None) -> bool:
        """Delete a shift or override; False if there was none with that id."""
        async with self.db.transaction() as session:
            result = await session.execute(delete(Shift).where(Shift.id == shift_id))
            removed = bool(result.rowcount)  # type: ignore[attr-defined]
            if removed:
                audit.record(
                    session,
                    self.clock.now(),
                    "roster.remove",
                    actor=actor,
                    subject=f"shift:{shift_id}",
                )
            return removed

    async def list_shifts(self, specialty: str | None = None) -> list[ShiftView]:
        """Every shift (of ``specialty``), weekly ones first, by day and start time."""
        async with self.db.transaction() as session:
            query = select(Shift, User).join(User, User.id == Shift.specialist_id)
            if specialty is not None:
                query = query.where(Shift.specialty == specialty)
            rows = (await session.execute(query)).all()
        views = [_shift_view(shift, user) for shift, user in rows]
        return sorted(
            views,
            key=lambda v: (
                v.weekday is None,
                v.weekday if v.weekday is not None else 0,
                v.on_date or "",
                v.start,
                v.id,
            ),
        )

    async def on_call(self, specialty: str, at: datetime) -> list[UserView]:
        """Active, reachable specialists of ``specialty`` on call at ``at`` (aware)."""
        async with self.db.transaction() as session:
            return await self.on_call_in(session, specialty, at)

    async def on_call_in(
        self, session: AsyncSession, specialty: str, at: datetime
    ) -> list[UserView]:
        """``on_call`` inside the caller's transaction; ordered by user id."""
        if at.tzinfo is None:
            raise ValueError("naive datetime given; use the injected clock")
        local = at.astimezone(self.tz)
        day, minute = local.date(), local.hour * 60 + local.minute
        previous = day - timedelta(days=1)
        relevant = or_(
            and_(Shift.on_date.is_(None), Shift.weekday.in_({day.weekday(), previous.weekday()})),
            Shift.on_date.in_({day.isoformat(), previous.isoformat()}),
        )
        rows = (
            await session.execute(
                select(Shift, User)
                .join(User, User.id == Shift.specialist_id)
                .where(
                    relevant,
                    User.status == Status.ACTIVE,
                    User.role == Role.SPECIALIST,
                    User.reachable.is_(True),
                    or_(Shift.specialty == specialty, Shift.available.is_(False)),
                )
            )
        ).all()
        on: dict[int, User] = {}
        off: set[int] = set()
        for shift, user in rows:
            if not _shift_covers(shift, day, minute):
                continue
            if not shift.available:
                off.add(user.id)
            elif shift.specialty == specialty:
                on[user.id] = user
        return [user_view(on[uid]) for uid in sorted(on) if uid not in off]

    def local(self, at: datetime) -> datetime:
        """``at`` in the roster time zone."""
        return at.astimezone(self.tz)


def describe(views: Iterable[ShiftView]) -> list[str]:
    """One tab-separated line per shift (for the CLI)."""
    return [
        "\t".join(
            [str(v.id), f"{v.specialist_name} (user {v.specialist_id})", v.specialty, v.when]
            + ([] if v.available else ["OFF"])
        )
        for v in views
    ]
