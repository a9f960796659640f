"""The composition root: settings → storage → services → the PTB application."""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from aiohttp import web
from redis.asyncio import Redis
from telegram import Update
from telegram.ext import Application, ApplicationBuilder, ContextTypes

from bot import handlers
from bot.accounts.directory import Directory
from bot.accounts.facilities import FacilityService
from bot.accounts.guard import UpdateGuard
from bot.accounts.invites import InviteService
from bot.accounts.onboarding import Onboarding
from bot.cases.attachments import AttachmentService
from bot.cases.broadcasts import BROADCAST, BroadcastService
from bot.cases.cancel import CancelService
from bot.cases.case_list import CaseListService
from bot.cases.compose import ComposeService
from bot.cases.coverage import GAP_REPORT, CoverageService, DailyGaps
from bot.cases.drafts import DraftService
from bot.cases.escalation import Escalator, Timers
from bot.cases.offers import OfferService
from bot.cases.ports import MessageRef
from bot.cases.questions import QuestionService
from bot.cases.reminders import REPORT_REMINDER, ReportReminders
from bot.cases.reports import ReportService
from bot.cases.rosters import RosterService
from bot.cases.statistics import StatisticsService
from bot.cases.uploads import UploadService
from bot.clock import Clock, SystemClock
from bot.config import Settings
from bot.handlers import menus
from bot.handlers.cancel import TelegramCancelNotifier
from bot.handlers.context import Ctx, attach
from bot.handlers.notifier import TelegramCaseNotifier
from bot.handlers.processing import PerChatUpdateProcessor
from bot.handlers.reminders import TelegramReminderNotifier
from bot.handlers.rosters import TelegramGapNotifier
from bot.handlers.sender import DirectSendTap, OutboxSender, SenderOptions, attachment_files
from bot.handlers.uploads import TelegramUploadNotifier
from bot.i18n import Catalogs
from bot.imaging.worker import WorkerPool
from bot.outbox import Outbox, SendBudget, SendLimits
from bot.security.blobstore import LocalBlobStore
from bot.security.capability_links import LinkService
from bot.security.fields import FieldCipher
from bot.security.keys import open_keyring
from bot.services import Services
from bot.storage.database import Database
from bot.storage.kv import KeyValue, make_redis
from bot.web import assets, viewer
from bot.web import uploads as web_uploads
from bot.web.ops import database_check, database_gauges, directory_check, ops_setup, redis_check
from bot.web.server import Setup, build_web_app
from bot.web.webhook import UpdateSink, WebhookConfig, webhook_setup

log = logging.getLogger(__name__)

PtbApp = Application[Any, Any, Any, Any, Any, Any]


@dataclass
class Runtime:
    """Everything one bot process owns; ``close`` releases it."""

    settings: Settings
    db: Database
    kv: KeyValue
    services: Services
    application: PtbApp
    budget: SendBudget
    web_url: str | None = None  # where the web side listens, once ``serve`` started it

    async def close(self) -> None:
        await close_services(self.db, self.kv, self.services)


async def close_services(db: Database, kv: KeyValue, services: Services) -> None:
    """Release what ``build_services`` opened: worker processes, Redis, the database."""
    await asyncio.to_thread(services.attachments.pool.close)
    await kv.close()
    await db.dispose()


