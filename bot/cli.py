"""``sampark``: the bot, its sandbox and demo, the database, invites, keys and images."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import importlib
import logging
import signal
import sys
from collections.abc import Callable, Coroutine, Sequence
from typing import TYPE_CHECKING, Any

from bot import logs
from bot.config import ConfigError, Settings, load_settings
from bot.domain import SPECIALTIES, Role

if TYPE_CHECKING:
    from bot.web.webhook import WebhookConfig

log = logging.getLogger("sampark")

#: Subcommands implemented by their own module's ``main(argv) -> int`` (module, help).
DELEGATED: dict[str, tuple[str, str]] = {
    "preview": ("bot.imaging.cli_preview", "render previews of DICOM files, photos, zips"),
    "deid": ("bot.imaging.cli_deid", "de-identify a DICOM file or folder"),
    "keys": ("bot.security.rotation", "master keys: `keys rotate`, `keys status`"),
    "roster": (
        "bot.cases.roster_cli",
        "on-call rosters: `roster add|list|remove|oncall|import|export`",
    ),
    "broadcast": (
        "bot.cases.broadcast_cli",
        "broadcasts and alerts: `broadcast send|report|cancel`",
    ),
    "stats": ("bot.cases.stats_cli", "district statistics, CSV export and chart"),
    "links": ("bot.security.links_cli", "capability links: `links list|revoke|revoke-closed`"),
}


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="sampark", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    run = sub.add_parser("run", help="run the bot against Telegram (or TELEGRAM_API_BASE)")
    run.add_argument(
        "--webhook",
        metavar="URL",
        help="receive updates by webhook at this https URL (default WEBHOOK_URL; else polling)",
    )

    sandbox = sub.add_parser("sandbox", help="Bot API emulator + bot on localhost, to try it out")
    sandbox.add_argument("--port", type=int, default=8081, help="emulator port (default 8081)")

    demo = sub.add_parser("demo", help="play a scripted scenario through the emulator")
    demo.add_argument("--json", action="store_true", help="print the transcript as JSON")
    demo.add_argument("--lang", default="hi", help="the health worker's language (default hi)")

    sub.add_parser("health", help="exit 0 when the database schema is current and Redis answers")

    db = sub.add_parser("db", help="database schema")
    db.add_argument("action", choices=["upgrade", "current"])

    invite = sub.add_parser("invite", help="create or revoke invite links")
    invite_sub = invite.add_subparsers(dest="action", required=True)
    create = invite_sub.add_parser("create", help="print a new invite's deep link")
    create.add_argument("--role", required=True, choices=[r.value for r in Role])
    create.add_argument("--district")
    create.add_argument("--facility", help="bind to this facility of --district (added if new)")
    create.add_argument("--specialty", choices=sorted(SPECIALTIES))
    create.add_argument("--uses", type=int, default=1, help="how many people may use it")
    create.add_argument("--expires", default="7d", help="lifetime, e.g. 7d, 12h, 30m")
    create.add_argument(
        "--preapproved", action="store_true", help="redeemers are active without approval"
    )
    revoke = invite_sub.add_parser("revoke", help="cancel an invite")
    revoke.add_argument("code")

    facility = sub.add_parser("facility", help="the district's facilities (spokes)")
    facility_sub = facility.add_subparsers(dest="action", required=True)
    add = facility_sub.add_parser("add", help="add a facility")
    add.add_argument("name")
    add.add_argument("--district", required=True)
    listing = facility_sub.add_parser("list", help="list a district's facilities")
    listing.add_argument("--district", required=True)

    for name, (_module, help_text) in DELEGATED.items():
        sub.add_parser(name, help=help_text, add_help=False)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    if argv and argv[0] in DELEGATED:
        module = importlib.import_module(DELEGATED[argv[0]][0])
        return int(module.main(argv[1:]))
    args = _parser().parse_args(argv)
    try:
        settings = load_settings()
        logs.configure(settings.log_level, settings.log_json)
        command: Callable[[Settings, argparse.Namespace], Coroutine[Any, Any, int]] = COMMANDS[
            args.command
        ]
        return asyncio.run(command(settings, args))
    except ConfigError as exc:
        print(f"sampark: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        return 130


async def _run(settings: Settings, args: argparse.Namespace) -> int:
    from bot.app import build_runtime, serve

    settings.require_token()
    webhook = _webhook_config(settings, args.webhook)
    runtime = await build_runtime(settings)
    try:
        await serve(runtime, _stop_on_signals(), webhook=webhook)
    finally:
        await runtime.close()
    return 0


def _webhook_config(settings: Settings, url: str | None) -> WebhookConfig | None:
    """``--webhook`` (or ``WEBHOOK_URL``) checked, with ``WEBHOOK_SECRET`` or a new secret."""
    from bot.web.webhook import WebhookConfig

    url = url or settings.webhook_url
    if not url:
        return None
    secret = settings.webhook_secret.get_secret_value() if settings.webhook_secret else None
    try:
        return WebhookConfig.parse(url, secret)
    except ValueError as exc:
        raise ConfigError(f"--webhook: {exc}") from None


async def _sandbox(settings: Settings, args: argparse.Namespace) -> int:
    from bot.sandbox.demo import run_sandbox

    return await run_sandbox(settings, port=args.port, stop=_stop_on_signals())


async def _demo(settings: Settings, args: argparse.Namespace) -> int:
    from bot.sandbox.demo import run_demo

    return await run_demo(settings, as_json=args.json, language=args.lang)


async def _db(settings: Settings, args: argparse.Namespace) -> int:
    from bot.storage.database import Database

    settings.data_dir.mkdir(parents=True, exist_ok=True)
    db = Database(settings.effective_database_url)
    try:
        if args.action == "upgrade":
            await db.upgrade()
        print(f"schema revision: {await db.current_revision() or 'none'}")
    finally:
        await db.dispose()
    return 0


async def _health(settings: Settings, _args: argparse.Namespace) -> int:
    from bot.storage.database import Database, SchemaOutOfDate
    from bot.storage.kv import KeyValue, make_redis

    db, kv = Database(settings.effective_database_url), KeyValue(make_redis(settings.redis_url))
    try:
        await db.prepare(auto_upgrade_empty=False)
        redis_ok = await kv.ping()
    except (SchemaOutOfDate, OSError) as exc:
        print(f"unhealthy: {exc}", file=sys.stderr)
        return 1
    finally:
        await kv.close()
        await db.dispose()
    print("ok" if redis_ok else "unhealthy: redis does not answer")
    return 0 if redis_ok else 1


async def _invite(settings: Settings, args: argparse.Namespace) -> int:
    from bot.accounts.invites import deep_link, parse_ttl
    from bot.app import build_services, close_services

    db, kv, services = await build_services(settings)
    try:
        if args.action == "revoke":
            found = await services.invites.revoke(args.code)
            print("revoked" if found else "no such invite")
            return 0 if found else 1
        try:
            if args.facility and not args.district:
                raise ValueError("--facility needs --district")
            facility = (
                await services.facilities.add(args.facility, args.district)
                if args.facility
                else None
            )
            made = await services.invites.create(
                Role(args.role),
                district=args.district,
                facility_id=facility.id if facility else None,
                specialty=args.specialty,
                uses=args.uses,
                ttl=parse_ttl(args.expires),
                preapproved=args.preapproved,
            )
        except ValueError as exc:
            print(f"sampark: {exc}", file=sys.stderr)
            return 2
        print(deep_link(settings.bot_username, made.code))
        return 0
    finally:
        await close_services(db, kv, services)


async def _facility(settings: Settings, args: argparse.Namespace) -> int:
    from bot.app import build_services, close_services

    db, kv, services = await build_services(settings)
    try:
        if args.action == "add":
            made = await services.facilities.add(args.name, args.district)
            print(f"{made.id}\t{made.name}\t{made.district}")
        else:
            for row in await services.facilities.in_district(args.district):
                print(f"{row.id}\t{row.name}\t{row.district}")
        return 0
    except ValueError as exc:
        print(f"sampark: {exc}", file=sys.stderr)
        return 2
    finally:
        await close_services(db, kv, services)


def _stop_on_signals() -> asyncio.Event:
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGINT, signal.SIGTERM):
        with contextlib.suppress(NotImplementedError):
            loop.add_signal_handler(signum, stop.set)
    return stop


COMMANDS = {
    "run": _run,
    "sandbox": _sandbox,
    "demo": _demo,
    "db": _db,
    "health": _health,
    "invite": _invite,
    "facility": _facility,
}

if __name__ == "__main__":
    raise SystemExit(main())
