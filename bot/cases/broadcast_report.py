"""A broadcast's delivery report: its text and buttons, and the message that keeps itself current.

When the coordinator's report message is known (``BroadcastService.set_report_message``),
a chain of durable broadcast timers (payload ``{"broadcast_id", "report": message id}``,
handed here by ``BroadcastService.fire``) re-reads the counts every
``EVERY`` and, only if the text changed, queues an ``editMessageText`` through the outbox
one priority step ahead of the broadcast it reports on. When nothing is queued any more a
last edit is made and the chain ends; an alert's report keeps following its "Seen" taps
for ``ALERT_WATCH`` at a slower pace. Timers fire once across processes, so two bots do
not both edit, and at most one edit per ``EVERY`` keeps well inside Telegram's limits.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from datetime import datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from bot.cases.broadcast_views import BroadcastStatus, BroadcastView, DeliveryReport, Kind
from bot.cases.escalation import Timers
from bot.i18n import N_, Catalogs, Translator
from bot.outbox import Message, Outbox, Priority
from bot.storage.database import Database
from bot.storage.models import Broadcast, User

#: The broadcasts' timer kind (scheduled sends and report refreshes share it).
TIMER_KIND = "broadcast"
#: (broadcast id) → its view (None if gone) and its current counts.
ReadReport = Callable[[int], Awaitable[tuple[BroadcastView | None, DeliveryReport]]]

INDIA = ZoneInfo("Asia/Kolkata")  # the time zone for schedules
EVERY = timedelta(seconds=5)
ALERT_EVERY = timedelta(seconds=60)
ALERT_WATCH = timedelta(hours=1)

STATUS_LABELS = {
    BroadcastStatus.DRAFT: N_("draft"),
    BroadcastStatus.SCHEDULED: N_("scheduled"),
    BroadcastStatus.SENDING: N_("sending"),
    BroadcastStatus.DONE: N_("done"),
    BroadcastStatus.CANCELLED: N_("cancelled"),
}


def kind_label(tr: Translator, kind: Kind) -> str:
    return tr._("Alert (must be acknowledged)") if kind is Kind.ALERT else tr._("Broadcast")


def report_text(tr: Translator, b: BroadcastView, report: DeliveryReport) -> str:
    """The report in the reader's language."""
    lines = [
        tr._(
            "{kind} #{id}: {status}",
            kind=kind_label(tr, b.kind),
            id=b.id,
            status=tr._(STATUS_LABELS[b.status]),
        ),
        tr._(
            "Recipients {n} · queued {queued} · sent {sent} · blocked {blocked} · failed {failed}",
            n=report.recipients,
            queued=report.queued,
            sent=report.sent,
            blocked=report.blocked,
            failed=report.failed,
        ),
    ]
    if b.status is BroadcastStatus.SCHEDULED and b.scheduled_at is not None:
        at = b.scheduled_at.astimezone(INDIA)
        if b.weekly:
            lines.append(
                tr._(
                    "Every {weekday} at {time} (India time), first on {date}.",
                    weekday=tr.date(at.date(), "EEEE"),
                    time=at.strftime("%H:%M"),
                    date=tr.date(at.date(), "d MMM"),
                )
            )
        else:
            lines.append(
                tr._(
                    "Goes on {date} at {time} (India time).",
                    date=tr.date(at.date(), "EEE d MMM"),
                    time=at.strftime("%H:%M"),
                )
            )
    if report.cancelled:
        lines.append(tr._("Cancelled before sending: {n}", n=report.cancelled))
    if b.is_alert:
        lines.append(tr._("Seen by {seen} of {n}.", seen=report.seen, n=report.recipients))
    if report.replies:
        lines.append(tr.ngettext("{n} reply.", "{n} replies.", report.replies))
    return "\n".join(lines)


def _button(text: str, b: BroadcastView, action: str) -> dict[str, str]:
    return {"text": text, "callback_data": f"bc:{b.id}:{action}:0"}


def report_markup(tr: Translator, b: BroadcastView, report: DeliveryReport) -> dict[str, Any]:
    """The report's buttons as Bot API JSON."""
    rows = [[_button(tr._("Refresh report"), b, "report")]]
    if report.replies:
        rows.append([_button(tr._("All replies"), b, "replies")])
    if b.is_alert and b.status is not BroadcastStatus.CANCELLED:
        rows.append([_button(tr._("Resend to those who haven't seen it"), b, "resend")])
    if b.status in (BroadcastStatus.SENDING, BroadcastStatus.SCHEDULED):
        rows.append([_button(tr._("Stop sending"), b, "stop")])
    return {"inline_keyboard": rows}


def refresh_payload(broadcast_id: int, message_id: int) -> dict[str, Any]:
    """A refresh timer's payload: it serves this report message only."""
    return {"broadcast_id": broadcast_id, "report": message_id}


class LiveReports:
    """Refresh timers: edit the author's report message while its counts change."""

    def __init__(self, db: Database, outbox: Outbox, catalogs: Catalogs, read: ReadReport):
        self.db = db
        self.outbox = outbox
        self.catalogs = catalogs
        self.read = read

    async def fire(self, timer_id: int, payload: dict[str, Any], now: datetime) -> bool:
        """Claim once; queue an edit if the text changed; come back while it may change."""
        bid = int(payload.get("broadcast_id", 0))
        view, report = await self.read(bid)  # marks a finished broadcast done
        edited = False
        async with self.db.transaction() as session:
            claimed = await Timers.claim_in(session, timer_id, now)
            if claimed is None:
                return False
            row = await session.get(Broadcast, bid)
            if (
                view is None
                or row is None
                or row.report_chat_id is None
                or row.report_message_id != payload.get("report")
            ):
                return True  # another message took over (or none): this chain ends
            author = await session.get(User, row.author_id) if row.author_id else None
            tr = self.catalogs.get(author.language if author else None)
            text = report_text(tr, view, report)
            if text != payload.get("last"):
                edited = True
                edit = Message(
                    row.report_chat_id,
                    "editMessageText",
                    {
                        "message_id": row.report_message_id,
                        "text": text,
                        "reply_markup": report_markup(tr, view, report),
                    },
                    # one step ahead of what it reports on, or it would wait behind it
                    Priority.CLINICAL if view.is_alert else Priority.ALERT,
                    dedupe_key=f"bcreport:{bid}:{timer_id}",
                )
                await self.outbox.enqueue([edit], session=session)
            following = _next_at(view, report, now)
            if following is not None:
                Timers.add(session, TIMER_KIND, None, following, {**payload, "last": text})
        if edited:
            self.outbox.notify(Priority.ALERT)
        return True


def _next_at(view: BroadcastView, report: DeliveryReport, now: datetime) -> datetime | None:
    """When to look again: soon while sending; an alert's "Seen" taps for a while after."""
    if view.status is BroadcastStatus.CANCELLED:
        return None
    if report.queued:
        return now + EVERY
    if view.is_alert and view.sent_at is not None and now < view.sent_at + ALERT_WATCH:
        return now + ALERT_EVERY
    return None
