"""``sampark broadcast``: send, schedule, cancel and report broadcasts from the command line.

Examples::

    sampark broadcast send --text en="Clinic closed on Monday" --text ta="திங்கள் கிளினிக் மூடப்படும்" \
        --text hi="सोमवार को क्लिनिक बंद" --role health_worker --district Pune
    sampark broadcast send --alert --text-en "Road to Khed closed" --district Pune
    sampark broadcast send --text-en "Vaccination camp today" --at 2026-12-04T09:00 --weekly
    sampark broadcast report 12        # counts, then the latest replies
    sampark broadcast cancel 12

Messages go into the outbox; the running bot's sender delivers them within its rate
limits. Each recipient gets the text of their language, else the English one (required);
``--text-en`` and ``--text-hi`` are the same as ``--text en=…`` and ``--text hi=…``.
``--at`` without an offset is wall-clock time in ``ROSTER_TIMEZONE`` (Asia/Kolkata unless
configured).
"""

from __future__ import annotations

import argparse
import sys
from datetime import datetime
from zoneinfo import ZoneInfo

from bot.cases.broadcasts import BroadcastError, BroadcastService, Kind
from bot.cases.escalation import Timers
from bot.clitools import run_cli
from bot.clock import SystemClock
from bot.config import Settings
from bot.domain import SPECIALTIES, Role
from bot.i18n import LANGUAGE_NAMES, Catalogs
from bot.outbox import Outbox
from bot.storage.database import Database


class _Parser(argparse.ArgumentParser):
    """An argument parser that raises instead of exiting, so ``main`` returns a status."""

    def error(self, message: str) -> None:  # type: ignore[override]
        raise BroadcastError(f"{message}\n{self.format_usage().strip()}")


def _parser() -> argparse.ArgumentParser:
    parser = _Parser(prog="sampark broadcast", description="broadcasts and alerts")
    sub = parser.add_subparsers(dest="action", required=True, metavar="ACTION")

    send = sub.add_parser("send", help="send (or schedule) a broadcast to a segment")
    send.add_argument(
        "--text",
        action="append",
        default=[],
        metavar="LANG=TEXT",
        help="the text in one language, e.g. ta=… (repeatable; en required; "
        f"languages: {', '.join(LANGUAGE_NAMES)}); readers of a language without one get English",
    )
    send.add_argument("--text-en", help="the English text (same as --text en=TEXT)")
    send.add_argument("--text-hi", help="the Hindi text (same as --text hi=TEXT)")
    send.add_argument("--role", action="append", choices=[r.value for r in Role], default=[])
    send.add_argument("--district", action="append", default=[])
    send.add_argument("--facility", action="append", type=int, default=[], metavar="ID")
    send.add_argument("--specialty", action="append", choices=sorted(SPECIALTIES), default=[])
    send.add_argument("--language", action="append", default=[])
    send.add_argument("--alert", action="store_true", help="high priority with a Seen button")
    send.add_argument("--at", metavar="ISO", help="send later, e.g. 2026-12-04T09:00")
    send.add_argument("--weekly", action="store_true", help="with --at: repeat every week")

    report = sub.add_parser("report", help="delivery counts of a broadcast")
    report.add_argument("broadcast_id", type=int)

    cancel = sub.add_parser("cancel", help="stop a scheduled or running broadcast")
    cancel.add_argument("broadcast_id", type=int)
    return parser


def _parse_at(text: str, zone: str) -> datetime:
    try:
        at = datetime.fromisoformat(text)
    except ValueError as exc:
        raise BroadcastError(f"--at: not an ISO date and time: {text!r}") from exc
    return at if at.tzinfo is not None else at.replace(tzinfo=ZoneInfo(zone))


async def _run(settings: Settings, args: argparse.Namespace) -> int:
    db = Database(settings.effective_database_url)
    try:
        await db.prepare()
        clock = SystemClock()
        service = BroadcastService(
            db, clock, Outbox(db, clock), Timers(db, clock), Catalogs(settings.locales_dir)
        )
        if args.action == "send":
            return await _send(service, settings, args)
        if args.action == "cancel":
            if await service.get(args.broadcast_id) is None:
                print(f"sampark broadcast: no broadcast {args.broadcast_id}", file=sys.stderr)
                return 1
            dropped = await service.cancel(args.broadcast_id)
            print(f"cancelled broadcast {args.broadcast_id}; {dropped} queued messages dropped")
            return 0
        view = await service.get(args.broadcast_id)
        if view is None:
            print(f"sampark broadcast: no broadcast {args.broadcast_id}", file=sys.stderr)
            return 1
        report = await service.report(args.broadcast_id)
        view = await service.get(args.broadcast_id)
        assert view is not None
        print(f"broadcast {view.id} ({view.kind}): {view.status}")
        print(
            f"recipients {report.recipients}\tqueued {report.queued}\tsent {report.sent}\t"
            f"blocked {report.blocked}\tfailed {report.failed}\tcancelled {report.cancelled}"
        )
        if view.is_alert:
            print(f"seen {report.seen} of {report.recipients}")
        print(f"replies {report.replies}")
        for reply in await service.replies.latest(view.id):
            where = f", {reply.facility}" if reply.facility else ""
            print(f"  {reply.created_at:%Y-%m-%d %H:%M} {reply.name} ({reply.role_label}{where}):")
            print("    " + reply.text.replace("\n", "\n    "))
        return 0
    finally:
        await db.dispose()


def _texts(args: argparse.Namespace) -> dict[str, str]:
    """``--text LANG=TEXT`` (and ``--text-en``/``--text-hi``) as ``{language: text}``."""
    given = [item.partition("=") for item in args.text]
    given += [("en", "=", args.text_en)] if args.text_en is not None else []
    given += [("hi", "=", args.text_hi)] if args.text_hi is not None else []
    texts: dict[str, str] = {}
    for language, equals, text in given:
        language = language.strip().lower()
        if not equals or language not in LANGUAGE_NAMES:
            raise BroadcastError(
                f"--text: expected LANG=TEXT with LANG one of {', '.join(LANGUAGE_NAMES)}; "
                f"got {language + equals + text[:20]!r}"
            )
        if language in texts:
            raise BroadcastError(f"--text: two texts for {language!r}")
        if not text.strip():
            raise BroadcastError(f"--text: the {language!r} text is empty")
        texts[language] = text
    if "en" not in texts:
        raise BroadcastError("an English text is required: --text en=TEXT (or --text-en TEXT)")
    return texts


async def _send(service: BroadcastService, settings: Settings, args: argparse.Namespace) -> int:
    if args.weekly and not args.at:
        raise BroadcastError("--weekly needs --at")
    texts = _texts(args)
    segment = {
        "roles": args.role,
        "districts": args.district,
        "facilities": args.facility,
        "specialties": args.specialty,
        "languages": args.language,
    }
    kind = Kind.ALERT if args.alert else Kind.BROADCAST
    bid = await service.create(None, kind, segment=segment, texts=texts)
    if args.at:
        at = _parse_at(args.at, settings.roster_timezone)
        await service.schedule(bid, at, weekly=args.weekly)
        print(
            f"broadcast {bid} scheduled for {at.isoformat()}" + (" weekly" if args.weekly else "")
        )
        return 0
    queued = await service.send(bid)
    print(f"broadcast {bid}: {queued} messages queued")
    return 0


def main(argv: list[str]) -> int:
    """Entry point of ``sampark broadcast …``; returns the exit status, never a traceback."""
    return run_cli("broadcast", _parser(), _run, argv, usage_errors=(BroadcastError,))