async def build_services(
    settings: Settings, *, clock: Clock | None = None, redis: Redis | None = None
) -> tuple[Database, KeyValue, Services]:
    """Storage and services, with the database schema ready."""
    settings.data_dir.mkdir(parents=True, exist_ok=True)
    db = Database(settings.effective_database_url)
    await db.prepare()
    kv = KeyValue(redis if redis is not None else make_redis(settings.redis_url))
    clock = clock or SystemClock()
    secret = settings.master_keys.get_secret_value() if settings.master_keys else None
    keyring = await asyncio.to_thread(open_keyring, settings.effective_keys_file, secret)
    invites = InviteService(db, clock)
    directory = Directory(db, clock)
    blobs = LocalBlobStore(settings.blob_dir, keyring)
    fields = FieldCipher(keyring)
    pool = WorkerPool(settings.imaging_workers)
    catalogs = Catalogs(settings.locales_dir)
    attachments = AttachmentService(db, clock, blobs, pool, keyring)
    outbox = Outbox(db, clock)
    notifier = TelegramCaseNotifier(catalogs, clock, attachments, directory, outbox)
    rosters = RosterService(db, clock, settings.roster_timezone)
    timers = Timers(db, clock)
    offers = OfferService(db, clock, rosters, notifier, settings, timers=timers)
    gap_notifier = TelegramGapNotifier(catalogs, directory, outbox)
    daily_gaps = DailyGaps(CoverageService(rosters), timers, gap_notifier, at="07:00")
    broadcasts = BroadcastService(db, clock, outbox, timers, catalogs)
    drafts = DraftService(db, clock, directory, fields)
    links = LinkService(
        db, clock, keyring, kv, default_ttl=timedelta(hours=settings.link_ttl_hours)
    )
    reminders = ReportReminders(
        db,
        clock,
        timers,
        directory,
        TelegramReminderNotifier(catalogs, outbox),
        emergency=timedelta(minutes=settings.report_reminder_emergency_minutes),
        urgent=timedelta(minutes=settings.report_reminder_urgent_minutes),
    )
    uploads = UploadService(
        db,
        clock,
        keyring,
        blobs,
        attachments,
        max_bytes=settings.upload_max_mb * 1024 * 1024,
        ttl=timedelta(hours=settings.upload_ttl_hours),
        notifier=TelegramUploadNotifier(catalogs, outbox, attachments, drafts),
    )
    services = Services(
        settings=settings,
        clock=clock,
        catalogs=catalogs,
        guard=UpdateGuard(kv),
        directory=directory,
        facilities=FacilityService(db),
        invites=invites,
        onboarding=Onboarding(db, clock, invites),
        blobs=blobs,
        fields=fields,
        drafts=drafts,
        attachments=attachments,
        rosters=rosters,
        offers=offers,
        escalator=Escalator(
            timers,
            offers,
            fire={
                GAP_REPORT: daily_gaps.fire,
                BROADCAST: broadcasts.fire,
                REPORT_REMINDER: reminders.fire,
            },
        ),
        compose=ComposeService(db, clock),
        reports=ReportService(db, clock, hooks=reminders),
        questions=QuestionService(db, clock),
        notifier=notifier,
        outbox=outbox,
        statistics=StatisticsService(db, clock, settings.roster_timezone),
        daily_gaps=daily_gaps,
        gap_notifier=gap_notifier,
        links=links,
        broadcasts=broadcasts,
        uploads=uploads,
        case_list=CaseListService(db, clock),
        cancellations=CancelService(
            db, clock, offers, links, notifier, TelegramCancelNotifier(catalogs, outbox), timers
        ),
    )
    return db, kv, services


def web_setups() -> list[Setup]:
    """The feature modules mounted on the web side (see ``bot.web.server.build_web_app``)."""
    return [web_uploads.setup, assets.setup, viewer.setup]


def send_budget(settings: Settings, kv: KeyValue) -> SendBudget:
    """The token's send budget, shared in Redis by every process."""
    limits = SendLimits(
        global_rate=settings.send_rate_per_second,
        private_rate=settings.send_private_per_second,
        group_rate=settings.send_group_per_minute / 60.0,
    )
    return SendBudget(kv.redis, limits)


def build_application(settings: Settings, services: Services, budget: SendBudget) -> PtbApp:
    """The PTB application, pointed at ``TELEGRAM_API_BASE``, with every handler."""
    api = settings.telegram_api_base

    async def post_init(application: PtbApp) -> None:
        await menus.set_defaults(application.bot, services.catalogs)

    application: PtbApp = (
        ApplicationBuilder()
        .token(settings.require_token())
        .base_url(f"{api}/bot")
        .base_file_url(f"{api}/file/bot")
        .context_types(ContextTypes(context=Ctx))
        # What the bot sends on its own goes through the outbox (bot.handlers.sender);
        # direct replies go at once but are counted in the same shared budget.
        .rate_limiter(DirectSendTap(budget))
        # Different chats concurrently, one chat's updates in order.
        .concurrent_updates(PerChatUpdateProcessor())
        .post_init(post_init)
        .build()
    )
    attach(application, services)
    handlers.register(application)
    return application


def build_sender(runtime: Runtime) -> OutboxSender:
    """The outbox sender for this process: one shared budget in Redis for the token."""
    settings, services = runtime.settings, runtime.services
    offers = services.offers

    async def offer_receipt(receipt: dict[str, Any], ref: MessageRef | None) -> None:
        await offers.offer_sent(int(receipt["case_id"]), int(receipt["specialist_id"]), ref)

    return OutboxSender(
        services.outbox,
        runtime.budget,
        runtime.application.bot,
        files=attachment_files(services.attachments),
        receipts={"offer": offer_receipt},
        on_blocked=services.directory.mark_unreachable,
        clock=services.clock,
        options=SenderOptions(max_attempts=settings.send_retries + 1),
    )


