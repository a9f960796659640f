"""Coverage: blocks and gaps of the coming days, agreeing with ``on_call``; the daily timer."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from bot.accounts.directory import UserView
from bot.cases.coverage import (
    GAP_REPORT,
    Coverage,
    CoverageService,
    DailyGaps,
    merge,
    subtract,
)
from bot.cases.escalation import Timers
from bot.cases.rosters import RosterService
from bot.clock import ManualClock
from bot.domain import Role, Status
from bot.storage.database import Database
from bot.storage.models import Shift
from tests.cases.conftest import Factory

# The manual clock starts at 2026-01-05 04:30 UTC = Monday 10:00 IST.
MONDAY = datetime(2026, 1, 5)


@pytest.fixture
def rosters(db: Database, clock: ManualClock) -> RosterService:
    return RosterService(db, clock)


@pytest.fixture
def coverage(rosters: RosterService) -> CoverageService:
    return CoverageService(rosters)


def spans(report: Coverage, specialty: str) -> list[tuple[str, str]]:
    return [(f"{g.start:%a %H:%M}", f"{g.end:%a %H:%M}") for g in report.gaps.get(specialty, [])]


def at(day: int, hour: int, minute: int = 0) -> datetime:
    return MONDAY + timedelta(days=day, hours=hour, minutes=minute)


def test_interval_arithmetic() -> None:
    a, b, c, d = at(0, 1), at(0, 2), at(0, 3), at(0, 4)
    assert merge([(c, d), (a, b), (b, c)]) == [(a, d)]
    assert subtract([(a, d)], [(b, c)]) == [(a, b), (c, d)]
    assert subtract([(a, b)], [(a, d)]) == []
    assert merge([(b, a)]) == []


async def test_gaps_of_the_week(
    coverage: CoverageService, rosters: RosterService, factory: Factory
) -> None:
    a = await factory.specialist(name="Dr A")
    b = await factory.specialist(name="Dr B")
    for day in range(7):
        await rosters.add_weekly(a.id, "radiology", day, "08:00", "20:00")
    await rosters.add_weekly(b.id, "radiology", 0, "20:00", "08:00")  # Monday night
    # Wednesday: A is on leave in the afternoon; B covers an extra evening on Friday.
    await rosters.add_override(
        a.id, "radiology", date(2026, 1, 7), "12:00", "16:00", available=False
    )
    await rosters.add_override(b.id, "radiology", date(2026, 1, 9), "20:00", "22:00")
    report = await coverage.coverage(start=at(0, 0), days=7)
    assert report.specialties == ("radiology",)
    assert spans(report, "radiology") == [
        ("Mon 00:00", "Mon 08:00"),
        ("Tue 20:00", "Wed 08:00"),
        ("Wed 12:00", "Wed 16:00"),
        ("Wed 20:00", "Thu 08:00"),
        ("Thu 20:00", "Fri 08:00"),
        ("Fri 22:00", "Sat 08:00"),
        ("Sat 20:00", "Sun 08:00"),
        ("Sun 20:00", "Mon 00:00"),
    ]
    names = {(blk.name, f"{blk.start:%a %H:%M}") for blk in report.blocks["radiology"]}
    assert ("Dr B", "Mon 20:00") in names and ("Dr B", "Fri 20:00") in names
    assert report.has_gaps


async def test_from_now_and_a_specialty_nobody_rostered(
    coverage: CoverageService, rosters: RosterService, factory: Factory
) -> None:
    a = await factory.specialist()
    await factory.specialist("medicine")  # offers medicine, but nobody is rostered for it
    await factory.specialist("dermatology", status=Status.PENDING)  # not active: no gap
    await rosters.add_weekly(a.id, "radiology", 0, "00:00", "24:00")
    report = await coverage.coverage(days=1)  # from now: Monday 10:00 IST
    assert report.start == at(0, 10)
    assert spans(report, "radiology") == [("Tue 00:00", "Tue 10:00")]
    assert spans(report, "medicine") == [("Mon 10:00", "Tue 10:00")]
    assert "dermatology" not in report.specialties


async def test_inactive_and_unreachable_specialists_do_not_cover(
    coverage: CoverageService, rosters: RosterService, factory: Factory
) -> None:
    gone = await factory.specialist(reachable=False)
    await rosters.add_weekly(gone.id, "radiology", 0, "00:00", "24:00")
    active = await factory.specialist()
    await rosters.add_weekly(active.id, "radiology", 0, "06:00", "07:00")
    report = await coverage.coverage(start=at(0, 0), days=1)
    assert spans(report, "radiology") == [("Mon 00:00", "Mon 06:00"), ("Mon 07:00", "Tue 00:00")]


_slot = st.tuples(
    st.integers(0, 1),
    st.one_of(st.integers(0, 6), st.integers(0, 8).map(lambda n: date(2026, 1, 4 + n))),
    st.integers(0, 23),
    st.integers(1, 24),
    st.booleans(),
)


@settings(
    max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    slots=st.lists(_slot, max_size=8),
    probes=st.lists(st.integers(0, 7 * 24 * 4 - 1), min_size=5, max_size=15),
)
async def test_gaps_agree_with_on_call(
    slots: list[tuple[int, int | date, int, int, bool]],
    probes: list[int],
    coverage: CoverageService,
    rosters: RosterService,
    factory: Factory,
    db: Database,
) -> None:
    """Any moment is in a gap exactly when ``on_call`` finds nobody."""
    async with db.transaction() as session:
        await session.execute(Shift.__table__.delete())
    people = [await factory.specialist() for _ in range(2)]
    for who, when, start, end, available in slots:
        if start == end:
            continue
        start_s, end_s = f"{start:02d}:00", f"{end:02d}:00"
        if isinstance(when, int):
            await rosters.add_weekly(people[who].id, "radiology", when, start_s, end_s)
        else:
            await rosters.add_override(
                people[who].id, "radiology", when, start_s, end_s, available=available
            )
    report = await coverage.coverage(start=at(0, 0), days=7)
    for probe in probes:
        local = at(0, 0) + timedelta(minutes=15 * probe)
        aware = local.replace(tzinfo=rosters.tz)
        nobody = not await rosters.on_call("radiology", aware)
        in_gap = any(g.start <= local < g.end for g in report.gaps.get("radiology", []))
        assert nobody == in_gap, (local, nobody, in_gap)


class RecordingNotifier:
    def __init__(self) -> None:
        self.calls: list[tuple[Coverage, list[UserView]]] = []

    async def coverage_gaps(self, coverage: Coverage, coordinators: list[UserView]) -> int:
        self.calls.append((coverage, coordinators))
        return len(coordinators)


async def test_daily_timer_fires_once_and_reschedules(
    coverage: CoverageService, db: Database, clock: ManualClock, factory: Factory
) -> None:
    ravi = await factory.coordinator()
    await factory.coordinator(status=Status.PENDING)
    await factory.user(Role.ADMIN)
    timers = Timers(db, clock)
    notifier = RecordingNotifier()
    daily = DailyGaps(coverage, timers, notifier, at="07:00")
    first = await daily.ensure_scheduled()
    assert await daily.ensure_scheduled() == first  # idempotent
    [pending] = await timers.pending()
    # Now is Monday 10:00 IST: the next 07:00 IST is Tuesday, 01:30 UTC.
    assert pending.due_at == datetime(2026, 1, 6, 1, 30, tzinfo=UTC)
    clock.advance(timedelta(hours=21))
    now = clock.now()
    assert await daily.fire(first, None, now)
    assert not await daily.fire(first, None, now)  # claimed once
    assert len(notifier.calls) == 1
    assert [c.id for c in notifier.calls[0][1]] == [ravi.id]
    [following] = await timers.pending()
    assert following.kind == GAP_REPORT
    assert following.due_at == datetime(2026, 1, 7, 1, 30, tzinfo=UTC)
