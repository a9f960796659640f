"""``sampark roster``: manage on-call shifts from the command line.

Examples::

    sampark roster add --telegram-id 12345 --specialty radiology --day mon --from 20:00 --to 08:00
    sampark roster add --user-id 7 --specialty radiology --date 2026-12-25 \
        --from 00:00 --to 24:00 --off
    sampark roster list --specialty radiology
    sampark roster remove 12
    sampark roster oncall --specialty radiology --at 2026-12-01T09:30
    sampark roster import roster.csv
    sampark roster export roster.csv      (or to standard output without FILE)

The CSV format is described in ``bot/cases/roster_csv.py`` and ``docs/rosters.md``.

Times are wall-clock in ``ROSTER_TIMEZONE`` (Asia/Kolkata unless configured); so is an
``--at`` without an offset.
"""

from __future__ import annotations

import argparse
import asyncio
import sys
from datetime import date, datetime
from pathlib import Path

from bot.accounts.directory import Directory
from bot.cases.roster_csv import MAX_BYTES, RosterCsv
from bot.cases.rosters import WEEKDAYS, RosterError, RosterService, describe, parse_weekday
from bot.clitools import run_cli
from bot.clock import SystemClock
from bot.config import Settings
from bot.domain import SPECIALTIES
from bot.storage.database import Database


class _Parser(argparse.ArgumentParser):
    """An argument parser that raises instead of exiting, so ``main`` returns a status."""

    def error(self, message: str) -> None:  # type: ignore[override]
        raise RosterError(f"{message}\n{self.format_usage().strip()}")


def _parser() -> argparse.ArgumentParser:
    parser = _Parser(prog="sampark roster", description="on-call rosters")
    sub = parser.add_subparsers(dest="action", required=True, metavar="ACTION")

    add = sub.add_parser("add", help="add a weekly shift or a one-off override")
    who = add.add_mutually_exclusive_group(required=True)
    who.add_argument("--telegram-id", type=int, help="the specialist's Telegram id")
    who.add_argument("--user-id", type=int, help="the specialist's Sampark user id")
    add.add_argument("--specialty", required=True, choices=sorted(SPECIALTIES))
    when = add.add_mutually_exclusive_group(required=True)
    when.add_argument("--day", help="every week on this day: " + ", ".join(WEEKDAYS))
    when.add_argument("--date", help="only on this date, YYYY-MM-DD")
    add.add_argument("--from", dest="start", required=True, metavar="HH:MM")
    add.add_argument("--to", dest="end", required=True, metavar="HH:MM", help="24:00 = midnight")
    add.add_argument("--off", action="store_true", help="with --date: off call in that window")

    listing = sub.add_parser("list", help="list shifts")
    listing.add_argument("--specialty", choices=sorted(SPECIALTIES))

    remove = sub.add_parser("remove", help="delete a shift by its id")
    remove.add_argument("shift_id", type=int)

    importing = sub.add_parser(
        "import", help="replace weekly shifts and add overrides from a CSV file (all or nothing)"
    )
    importing.add_argument("file", metavar="FILE")

    exporting = sub.add_parser("export", help="write the roster as CSV (to FILE or stdout)")
    exporting.add_argument("file", metavar="FILE", nargs="?")
    exporting.add_argument(
        "--all", action="store_true", help="include overrides dated before today"
    )

    oncall = sub.add_parser("oncall", help="who is on call (now, or --at)")
    oncall.add_argument("--specialty", choices=sorted(SPECIALTIES))
    oncall.add_argument("--at", help="ISO date-time, e.g. 2026-12-01T21:30 (roster time zone)")
    return parser


def _parse_date(text: str) -> date:
    try:
        return date.fromisoformat(text)
    except ValueError:
        raise RosterError(f"{text!r} is not a date like 2026-12-25") from None


def _parse_at(text: str | None, rosters: RosterService) -> datetime:
    if text is None:
        return rosters.clock.now()
    try:
        at = datetime.fromisoformat(text)
    except ValueError:
        raise RosterError(f"{text!r} is not a date-time like 2026-12-01T21:30") from None
    return at if at.tzinfo is not None else at.replace(tzinfo=rosters.tz)


