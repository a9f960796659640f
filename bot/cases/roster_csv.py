"""The roster as a CSV file a district coordinator can fill in a spreadsheet.

Format (one header line, then one row per shift; column order is free, names are not
case-sensitive; ``,`` ``;`` or tab as separator)::

    user_id,registration_number,name,specialty,day,date,from,to,available
    7,KMC 123456,Dr. Meera Iyer,radiology,mon,,08:00,20:00,yes
    ,KMC 654321,Dr. Arjun Rao,radiology,mon,,20:00,08:00,yes
    7,,,radiology,,2026-12-25,00:00,24:00,no

- ``user_id`` (Sampark's user id, not a Telegram id) or ``registration_number`` (the
  medical council number the specialist registered with; spaces, dots and dashes are
  ignored) says who; when both are given they must be the same person. ``name`` is for
  people reading the sheet and is ignored on import.
- ``specialty``: a code (``radiology``, ``medicine``, …) or its English name.
- Exactly one of ``day`` (``mon`` … ``sun``: every week) and ``date`` (``2026-12-25`` or
  ``25/12/2026``, day first: that date only, an *override*).
- ``from`` / ``to``: wall-clock ``HH:MM`` in the roster time zone (``08:00:00`` from a
  spreadsheet is fine); ``to`` may be ``24:00``; a ``to`` not after ``from`` crosses
  midnight; ``from`` equal to ``to`` is an error.
- ``available``: ``yes`` (default when empty) or ``no``; ``no`` only on ``date`` rows
  (the specialist is off call in that window, whatever the specialty).

Import checks the whole file first and reports every problem with its line (the header
is line 1) and column; nothing is changed unless the file is clean. A clean file is applied
in one transaction: for each specialty that has ``day`` rows, its weekly roster is replaced
by the file's rows; ``date`` rows are added, except those already in the roster (so
importing an export changes nothing). Other specialties are untouched. Overrides are
removed in the bot or with ``sampark roster remove``.

Limits: 1 MB and 5,000 rows. UTF-8 with or without a byte order mark (Excel's "CSV
UTF-8"), UTF-16 with a byte order mark (Excel's "Unicode text"), otherwise Windows-1252.
Export writes UTF-8 with a byte order mark so Excel shows names correctly, and prefixes
cells that a spreadsheet would run as a formula with ``'`` (stripped again on import).
"""

from __future__ import annotations

import csv
import io
import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import date, datetime

from sqlalchemy import delete, select, text
from sqlalchemy.ext.asyncio import AsyncSession

from bot.cases.rosters import (
    DAY_MINUTES,
    WEEKDAYS,
    RosterService,
    format_hhmm,
)
from bot.domain import SPECIALTIES, Role, Status
from bot.i18n import N_
from bot.storage import audit
from bot.storage.models import Shift, User

MAX_BYTES = 1_000_000
MAX_ROWS = 5_000
COLUMNS = (
    "user_id",
    "registration_number",
    "name",
    "specialty",
    "day",
    "date",
    "from",
    "to",
    "available",
)
REQUIRED = ("specialty", "from", "to")
YES = {"yes", "y", "true", "1", "on", ""}
NO = {"no", "n", "false", "0", "off"}
_TIME = re.compile(r"^(\d{1,2}):(\d{2})(?::(\d{2}))?$")
_DMY = re.compile(r"^(\d{1,2})[/.-](\d{1,2})[/.-](\d{4})$")
_FORMULA_START = ("=", "+", "-", "@", "\t", "\r")
_MAX_CELL = 200
_LOCK = 0x526F73746572  # "Roster": the advisory lock of imports (PostgreSQL)

