"""Roster CSV: every problem by line and column, all or nothing, exports that import back."""

from __future__ import annotations

import asyncio
import csv
import io
from datetime import date
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import func, select

from bot.cases import roster_cli
from bot.cases import roster_csv as rc
from bot.cases.roster_csv import RosterCsv, decode, parse
from bot.cases.rosters import WEEKDAYS, RosterService, format_hhmm
from bot.clock import ManualClock
from bot.config import Settings
from bot.domain import Role
from bot.storage.database import Database
from bot.storage.models import AuditEvent, Shift, User
from tests.cases.conftest import Factory

HEADER = "user_id,registration_number,name,specialty,day,date,from,to,available\n"


@pytest.fixture
def rosters(db: Database, clock: ManualClock) -> RosterService:
    return RosterService(db, clock)


@pytest.fixture
def csvs(rosters: RosterService) -> RosterCsv:
    return RosterCsv(rosters)


async def set_registration(db: Database, user_id: int, number: str) -> None:
    async with db.transaction() as session:
        user = await session.get(User, user_id)
        assert user is not None
        user.registration_number = number


def places(result: rc.ImportResult) -> list[tuple[int, str | None, str]]:
    return [(p.line, p.column, p.message) for p in result.problems]


async def test_valid_file_replaces_weekly_and_adds_overrides(
    csvs: RosterCsv, rosters: RosterService, factory: Factory, db: Database
) -> None:
    a = await factory.specialist(name="Dr A")
    b = await factory.specialist(name="Dr B")
    c = await factory.specialist("medicine", name="Dr C")
    await set_registration(db, b.id, "KMC 654321")
    await rosters.add_weekly(a.id, "radiology", 2, "09:00", "10:00")  # replaced
    await rosters.add_weekly(c.id, "medicine", 2, "09:00", "10:00")  # other specialty: kept
    data = (
        HEADER
        + f"{a.id},,Dr A,radiology,mon,,08:00,20:00,yes\n"
        + ",kmc-654321,,Radiology,Monday,,20:00,08:00,\n"
        + f"{a.id},,,radiology,,25/12/2026,00:00,24:00,no\n"
    ).encode()
    result = await csvs.import_csv(data, actor=42)
    assert result.ok, result.problems
    assert (result.weekly, result.overrides, result.replaced) == (2, 1, 1)
    assert result.specialties == ("radiology",)
    shown = {
        (v.specialist_id, v.specialty, v.when, v.available) for v in await rosters.list_shifts()
    }
    assert shown == {
        (a.id, "radiology", "Mon 08:00-20:00", True),
        (b.id, "radiology", "Mon 20:00-08:00", True),
        (a.id, "radiology", "2026-12-25 00:00-24:00", False),
        (c.id, "medicine", "Wed 09:00-10:00", True),
    }
    async with db.transaction() as session:
        event = await session.scalar(select(AuditEvent).where(AuditEvent.action == "roster.import"))
    assert event is not None and event.actor_telegram_id == 42
    # Importing the same file again: overrides already there are not added twice.
    again = await csvs.import_csv(data)
    assert (again.weekly, again.overrides, again.overrides_present) == (2, 0, 1)
    assert len(await rosters.list_shifts()) == 4


async def test_every_problem_by_line_and_column_and_nothing_applied(
    csvs: RosterCsv, rosters: RosterService, factory: Factory, db: Database
) -> None:
    a = await factory.specialist()
    hw = await factory.health_worker()
    await rosters.add_weekly(a.id, "radiology", 0, "09:00", "17:00")
    data = (
        HEADER
        + f"{a.id},,,radiology,mon,,08:00,20:00,yes\n"  # 2: fine
        + "999999,,,radiology,mon,,08:00,20:00,\n"  # 3: unknown user
        + f"{a.id},,,astrology,mon,,08:00,20:00,\n"  # 4: unknown specialty
        + f"{a.id},,,radiology,funday,,08:00,20:00,\n"  # 5: bad day
        + f"{a.id},,,radiology,,2026-02-30,08:00,20:00,\n"  # 6: bad date
        + f"{a.id},,,radiology,tue,,8am,25:00,\n"  # 7: bad from and to
        + f"{a.id},,,radiology,tue,,08:00,08:00,\n"  # 8: from == to
        + f"{a.id},,,radiology,mon,,08:00,20:00,yes\n"  # 9: duplicate of 2
        + f"{hw.id},,,radiology,mon,,08:00,20:00,\n"  # 10: not a specialist
        + f"{a.id},,,radiology,wed,,08:00,20:00,no\n"  # 11: weekly off
        + f"{a.id},,,radiology,wed,2026-01-07,08:00,20:00,\n"  # 12: both day and date
        + ",,,radiology,thu,,08:00,20:00,\n"  # 13: nobody
        + ",XYZ 1,,radiology,thu,,08:00,20:00,\n"  # 14: unknown registration
        + f"{a.id},,,radiology,thu,,08:00,20:00,maybe\n"  # 15: bad available
    ).encode()
    result = await csvs.import_csv(data)
    assert not result.ok
    assert places(result) == [
        (3, "user_id", rc.UNKNOWN_USER),
        (4, "specialty", rc.UNKNOWN_SPECIALTY),
        (5, "day", rc.BAD_DAY),
        (6, "date", rc.BAD_DATE),
        (7, "from", rc.BAD_TIME),
        (7, "to", rc.BAD_TIME),
        (8, "to", rc.SAME_TIMES),
        (9, None, rc.DUPLICATE),
        (10, "user_id", rc.NOT_SPECIALIST),
        (11, "available", rc.WEEKLY_OFF),
        (12, "date", rc.DAY_OR_DATE),
        (13, "user_id", rc.NO_SPECIALIST),
        (14, "registration_number", rc.UNKNOWN_REGISTRATION),
        (15, "available", rc.BAD_AVAILABLE),
    ]
    assert result.problems[7].english() == "line 9: The same shift is already on line 2."
    assert result.problems[0].english() == "line 3, column user_id: Nobody has the user id 999999."
    # Nothing changed: the old roster is intact.
    assert [v.when for v in await rosters.list_shifts()] == ["Mon 09:00-17:00"]


