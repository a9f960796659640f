"""Rosters: weekly shifts, midnight crossings, overrides and the roster time zone."""

from __future__ import annotations

from datetime import UTC, date, datetime

import pytest

from bot.cases.rosters import RosterError, RosterService, covers, parse_hhmm
from bot.clock import ManualClock
from bot.domain import Status
from bot.storage.database import Database
from tests.cases.conftest import Factory

# 2026-01-05 is a Monday. IST = UTC+05:30 all year (no DST).


def ist(day: int, hour: int, minute: int = 0) -> datetime:
    """A UTC instant given as IST wall-clock on January ``day`` 2026."""
    return datetime(2026, 1, day, hour, minute, tzinfo=UTC) - _IST_OFFSET


_IST_OFFSET = datetime(2026, 1, 1, 5, 30, tzinfo=UTC) - datetime(2026, 1, 1, tzinfo=UTC)


@pytest.fixture
def rosters(db: Database, clock: ManualClock) -> RosterService:
    return RosterService(db, clock)


async def ids(rosters: RosterService, specialty: str, at: datetime) -> list[int]:
    return [u.id for u in await rosters.on_call(specialty, at)]


async def test_weekly_shift_covers_its_window_only(
    rosters: RosterService, factory: Factory
) -> None:
    a = await factory.specialist()
    await rosters.add_weekly(a.id, "radiology", 0, "09:00", "17:00")
    assert await ids(rosters, "radiology", ist(5, 9)) == [a.id]
    assert await ids(rosters, "radiology", ist(5, 16, 59)) == [a.id]
    assert await ids(rosters, "radiology", ist(5, 17)) == []
    assert await ids(rosters, "radiology", ist(5, 8, 59)) == []
    assert await ids(rosters, "radiology", ist(6, 10)) == []  # Tuesday
    assert await ids(rosters, "radiology", ist(12, 10)) == [a.id]  # next Monday
    assert await ids(rosters, "medicine", ist(5, 10)) == []


async def test_shift_crossing_midnight(rosters: RosterService, factory: Factory) -> None:
    a = await factory.specialist()
    await rosters.add_weekly(a.id, "radiology", 6, "20:00", "08:00")  # Sunday night
    assert await ids(rosters, "radiology", ist(4, 19, 59)) == []
    assert await ids(rosters, "radiology", ist(4, 20)) == [a.id]
    assert await ids(rosters, "radiology", ist(4, 23, 59)) == [a.id]
    assert await ids(rosters, "radiology", ist(5, 0, 0)) == [a.id]  # Monday morning
    assert await ids(rosters, "radiology", ist(5, 7, 59)) == [a.id]
    assert await ids(rosters, "radiology", ist(5, 8)) == []
    assert await ids(rosters, "radiology", ist(5, 21)) == []  # Monday night: not his


async def test_time_zone_is_the_rosters(rosters: RosterService, factory: Factory) -> None:
    a = await factory.specialist()
    await rosters.add_weekly(a.id, "radiology", 0, "07:00", "08:00")
    # 02:00 UTC is 07:30 IST on the same Monday.
    assert await ids(rosters, "radiology", datetime(2026, 1, 5, 2, 0, tzinfo=UTC)) == [a.id]
    # 22:00 UTC on Sunday is 03:30 IST on Monday: the shift is not in the UTC day.
    b = await factory.specialist()
    await rosters.add_weekly(b.id, "radiology", 0, "03:00", "04:00")
    assert await ids(rosters, "radiology", datetime(2026, 1, 4, 22, 0, tzinfo=UTC)) == [b.id]
    # Another zone sees other wall-clock times.
    utc_rosters = RosterService(rosters.db, rosters.clock, tz="UTC")
    assert await ids(utc_rosters, "radiology", datetime(2026, 1, 5, 7, 30, tzinfo=UTC)) == [a.id]