#: Problems, worded for people (translated where shown; ``{placeholders}`` filled then).
TOO_LARGE = N_("The file is larger than {limit} KB.")
TOO_MANY_ROWS = N_("The file has more than {limit} rows.")
NOT_TEXT = N_("This is not a CSV text file.")
EMPTY = N_("The file is empty.")
MISSING_COLUMN = N_("The column {column} is missing from the header.")
UNKNOWN_COLUMN = N_("Unknown column {column}.")
REPEATED_COLUMN = N_("The column {column} appears twice.")
EXTRA_CELLS = N_("This row has more cells than the header.")
NO_SPECIALIST = N_("Give a user_id or a registration_number.")
BAD_USER_ID = N_("{value} is not a user id (a whole number).")
UNKNOWN_USER = N_("Nobody has the user id {value}.")
NOT_SPECIALIST = N_("User {value} is not a specialist.")
INACTIVE_SPECIALIST = N_("Specialist {value} was rejected or suspended.")
UNKNOWN_REGISTRATION = N_("No specialist has the registration number {value}.")
AMBIGUOUS_REGISTRATION = N_(
    "Several specialists have the registration number {value}; use user_id."
)
MISMATCH = N_("The user_id and the registration_number belong to different people.")
UNKNOWN_SPECIALTY = N_("Unknown specialty {value}.")
DAY_OR_DATE = N_("Give either a day or a date, not both.")
NEITHER_DAY_NOR_DATE = N_("Give a day (mon … sun) or a date (2026-12-25).")
BAD_DAY = N_("{value} is not a day of the week (mon … sun).")
BAD_DATE = N_("{value} is not a date like 2026-12-25 or 25/12/2026.")
BAD_TIME = N_("{value} is not a time like 08:00 or 20:30.")
SAME_TIMES = N_("A shift cannot start and end at the same time.")
BAD_AVAILABLE = N_("{value} is not yes or no.")
WEEKLY_OFF = N_("available=no is for one date, not for every week.")
DUPLICATE = N_("The same shift is already on line {line}.")
TOO_LONG = N_("This cell is longer than {limit} characters.")


@dataclass(frozen=True)
class CsvProblem:
    """One problem: where (``line`` 1 = header; 0 = the whole file), what, and with what."""

    line: int
    column: str | None
    message: str
    values: dict[str, str | int] = field(default_factory=dict)

    def english(self) -> str:
        """The problem in English with its place, as the CLI prints it."""
        return f"{self.where()}: {self.message.format(**self.values)}"

    def where(self) -> str:
        if self.line == 0:
            return "file"
        if self.column is None:
            return f"line {self.line}"
        return f"line {self.line}, column {self.column}"


@dataclass(frozen=True)
class CsvRow:
    """One valid row, resolved to a specialist."""

    line: int
    specialist_id: int
    specialty: str
    weekday: int | None
    on_date: date | None
    start: int
    end: int
    available: bool

    def key(self) -> tuple[object, ...]:
        return (
            self.specialist_id,
            self.specialty,
            self.weekday,
            self.on_date,
            self.start,
            self.end,
            self.available,
        )


@dataclass(frozen=True)
class ImportResult:
    """What an import did, or why it did nothing (``problems`` non-empty)."""

    problems: tuple[CsvProblem, ...] = ()
    weekly: int = 0
    overrides: int = 0
    overrides_present: int = 0
    replaced: int = 0
    specialties: tuple[str, ...] = ()

    @property
    def ok(self) -> bool:
        return not self.problems


@dataclass
class _Parsed:
    """A row after parsing, before specialists are looked up."""

    line: int
    user_id: int | None
    registration: str | None
    specialty: str
    weekday: int | None
    on_date: date | None
    start: int
    end: int
    available: bool


def normalise_registration(text: str) -> str:
    """``KMC 123-456`` and ``kmc123456`` are the same registration number."""
    return re.sub(r"[\s./-]", "", text).upper()


def decode(data: bytes) -> str:
    """Bytes of a CSV file as text: UTF-16 or UTF-8 (BOM or not), else Windows-1252."""
    if data.startswith((b"\xff\xfe", b"\xfe\xff")):
        return data.decode("utf-16")
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError:
        return data.decode("cp1252", errors="replace")


def _unescape(cell: str) -> str:
    cell = cell.strip()
    if cell.startswith("'") and cell[1:2] in _FORMULA_START:
        return cell[1:]
    return cell


def _escape(cell: str) -> str:
    return "'" + cell if cell.startswith(_FORMULA_START) else cell


def _specialty(text: str) -> str | None:
    key = text.strip().lower()
    if key in SPECIALTIES:
        return key
    for code, label in SPECIALTIES.items():
        if key == label.lower():
            return code
    return None


def _time(text: str, *, end: bool) -> int | None:
    match = _TIME.match(text.strip())
    if not match:
        return None
    hours, minutes, seconds = int(match[1]), int(match[2]), int(match[3] or 0)
    if seconds:
        return None
    if end and (hours, minutes) == (24, 0):
        return DAY_MINUTES
    if hours > 23 or minutes > 59:
        return None
    return hours * 60 + minutes


def _date(text: str) -> date | None:
    text = text.strip()
    try:
        return date.fromisoformat(text)
    except ValueError:
        pass
    match = _DMY.match(text)
    if match:
        try:
            return date(int(match[3]), int(match[2]), int(match[1]))
        except ValueError:
            return None
    return None


