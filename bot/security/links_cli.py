"""``sampark links``: list and revoke capability links from the command line.

Examples::

    sampark links list --case K7M-4QX
    sampark links revoke 42 --reason "phone lost"
    sampark links revoke-closed --days 30

Revocation is immediate: the next request with the link gets the "no longer valid" page.
Every revocation is audited (``link.revoke``, no user: the operator at the console).
"""

from __future__ import annotations

import argparse
import asyncio
import sys

from bot.clitools import run_cli
from bot.clock import SystemClock
from bot.config import Settings
from bot.security.capability_links import LinkService, LinkView
from bot.security.keys import KeyRingError, open_keyring
from bot.storage.database import Database
from bot.storage.kv import KeyValue, make_redis


class LinksCliError(Exception):
    """A usage error; printed as one line, exit status 2."""


class _Parser(argparse.ArgumentParser):
    """An argument parser that raises instead of exiting, so ``main`` returns a status."""

    def error(self, message: str) -> None:  # type: ignore[override]
        raise LinksCliError(f"{message}\n{self.format_usage().strip()}")


def _parser() -> argparse.ArgumentParser:
    parser = _Parser(prog="sampark links", description="capability links to studies")
    sub = parser.add_subparsers(dest="action", required=True, metavar="ACTION")
    revoke = sub.add_parser("revoke", help="revoke one link by its id")
    revoke.add_argument("link_id", type=int, metavar="LINK_ID")
    revoke.add_argument("--reason", default="revoked by operator", help="recorded in the audit")
    listing = sub.add_parser("list", help="the links of a case")
    listing.add_argument("--case", required=True, metavar="CODE", help="case code, e.g. K7M-4QX")
    closed = sub.add_parser("revoke-closed", help="revoke links of cases closed N days ago")
    closed.add_argument("--days", type=int, required=True, metavar="N")
    return parser


def describe(view: LinkView) -> str:
    """One line per link: id, state, recipient, permissions, times."""
    rights = "+".join(
        name for name, on in (("view", view.can_view), ("download", view.can_download)) if on
    )
    line = (
        f"{view.id}\t{view.state}\t{view.recipient_name} (user {view.recipient_user_id})\t"
        f"{rights}\texpires {view.expires_at:%Y-%m-%d %H:%M}Z"
    )
    if view.last_used_at is not None:
        line += f"\tlast used {view.last_used_at:%Y-%m-%d %H:%M}Z"
    if view.revoked_at is not None:
        line += f"\trevoked {view.revoked_at:%Y-%m-%d %H:%M}Z ({view.revoke_reason})"
    return line


async def _run(settings: Settings, args: argparse.Namespace) -> int:
    secret = settings.master_keys.get_secret_value() if settings.master_keys else None
    keyring = await asyncio.to_thread(open_keyring, settings.effective_keys_file, secret)
    db = Database(settings.effective_database_url)
    kv = KeyValue(make_redis(settings.redis_url))
    try:
        await db.prepare()
        links = LinkService(db, SystemClock(), keyring, kv)
        if args.action == "revoke":
            if await links.revoke(args.link_id, by_user_id=None, reason=args.reason):
                print(f"revoked link {args.link_id}")
                return 0
            print(f"sampark links: no live link with id {args.link_id}", file=sys.stderr)
            return 1
        if args.action == "list":
            case_id = await links.case_id_for_code(args.case)
            if case_id is None:
                print(f"sampark links: no case {args.case}", file=sys.stderr)
                return 1
            views = await links.links_for_case(case_id)
            print("\n".join(describe(v) for v in views) if views else "no links")
            return 0
        if args.days < 0:
            raise LinksCliError("--days must be 0 or more")
        count = await links.revoke_closed(args.days)
        print(f"revoked {count} link{'s' * (count != 1)}")
        return 0
    finally:
        await kv.close()
        await db.dispose()


def main(argv: list[str]) -> int:
    """Entry point of ``sampark links …``; returns the exit status, never a traceback."""
    return run_cli(
        "links", _parser(), _run, argv, usage_errors=(LinksCliError,), fatal_errors=(KeyRingError,)
    )