async def test_header_problems(csvs: RosterCsv) -> None:
    result = await csvs.import_csv(b"who,specialty,day,from,colour\n1,radiology,mon,08:00\n")
    assert places(result) == [
        (1, "who", rc.UNKNOWN_COLUMN),
        (1, "colour", rc.UNKNOWN_COLUMN),
        (1, "user_id", rc.MISSING_COLUMN),
        (1, "to", rc.MISSING_COLUMN),
    ]
    assert places(await csvs.import_csv(b"")) == [(0, None, rc.EMPTY)]
    assert places(await csvs.import_csv(b"\x00\x01PK\x03")) == [(0, None, rc.NOT_TEXT)]


async def test_limits(csvs: RosterCsv) -> None:
    big = HEADER.encode() + b"x" * rc.MAX_BYTES
    assert places(await csvs.import_csv(big)) == [(0, None, rc.TOO_LARGE)]
    many = HEADER + "1,,,radiology,mon,,08:00,20:00,\n" * (rc.MAX_ROWS + 1)
    assert places(await csvs.import_csv(many.encode())) == [(0, None, rc.TOO_MANY_ROWS)]


async def test_excel_files_bom_semicolons_seconds_and_utf16(
    csvs: RosterCsv, rosters: RosterService, factory: Factory
) -> None:
    a = await factory.specialist(name="डॉ. मीरा")
    excel = (
        "\ufeffUser_ID;Name;Specialty;Day;From;To\r\n"
        f"{a.id};डॉ. मीरा;radiology;mon;8:00:00;20:00:00\r\n"
    )
    result = await csvs.import_csv(excel.encode("utf-8"))
    assert result.ok, result.problems
    assert [v.when for v in await rosters.list_shifts()] == ["Mon 08:00-20:00"]
    unicode_text = f"user_id\tspecialty\tday\tfrom\tto\r\n{a.id}\tradiology\ttue\t09:00\t10:00\r\n"
    result = await csvs.import_csv(unicode_text.encode("utf-16"))
    assert result.ok and result.weekly == 1
    assert decode("Dr. Müller".encode("cp1252")) == "Dr. Müller"


async def test_registration_numbers_ambiguous_or_contradicting(
    csvs: RosterCsv, factory: Factory, db: Database
) -> None:
    a = await factory.specialist()
    b = await factory.specialist()  # the factory gives both MMC-1
    c = await factory.specialist()
    await set_registration(db, c.id, "KMC 9")
    data = (
        HEADER
        + ",MMC-1,,radiology,mon,,08:00,20:00,\n"
        + f"{a.id},KMC 9,,radiology,mon,,08:00,20:00,\n"
        + f"{b.id},MMC 1,,radiology,tue,,08:00,20:00,\n"
    ).encode()
    result = await csvs.import_csv(data)
    assert places(result) == [
        (2, "registration_number", rc.AMBIGUOUS_REGISTRATION),
        (3, "registration_number", rc.MISMATCH),
    ]


async def test_export_escapes_formulas_and_imports_back(
    csvs: RosterCsv, rosters: RosterService, factory: Factory
) -> None:
    a = await factory.specialist(name="=HYPERLINK(1)")
    await rosters.add_weekly(a.id, "radiology", 0, "20:00", "08:00")
    await rosters.add_override(a.id, "radiology", date(2026, 1, 1), "00:00", "24:00")
    await rosters.add_override(a.id, "radiology", date(2026, 3, 1), "10:00", "12:00")
    exported = await csvs.export_csv(since=date(2026, 2, 1))
    assert exported.startswith("\ufeff".encode())
    text = exported.decode("utf-8-sig")
    assert "'=HYPERLINK(1)" in text
    assert "2026-01-01" not in text and "2026-03-01" in text
    before = await rosters.list_shifts()
    result = await csvs.import_csv(exported)
    assert result.ok and result.overrides == 0 and result.overrides_present == 1
    assert [(v.when, v.specialist_id) for v in await rosters.list_shifts()] == [
        (v.when, v.specialist_id) for v in before
    ]