def _weekday(text: str) -> int | None:
    key = text.strip().lower()
    for index, name in enumerate(WEEKDAYS):
        if key in (name, _FULL_DAYS[index]):
            return index
    return None


_FULL_DAYS = ("monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday")


def _sniff_delimiter(header: str) -> str:
    counts = {d: header.count(d) for d in (",", ";", "\t")}
    best = max(counts, key=lambda d: counts[d])
    return best if counts[best] else ","


def parse(data: bytes) -> tuple[list[_Parsed], list[CsvProblem]]:
    """Rows and problems of a file, without the database (specialists not yet resolved)."""
    if len(data) > MAX_BYTES:
        return [], [CsvProblem(0, None, TOO_LARGE, {"limit": MAX_BYTES // 1000})]
    text = decode(data)
    if "\x00" in text:
        return [], [CsvProblem(0, None, NOT_TEXT)]
    if not text.strip():
        return [], [CsvProblem(0, None, EMPTY)]
    first_line = text.lstrip("\ufeff").splitlines()[0]
    reader = csv.reader(io.StringIO(text.lstrip("\ufeff")), delimiter=_sniff_delimiter(first_line))
    problems: list[CsvProblem] = []
    try:
        header_cells = next(reader)
    except csv.Error:
        return [], [CsvProblem(1, None, NOT_TEXT)]
    header = [cell.strip().lower() for cell in header_cells]
    columns: dict[str, int] = {}
    for index, name in enumerate(header):
        if not name:
            continue
        if name not in COLUMNS:
            problems.append(CsvProblem(1, name[:40], UNKNOWN_COLUMN, {"column": name[:40]}))
        elif name in columns:
            problems.append(CsvProblem(1, name, REPEATED_COLUMN, {"column": name}))
        else:
            columns[name] = index
    for name in REQUIRED:
        if name not in columns:
            problems.append(CsvProblem(1, name, MISSING_COLUMN, {"column": name}))
    if "user_id" not in columns and "registration_number" not in columns:
        problems.append(CsvProblem(1, "user_id", MISSING_COLUMN, {"column": "user_id"}))
    if "day" not in columns and "date" not in columns:
        problems.append(CsvProblem(1, "day", MISSING_COLUMN, {"column": "day"}))
    if problems:
        return [], problems
    rows: list[_Parsed] = []
    seen: dict[tuple[object, ...], int] = {}
    count = 0
    try:
        for cells in reader:
            line = reader.line_num
            if not any(cell.strip() for cell in cells):
                continue
            count += 1
            if count > MAX_ROWS:
                return [], [CsvProblem(0, None, TOO_MANY_ROWS, {"limit": MAX_ROWS})]
            parsed = _parse_row(line, cells, len(header), columns, problems)
            if parsed is None:
                continue
            key = (
                parsed.user_id,
                parsed.registration,
                parsed.specialty,
                parsed.weekday,
                parsed.on_date,
                parsed.start,
                parsed.end,
                parsed.available,
            )
            if key in seen:
                problems.append(CsvProblem(line, None, DUPLICATE, {"line": seen[key]}))
                continue
            seen[key] = line
            rows.append(parsed)
    except csv.Error:
        problems.append(CsvProblem(reader.line_num, None, NOT_TEXT))
    return rows, problems


def _parse_row(
    line: int,
    cells: list[str],
    width: int,
    columns: dict[str, int],
    problems: list[CsvProblem],
) -> _Parsed | None:
    before = len(problems)
    if any(cell.strip() for cell in cells[width:]):
        problems.append(CsvProblem(line, None, EXTRA_CELLS))

    def cell(name: str) -> str:
        index = columns.get(name)
        value = _unescape(cells[index]) if index is not None and index < len(cells) else ""
        if len(value) > _MAX_CELL:
            problems.append(CsvProblem(line, name, TOO_LONG, {"limit": _MAX_CELL}))
            return ""
        return value

    def problem(column: str, message: str, value: str | None = None) -> None:
        values: dict[str, str | int] = {} if value is None else {"value": value[:60]}
        problems.append(CsvProblem(line, column, message, values))

    user_text, registration = cell("user_id"), cell("registration_number")
    user_id: int | None = None
    if user_text:
        if user_text.isdigit() and len(user_text) < 12:
            user_id = int(user_text)
        else:
            problem("user_id", BAD_USER_ID, user_text)
    elif not registration:
        problem("user_id", NO_SPECIALIST)
    specialty_text = cell("specialty")
    specialty = _specialty(specialty_text)
    if specialty is None:
        problem("specialty", UNKNOWN_SPECIALTY, specialty_text or "—")
    day_text, date_text = cell("day"), cell("date")
    weekday = on_date = None
    if day_text and date_text:
        problem("date", DAY_OR_DATE)
    elif day_text:
        weekday = _weekday(day_text)
        if weekday is None:
            problem("day", BAD_DAY, day_text)
    elif date_text:
        on_date = _date(date_text)
        if on_date is None:
            problem("date", BAD_DATE, date_text)
    else:
        problem("day" if "day" in columns else "date", NEITHER_DAY_NOR_DATE)
    start_text, end_text = cell("from"), cell("to")
    start = _time(start_text, end=False)
    if start is None:
        problem("from", BAD_TIME, start_text or "—")
    end = _time(end_text, end=True)
    if end is None:
        problem("to", BAD_TIME, end_text or "—")
    if start is not None and start == end:
        problem("to", SAME_TIMES)
    available_text = cell("available").lower()
    available = True
    if available_text in NO:
        available = False
        if day_text and not date_text:
            problem("available", WEEKLY_OFF)
    elif available_text not in YES:
        problem("available", BAD_AVAILABLE, available_text)
    if len(problems) > before:
        return None
    if specialty is None or start is None or end is None:  # reported above
        return None
    return _Parsed(
        line,
        user_id,
        normalise_registration(registration) if registration else None,
        specialty,
        weekday,
        on_date,
        start,
        end,
        available,
    )


class RosterCsv:
    """Imports and exports the roster as CSV; built on the roster service's database."""

    def __init__(self, rosters: RosterService) -> None:
        self.rosters = rosters

    async def import_csv(self, data: bytes, *, actor: int | None = None) -> ImportResult:
        """Validate the whole file, then apply it in one transaction (or not at all)."""
        parsed, problems = parse(data)
        if problems and not parsed:
            return ImportResult(problems=tuple(sorted(problems, key=_order)))
        async with self.rosters.db.transaction() as session:
            if session.get_bind().dialect.name == "postgresql":
                # Two imports at once would each keep their own rows: one at a time.
                await session.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": _LOCK})
            rows = await self._resolve(session, parsed, problems)
            if problems:
                return ImportResult(problems=tuple(sorted(problems, key=_order)))
            return await self._apply(session, rows, actor)

    async def _resolve(
        self, session: AsyncSession, parsed: list[_Parsed], problems: list[CsvProblem]
    ) -> list[CsvRow]:
        ids = {p.user_id for p in parsed if p.user_id is not None}
        by_id: dict[int, User] = {}
        if ids:
            found = await session.scalars(select(User).where(User.id.in_(ids)))
            by_id = {u.id: u for u in found}
        by_registration: dict[str, list[User]] = {}
        if any(p.registration for p in parsed):
            specialists = await session.scalars(
                select(User).where(
                    User.role == Role.SPECIALIST, User.registration_number.is_not(None)
                )
            )
            for specialist in specialists:
                key = normalise_registration(specialist.registration_number or "")
                by_registration.setdefault(key, []).append(specialist)
        rows: list[CsvRow] = []
        seen: dict[tuple[object, ...], int] = {}
        for p in parsed:
            user = self._who(p, by_id, by_registration, problems)
            if user is None:
                continue
            row = CsvRow(
                p.line, user.id, p.specialty, p.weekday, p.on_date, p.start, p.end, p.available
            )
            if row.key() in seen:  # the same person named once by id, once by number
                problems.append(CsvProblem(p.line, None, DUPLICATE, {"line": seen[row.key()]}))
                continue
            seen[row.key()] = p.line
            rows.append(row)
        return rows

    @staticmethod
    def _who(
        p: _Parsed,
        by_id: dict[int, User],
        by_registration: dict[str, list[User]],
        problems: list[CsvProblem],
    ) -> User | None:
        user: User | None = None
        column = "user_id"
        if p.user_id is not None:
            user = by_id.get(p.user_id)
            if user is None:
                problems.append(CsvProblem(p.line, column, UNKNOWN_USER, {"value": str(p.user_id)}))
                return None
        if p.registration is not None:
            matches = by_registration.get(p.registration, [])
            if user is not None:
                if user not in matches:
                    problems.append(CsvProblem(p.line, "registration_number", MISMATCH))
                    return None
            else:
                column = "registration_number"
                if not matches:
                    problems.append(
                        CsvProblem(p.line, column, UNKNOWN_REGISTRATION, {"value": p.registration})
                    )
                    return None
                if len(matches) > 1:
                    problems.append(
                        CsvProblem(
                            p.line, column, AMBIGUOUS_REGISTRATION, {"value": p.registration}
                        )
                    )
                    return None
                user = matches[0]
        assert user is not None
        if user.role != Role.SPECIALIST:
            problems.append(CsvProblem(p.line, column, NOT_SPECIALIST, {"value": str(user.id)}))
            return None
        if user.status in (Status.REJECTED, Status.SUSPENDED):
            problems.append(
                CsvProblem(p.line, column, INACTIVE_SPECIALIST, {"value": str(user.id)})
            )
            return None
        return user

    async def _apply(
        self, session: AsyncSession, rows: list[CsvRow], actor: int | None
    ) -> ImportResult:
        weekly = [r for r in rows if r.weekday is not None]
        overrides = [r for r in rows if r.on_date is not None]
        specialties = sorted({r.specialty for r in weekly})
        replaced = 0
        if specialties:
            result = await session.execute(
                delete(Shift).where(Shift.specialty.in_(specialties), Shift.on_date.is_(None))
            )
            replaced = int(result.rowcount)  # type: ignore[attr-defined]
        for r in weekly:
            session.add(_shift(r))
        existing: set[tuple[object, ...]] = set()
        if overrides:
            found = await session.scalars(
                select(Shift).where(
                    Shift.on_date.is_not(None),
                    Shift.specialist_id.in_({r.specialist_id for r in overrides}),
                )
            )
            existing = {_key(shift) for shift in found}
        added = present = 0
        for r in overrides:
            if _key(_shift(r)) in existing:
                present += 1
                continue
            session.add(_shift(r))
            added += 1
        await session.flush()
        audit.record(
            session,
            self.rosters.clock.now(),
            "roster.import",
            actor=actor,
            specialties=specialties,
            weekly=len(weekly),
            replaced=replaced,
            overrides=added,
        )
        return ImportResult(
            weekly=len(weekly),
            overrides=added,
            overrides_present=present,
            replaced=replaced,
            specialties=tuple(specialties),
        )

    async def export_csv(self, *, since: date | None = None) -> bytes:
        """Every weekly shift and the overrides dated ``since`` or later (all if None).

        UTF-8 with a byte order mark; ``import_csv`` of the result changes nothing.
        """
        async with self.rosters.db.transaction() as session:
            query = select(Shift, User).join(User, User.id == Shift.specialist_id)
            rows = (await session.execute(query)).all()
        kept = [
            (s, u)
            for s, u in rows
            if s.on_date is None or since is None or s.on_date >= since.isoformat()
        ]
        kept.sort(
            key=lambda su: (
                su[0].specialty,
                su[0].on_date is not None,
                su[0].weekday if su[0].weekday is not None else 0,
                su[0].on_date or "",
                su[0].start_minute,
                su[1].full_name,
                su[0].id,
            )
        )
        return render(kept)

    def today(self, at: datetime | None = None) -> date:
        """Today in the roster time zone."""
        return self.rosters.local(at or self.rosters.clock.now()).date()


def render(rows: Iterable[tuple[Shift, User]]) -> bytes:
    """CSV bytes (UTF-8 with BOM) for shift rows with their specialists."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\r\n")
    writer.writerow(COLUMNS)
    for shift, user in rows:
        writer.writerow(
            [
                str(user.id),
                _escape(user.registration_number or ""),
                _escape(user.full_name),
                shift.specialty,
                WEEKDAYS[shift.weekday] if shift.weekday is not None else "",
                shift.on_date or "",
                format_hhmm(shift.start_minute),
                format_hhmm(shift.end_minute),
                "yes" if shift.available else "no",
            ]
        )
    return ("\ufeff" + out.getvalue()).encode("utf-8")


def _shift(r: CsvRow) -> Shift:
    return Shift(
        specialist_id=r.specialist_id,
        specialty=r.specialty,
        weekday=r.weekday,
        on_date=r.on_date.isoformat() if r.on_date else None,
        start_minute=r.start,
        end_minute=r.end,
        available=r.available,
    )


def _key(shift: Shift) -> tuple[object, ...]:
    return (
        shift.specialist_id,
        shift.specialty,
        shift.on_date,
        shift.start_minute,
        shift.end_minute,
        bool(shift.available),
    )


def _order(problem: CsvProblem) -> tuple[int, int]:
    column = COLUMNS.index(problem.column) if problem.column in COLUMNS else -1
    return (problem.line, column)