async def _run(settings: Settings, args: argparse.Namespace) -> int:
    db = Database(settings.effective_database_url)
    try:
        await db.prepare()
        clock = SystemClock()
        rosters = RosterService(db, clock, settings.roster_timezone)
        if args.action == "add":
            return await _add(rosters, Directory(db, clock), args)
        if args.action == "list":
            lines = describe(await rosters.list_shifts(args.specialty))
            print("\n".join(lines) if lines else "no shifts")
            return 0
        if args.action == "import":
            return await _import(RosterCsv(rosters), args.file)
        if args.action == "export":
            return await _export(RosterCsv(rosters), args.file, include_past=args.all)
        if args.action == "remove":
            if await rosters.remove(args.shift_id):
                print(f"removed shift {args.shift_id}")
                return 0
            print(f"sampark roster: no shift with id {args.shift_id}", file=sys.stderr)
            return 1
        at = _parse_at(args.at, rosters)
        print(f"on call at {rosters.local(at):%a %Y-%m-%d %H:%M %Z}:")
        for specialty in [args.specialty] if args.specialty else sorted(SPECIALTIES):
            people = await rosters.on_call(specialty, at)
            if people or args.specialty:
                names = ", ".join(f"{u.full_name} (user {u.id})" for u in people)
                print(f"{specialty}\t{names or 'nobody'}")
        return 0
    finally:
        await db.dispose()


async def _add(rosters: RosterService, directory: Directory, args: argparse.Namespace) -> int:
    if args.telegram_id is not None:
        user = await directory.by_telegram(args.telegram_id)
        if user is None:
            raise RosterError(f"nobody with Telegram id {args.telegram_id} is registered")
        user_id = user.id
    else:
        user_id = args.user_id
    if args.day is not None:
        if args.off:
            raise RosterError("--off takes someone off for one --date, not every week")
        made = await rosters.add_weekly(
            user_id, args.specialty, parse_weekday(args.day), args.start, args.end
        )
    else:
        made = await rosters.add_override(
            user_id,
            args.specialty,
            _parse_date(args.date),
            args.start,
            args.end,
            available=not args.off,
        )
    print("added " + describe([made])[0])
    return 0


def _read_head(path: str) -> bytes:
    """At most one byte over the import limit, so a huge file is refused, not loaded."""
    with Path(path).open("rb") as handle:
        return handle.read(MAX_BYTES + 1)


async def _import(csvs: RosterCsv, path: str) -> int:
    try:
        data = await asyncio.to_thread(_read_head, path)
    except OSError as exc:
        raise RosterError(f"cannot read {path}: {exc.strerror or exc}") from None
    result = await csvs.import_csv(data)
    if not result.ok:
        for problem in result.problems:
            print(f"{path}: {problem.english()}", file=sys.stderr)
        count = len(result.problems)
        print(
            f"sampark roster: nothing imported ({count} problem{'s' * (count != 1)})",
            file=sys.stderr,
        )
        return 1
    print(
        f"imported: {result.weekly} weekly shifts (replacing {result.replaced}) for "
        f"{', '.join(result.specialties) or 'no specialty'}; {result.overrides} overrides added"
        + (f", {result.overrides_present} already present" if result.overrides_present else "")
    )
    return 0


async def _export(csvs: RosterCsv, path: str | None, *, include_past: bool) -> int:
    data = await csvs.export_csv(since=None if include_past else csvs.today())
    if path is None or path == "-":
        sys.stdout.write(data.decode("utf-8-sig"))
        return 0
    try:
        await asyncio.to_thread(Path(path).write_bytes, data)
    except OSError as exc:
        raise RosterError(f"cannot write {path}: {exc.strerror or exc}") from None
    print(f"wrote {path}")
    return 0


def main(argv: list[str]) -> int:
    """Entry point of ``sampark roster …``; returns the exit status, never a traceback."""
    return run_cli("roster", _parser(), _run, argv, usage_errors=(RosterError,))
