"""The chat side of report reminders: rendered in each reader's language, queued in the
outbox at clinical priority (implements ``bot.cases.reminders.ReminderNotifier``)."""

from __future__ import annotations

from datetime import timedelta

from babel.dates import format_timedelta
from telegram import InlineKeyboardButton, InlineKeyboardMarkup

from bot.accounts.directory import UserView
from bot.cases.views import CaseView
from bot.handlers import callbacks
from bot.handlers.notifier import text_message, urgency_label
from bot.i18n import Catalogs
from bot.outbox import Outbox


class TelegramReminderNotifier:
    """Queues the reminder for the health worker and the alert for coordinators."""

    def __init__(self, catalogs: Catalogs, outbox: Outbox) -> None:
        self.catalogs = catalogs
        self.outbox = outbox

    async def remind_health_worker(self, case: CaseView, health_worker: UserView) -> None:
        tr = self.catalogs.get(health_worker.language)
        button = InlineKeyboardButton(
            tr._("✅ Received"), callback_data=callbacks.make("ack", case.id)
        )
        text = tr._(
            "⏰ The report on case {code} is waiting for you. Please read it and tap Received.",
            code=case.code,
        )
        await self.outbox.enqueue(
            [
                text_message(
                    health_worker.telegram_id,
                    text,
                    InlineKeyboardMarkup([[button]]),
                    dedupe_key=f"report-reminder:{case.id}",
                )
            ]
        )

    async def alert_coordinators(
        self, case: CaseView, coordinators: list[UserView], waited: timedelta
    ) -> None:
        # The case's card and history (``/cases``), labelled with the code only.
        history = InlineKeyboardMarkup(
            [[InlineKeyboardButton(case.code, callback_data=callbacks.make("cl", "c", case.id))]]
        )
        rows = []
        for coordinator in coordinators:
            tr = self.catalogs.get(coordinator.language)
            text = tr._(
                "⚠️ Case {code} ({urgency}): the health worker has not acknowledged "
                "the report for {waited}.",
                code=case.code,
                urgency=urgency_label(tr, case),
                waited=format_timedelta(waited, locale=tr.locale, threshold=1.5),
            )
            rows.append(
                text_message(
                    coordinator.telegram_id,
                    text,
                    history,
                    dedupe_key=f"report-unacknowledged:{case.id}:{coordinator.id}",
                )
            )
        if rows:
            await self.outbox.enqueue(rows)