async def build_runtime(
    settings: Settings, *, clock: Clock | None = None, redis: Redis | None = None
) -> Runtime:
    db, kv, services = await build_services(settings, clock=clock, redis=redis)
    budget = send_budget(settings, kv)
    application = build_application(settings, services, budget)
    return Runtime(settings, db, kv, services, application, budget)


def update_sink(application: PtbApp) -> UpdateSink:
    """How the webhook receiver hands an update to PTB: parsed, then queued (not awaited)."""

    async def put(data: dict[str, Any]) -> None:
        try:
            update = Update.de_json(data, application.bot)
        except (KeyError, TypeError) as exc:
            raise ValueError("malformed update") from exc
        await application.update_queue.put(update)

    return put


def ops_web_setup(runtime: Runtime) -> Setup:
    """``/healthz`` (database, Redis, blob store) and ``/metrics`` for this process."""
    checks = {
        "database": database_check(runtime.db),
        "redis": redis_check(runtime.kv),
        "storage": directory_check(runtime.settings.blob_dir),
    }
    settings = runtime.settings
    token = settings.metrics_token.get_secret_value() if settings.metrics_token else None
    return ops_setup(
        checks,
        database_gauges(runtime.db),
        timeout=settings.health_timeout_seconds,
        token=token,
    )


async def start_web(runtime: Runtime, webhook: WebhookConfig | None) -> web.AppRunner:
    """The aiohttp side on ``WEB_HOST:WEB_PORT``: features, operations, the webhook route."""
    setups = [*web_setups(), ops_web_setup(runtime)]
    if webhook is not None:
        setups.append(webhook_setup(webhook, update_sink(runtime.application)))
    app = build_web_app(runtime.services, setups)
    runner = web.AppRunner(app, access_log=None, shutdown_timeout=5.0)
    await runner.setup()
    settings = runtime.settings
    try:
        await web.TCPSite(runner, settings.web_host, settings.web_port).start()
    except BaseException:
        await runner.cleanup()
        raise
    host, port = runner.addresses[0][:2]
    runtime.web_url = f"http://{host}:{port}"
    log.info("web side listening", extra={"url": runtime.web_url})
    return runner


async def serve(
    runtime: Runtime,
    stop: asyncio.Event,
    *,
    poll_timeout: int = 10,
    ready: asyncio.Event | None = None,
    webhook: WebhookConfig | None = None,
) -> None:
    """Receive updates until ``stop`` is set, then shut down cleanly; ``ready`` once receiving.

    The web side always runs (viewer, uploads, ``/healthz``, ``/metrics``). Updates come by
    long polling, or with ``webhook`` by Telegram posting to the receiver route: the
    webhook is set (with its secret) after the route is up and pending updates are kept.
    """
    application = runtime.application
    async with application:
        if application.post_init:
            await application.post_init(application)
        await application.start()
        try:
            runner = await start_web(runtime, webhook)
            try:
                sending = await _receive_until_stopped(runtime, stop, poll_timeout, ready, webhook)
            finally:
                await runner.cleanup()  # the webhook route stops before the sender
            await sending  # calls in flight are settled; queued rows wait for the next start
        finally:
            if application.running:  # updates already received (polled or posted) are handled
                await application.stop()


async def _receive_until_stopped(
    runtime: Runtime,
    stop: asyncio.Event,
    poll_timeout: int,
    ready: asyncio.Event | None,
    webhook: WebhookConfig | None,
) -> asyncio.Task[None]:
    """Updates, timers and the sender until ``stop``; returns the sender, still finishing."""
    application = runtime.application
    assert application.updater is not None
    if webhook is None:
        await application.updater.start_polling(timeout=poll_timeout, drop_pending_updates=False)
        log.info("bot polling", extra={"api": runtime.settings.telegram_api_base})
    else:
        await application.bot.set_webhook(
            webhook.url, secret_token=webhook.secret, drop_pending_updates=False
        )
        log.info("bot receiving by webhook", extra={"url": webhook.url})
    await runtime.services.daily_gaps.ensure_scheduled()
    escalations = asyncio.create_task(
        runtime.services.escalator.run(stop, runtime.settings.scheduler_interval_seconds)
    )
    sending = asyncio.create_task(build_sender(runtime).run(stop))
    if ready is not None:
        ready.set()
    await stop.wait()
    await escalations
    if application.updater.running:
        await application.updater.stop()
    return sending