async def test_overrides_add_and_remove_cover(rosters: RosterService, factory: Factory) -> None:
    a = await factory.specialist()
    b = await factory.specialist()
    await rosters.add_weekly(a.id, "radiology", 0, "09:00", "17:00")
    await rosters.add_override(
        a.id, "radiology", date(2026, 1, 5), "12:00", "14:00", available=False
    )
    await rosters.add_override(b.id, "radiology", date(2026, 1, 5), "13:00", "15:00")
    assert await ids(rosters, "radiology", ist(5, 11)) == [a.id]
    assert await ids(rosters, "radiology", ist(5, 13)) == [b.id]
    assert await ids(rosters, "radiology", ist(5, 14, 30)) == [a.id, b.id]
    assert await ids(rosters, "radiology", ist(12, 13)) == [a.id]  # a week later: normal
    # A night override crosses midnight too; time off applies to every specialty.
    await rosters.add_override(b.id, "radiology", date(2026, 1, 6), "22:00", "02:00")
    assert await ids(rosters, "radiology", ist(7, 1)) == [b.id]
    await rosters.add_override(
        b.id, "medicine", date(2026, 1, 7), "00:00", "24:00", available=False
    )
    assert await ids(rosters, "radiology", ist(7, 1)) == []


async def test_only_active_reachable_specialists(rosters: RosterService, factory: Factory) -> None:
    pending = await factory.specialist(status=Status.PENDING)
    blocked = await factory.specialist(reachable=False)
    ok = await factory.specialist()
    for user in (pending, blocked, ok):
        await rosters.add_weekly(user.id, "radiology", 0, "00:00", "24:00")
    assert await ids(rosters, "radiology", ist(5, 12)) == [ok.id]


async def test_remove_and_list(rosters: RosterService, factory: Factory) -> None:
    a = await factory.specialist(name="Dr A")
    weekly = await rosters.add_weekly(a.id, "radiology", 2, "20:00", "08:00")
    off = await rosters.add_override(
        a.id, "medicine", date(2026, 1, 7), "09:00", "10:00", available=False
    )
    listed = await rosters.list_shifts()
    assert [v.id for v in listed] == [weekly.id, off.id]
    assert listed[0].when == "Wed 20:00-08:00"
    assert not listed[1].available
    assert [v.id for v in await rosters.list_shifts("medicine")] == [off.id]
    assert await rosters.remove(weekly.id)
    assert not await rosters.remove(weekly.id)
    assert [v.id for v in await rosters.list_shifts()] == [off.id]


async def test_refusals(rosters: RosterService, factory: Factory) -> None:
    a = await factory.specialist()
    hw = await factory.health_worker()
    with pytest.raises(RosterError, match="not a specialist"):
        await rosters.add_weekly(hw.id, "radiology", 0, "09:00", "10:00")
    with pytest.raises(RosterError, match="no user"):
        await rosters.add_weekly(999_999, "radiology", 0, "09:00", "10:00")
    with pytest.raises(RosterError, match="unknown specialty"):
        await rosters.add_weekly(a.id, "astrology", 0, "09:00", "10:00")
    with pytest.raises(RosterError, match="same time"):
        await rosters.add_weekly(a.id, "radiology", 0, "09:00", "09:00")
    with pytest.raises(RosterError, match="time of day"):
        await rosters.add_weekly(a.id, "radiology", 0, "9am", "10:00")
    with pytest.raises(RosterError, match="weekday"):
        await rosters.add_weekly(a.id, "radiology", 7, "09:00", "10:00")
    with pytest.raises(RosterError, match="time zone"):
        RosterService(rosters.db, rosters.clock, tz="Mars/Olympus")
    with pytest.raises(ValueError, match="naive"):
        await rosters.on_call("radiology", datetime(2026, 1, 5, 9))


def test_window_arithmetic() -> None:
    assert parse_hhmm("24:00", allow_24=True) == 1440
    with pytest.raises(RosterError):
        parse_hhmm("24:00")
    assert covers(600, 1020, 600, today=True, yesterday=False)
    assert not covers(600, 1020, 1020, today=True, yesterday=False)
    assert covers(1200, 480, 100, today=False, yesterday=True)
    assert not covers(1200, 480, 100, today=True, yesterday=False)