_minutes = st.integers(0, 24 * 60 - 1).map(lambda m: m - m % 15)
_row = st.tuples(
    st.integers(0, 2),  # which specialist
    st.sampled_from(["radiology", "medicine", "paediatrics"]),
    st.one_of(st.integers(0, 6), st.dates(date(2026, 1, 1), date(2027, 12, 31))),
    _minutes,
    st.one_of(_minutes, st.just(24 * 60)),
    st.booleans(),
)


@settings(
    max_examples=30,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture],
)
@given(rows=st.lists(_row, max_size=25))
async def test_round_trip(
    rows: list[tuple[int, str, int | date, int, int, bool]],
    csvs: RosterCsv,
    rosters: RosterService,
    factory: Factory,
    db: Database,
) -> None:
    """File → import → export gives back the same shifts, and export → import is a no-op."""
    people = [await factory.specialist(name=f"Dr {n}") for n in range(3)]
    lines, expected = [HEADER], set()
    for who, specialty, when, start, end, available in rows:
        if start == end:
            continue
        weekly = isinstance(when, int)
        if weekly:
            available = True
        day = WEEKDAYS[when] if isinstance(when, int) else ""
        on = when.isoformat() if isinstance(when, date) else ""
        cells = [str(people[who].id), "", "", specialty, day, on]
        cells += [format_hhmm(start), format_hhmm(end), "yes" if available else "no"]
        key = (people[who].id, specialty, day, on, format_hhmm(start), format_hhmm(end), available)
        if key in expected:
            continue
        expected.add(key)
        lines.append(",".join(cells) + "\n")
    async with db.transaction() as session:  # a clean roster for each example
        await session.execute(Shift.__table__.delete())
    result = await csvs.import_csv("".join(lines).encode())
    assert result.ok, result.problems
    exported = await csvs.export_csv()
    got = set()
    for record in csv.DictReader(io.StringIO(exported.decode("utf-8-sig"))):
        got.add(
            (
                int(record["user_id"]),
                record["specialty"],
                record["day"],
                record["date"],
                record["from"],
                record["to"],
                record["available"] == "yes",
            )
        )
    assert got == expected
    again = await csvs.import_csv(exported)
    assert again.ok and again.overrides == 0
    assert await csvs.export_csv() == exported
    async with db.transaction() as session:
        assert await session.scalar(select(func.count(User.id)).where(User.role == Role.SPECIALIST))


def test_parse_is_pure_and_reports_extra_cells() -> None:
    rows, problems = parse((HEADER + "1,,,radiology,mon,,08:00,20:00,yes,surprise\n").encode())
    assert rows == [] and [(p.line, p.message) for p in problems] == [(2, rc.EXTRA_CELLS)]


@pytest.fixture
def cli_env(settings: Settings, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)  # no stray .env
    monkeypatch.setenv("DATA_DIR", str(settings.data_dir))
    monkeypatch.setenv("DATABASE_URL", settings.database_url)
    monkeypatch.delenv("ROSTER_TIMEZONE", raising=False)


async def test_cli_import_and_export(
    cli_env: None,
    factory: Factory,
    rosters: RosterService,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    a = await factory.specialist(name="Dr A")
    bad = tmp_path / "bad.csv"
    bad.write_text(HEADER + f"{a.id},,,radiology,someday,,08:00,20:00,\n")
    code = await asyncio.to_thread(roster_cli.main, ["import", str(bad)])
    _, err = capsys.readouterr()
    assert code == 1
    assert "line 2, column day: someday is not a day of the week" in err
    assert "nothing imported (1 problem)" in err
    good = tmp_path / "good.csv"
    good.write_text(HEADER + f"{a.id},,,radiology,mon,,08:00,20:00,\n")
    code = await asyncio.to_thread(roster_cli.main, ["import", str(good)])
    out, _ = capsys.readouterr()
    assert code == 0 and "imported: 1 weekly shifts" in out
    assert [v.when for v in await rosters.list_shifts()] == ["Mon 08:00-20:00"]
    code = await asyncio.to_thread(roster_cli.main, ["export"])
    out, _ = capsys.readouterr()
    assert code == 0 and f"{a.id},MMC-1,Dr A,radiology,mon,,08:00,20:00,yes" in out
    target = tmp_path / "out.csv"
    code = await asyncio.to_thread(roster_cli.main, ["export", str(target)])
    assert code == 0 and target.read_bytes().startswith("\ufeff".encode())
    code = await asyncio.to_thread(roster_cli.main, ["import", str(tmp_path / "missing.csv")])
    assert code == 2 and "cannot read" in capsys.readouterr().err
