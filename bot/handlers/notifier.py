"""The Telegram side of case events: the services decide, this renders and queues.

Implements ``bot.cases.ports.CaseNotifier``. Nothing is sent from here: every message
becomes a row in the persistent outbox (clinical priority), which the sender delivers
within Telegram's limits. Every clinical message carries ``protect_content``; previews
are referenced by blob id and watermarked for their recipient when sent.
"""

from __future__ import annotations

import logging
from datetime import datetime
from typing import Any

from babel.dates import format_timedelta
from telegram import InlineKeyboardButton, InlineKeyboardMarkup

from bot.accounts.directory import Directory, UserView
from bot.cases.attachments import AttachmentService
from bot.cases.ports import QUEUED, EscalationReason, MessageRef, Queued, WithdrawReason
from bot.cases.views import CaseView
from bot.clock import Clock
from bot.domain import SPECIALTIES, URGENCY_LABELS, Urgency
from bot.handlers import callbacks, case_texts
from bot.handlers.sender import watermark_ref
from bot.i18n import N_, Catalogs, Translator
from bot.outbox import Message, Outbox, Priority

log = logging.getLogger(__name__)
ALBUM_MAX = 10

WITHDRAWN: dict[WithdrawReason, str] = {
    WithdrawReason.TAKEN: N_("Another specialist accepted this case."),
    WithdrawReason.EXPIRED: N_("Not answered in time: the case went to another specialist."),
    WithdrawReason.CANCELLED: N_("This case was cancelled."),
}
ESCALATED: dict[EscalationReason, str] = {
    EscalationReason.NO_ACCEPT: N_(
        "⚠️ Case {code} ({specialty}, {urgency}): no specialist "
        "accepted it in time. Please assign it."
    ),
    EscalationReason.NOBODY_ON_CALL: N_(
        "⚠️ Case {code} ({specialty}, {urgency}): nobody is on "
        "call for this specialty. Please assign it."
    ),
}


def urgency_label(tr: Translator, case: CaseView) -> str:
    urgency = case.urgency or Urgency.ROUTINE
    mark = {"emergency": "🔴 ", "urgent": "🟠 "}.get(urgency.value, "")
    return mark + tr._(URGENCY_LABELS[urgency])


def specialty_label(tr: Translator, case: CaseView) -> str:
    return tr._(SPECIALTIES[case.specialty]) if case.specialty in SPECIALTIES else "—"


def waiting(tr: Translator, case: CaseView, now: datetime) -> str:
    if case.submitted_at is None:
        return "—"
    return format_timedelta(now - case.submitted_at, locale=tr.locale, threshold=1.5)


def case_card(
    tr: Translator,
    case: CaseView,
    now: datetime,
    *,
    burned_in: bool = False,
    study: str | None = None,
) -> str:
    """What a specialist sees of a case: no name, phone or ABHA — only code, age and sex.

    ``study`` is the line with the specialist's link to the whole study, once accepted.
    """
    lines = [
        tr._("Case {code} · {urgency}", code=case.code, urgency=urgency_label(tr, case)),
        tr._("Patient: {value}", value=case_texts.patient_line(tr, case)),
        tr._("Complaint: {value}", value=case.complaint or "—"),
        tr._("History: {value}", value=case.history or "—"),
        tr._("Vitals: {value}", value=case_texts.vitals(tr, case)),
        tr._("Specialty: {value}", value=specialty_label(tr, case)),
        tr._("Waiting: {value}", value=waiting(tr, case, now)),
    ]
    if burned_in:
        lines.append(tr._("⚠️ Names may be written inside some images."))
    lines.append(study or tr._("Full study: a secure link comes when you accept."))
    return "\n".join(lines)


def offer_buttons(tr: Translator, case: CaseView) -> InlineKeyboardMarkup:
    return InlineKeyboardMarkup(
        [
            [
                InlineKeyboardButton(
                    tr._("Accept"), callback_data=callbacks.make("of", "a", case.id)
                ),
                InlineKeyboardButton(
                    tr._("Decline"), callback_data=callbacks.make("of", "d", case.id)
                ),
            ]
        ]
    )


def workspace_buttons(tr: Translator, case: CaseView) -> InlineKeyboardMarkup:
    return InlineKeyboardMarkup(
        [
            [
                InlineKeyboardButton(
                    tr._("Ask a question"), callback_data=callbacks.make("ask", case.id)
                ),
                InlineKeyboardButton(
                    tr._("Write report"), callback_data=callbacks.make("rep", case.id)
                ),
            ]
        ]
    )


def text_message(
    chat_id: int,
    text: str,
    markup: InlineKeyboardMarkup | None = None,
    *,
    priority: Priority = Priority.CLINICAL,
    protect: bool = True,
    dedupe_key: str | None = None,
    receipt: dict[str, Any] | None = None,
) -> Message:
    """A ``sendMessage`` outbox row (buttons stored as their JSON)."""
    params: dict[str, Any] = {"text": text}
    if markup is not None:
        params["reply_markup"] = markup.to_dict()
    if protect:
        params["protect_content"] = True
    return Message(chat_id, "sendMessage", params, priority, dedupe_key, receipt)


class TelegramCaseNotifier:
    """Queues case events in the outbox, rendered in each reader's language."""

    def __init__(
        self,
        catalogs: Catalogs,
        clock: Clock,
        attachments: AttachmentService,
        directory: Directory,
        outbox: Outbox,
    ) -> None:
        self.catalogs = catalogs
        self.clock = clock
        self.attachments = attachments
        self.directory = directory
        self.outbox = outbox

    async def offer(self, case: CaseView, specialist: UserView) -> MessageRef | Queued | None:
        """Previews, voice notes, then the card; the card's receipt stores its ref."""
        tr = self.catalogs.get(specialist.language)
        now = self.clock.now()
        study, burned_in = await self.study(case, specialist, now)
        card = text_message(
            specialist.telegram_id,
            case_card(tr, case, now, burned_in=burned_in),
            offer_buttons(tr, case),
            receipt={"kind": "offer", "case_id": case.id, "specialist_id": specialist.id},
        )
        await self.outbox.enqueue([*study, card])
        return QUEUED

    async def study(
        self, case: CaseView, recipient: UserView, now: datetime
    ) -> tuple[list[Message], bool]:
        """Previews (watermarked for ``recipient`` at send time) as albums, then voice notes.

        Also returns whether any image may carry burned-in identifiers.
        """
        chat = recipient.telegram_id
        previews = await self.attachments.previews(case.id)
        refs = [watermark_ref(p.blob_id, case.code, recipient.full_name, now) for p in previews]
        rows: list[Message] = []
        for start in range(0, len(refs), ALBUM_MAX):
            chunk = refs[start : start + ALBUM_MAX]
            if len(chunk) == 1:
                params = {"photo": chunk[0], "protect_content": True}
                rows.append(Message(chat, "sendPhoto", params, Priority.CLINICAL))
            else:
                params = {"media": chunk, "protect_content": True}
                rows.append(Message(chat, "sendMediaGroup", params, Priority.CLINICAL))
        for blob_id, duration in await self.attachments.voices(case.id):
            params = {"voice": {"blob": blob_id}, "duration": duration, "protect_content": True}
            rows.append(Message(chat, "sendVoice", params, Priority.CLINICAL))
        return rows, any(p.meta.get("burned_in_risk") for p in previews)

    async def offer_withdrawn(
        self, case: CaseView, specialist: UserView, ref: MessageRef, reason: WithdrawReason
    ) -> None:
        tr = self.catalogs.get(specialist.language)
        text = tr._("Case {code}", code=case.code) + "\n\n" + tr._(WITHDRAWN[reason])
        edit = Message(
            ref.chat_id,
            "editMessageText",
            {"message_id": ref.message_id, "text": text},
            Priority.CLINICAL,
            dedupe_key=f"withdraw:{ref.chat_id}:{ref.message_id}",
        )
        await self.outbox.enqueue([edit])

    async def case_accepted(
        self, case: CaseView, specialist: UserView, health_worker: UserView
    ) -> None:
        tr = self.catalogs.get(health_worker.language)
        await self._send(
            health_worker,
            tr._(
                "{name} ({specialty}) accepted case {code}. The report will come here.",
                name=specialist.full_name,
                specialty=specialty_label(tr, case),
                code=case.code,
            ),
        )

    async def escalated(
        self, case: CaseView, coordinators: list[UserView], reason: EscalationReason
    ) -> None:
        specialists = await self.directory.specialists_for(case.specialty)
        for coordinator in coordinators:
            tr = self.catalogs.get(coordinator.language)
            rows = [
                [
                    InlineKeyboardButton(
                        tr._("Assign to {name}", name=s.full_name),
                        callback_data=callbacks.make("asg", case.id, s.id),
                    )
                ]
                for s in specialists[:20]
            ]
            text = tr._(
                ESCALATED[reason],
                code=case.code,
                specialty=specialty_label(tr, case),
                urgency=urgency_label(tr, case),
            )
            await self._send(
                coordinator,
                text,
                InlineKeyboardMarkup(rows) if rows else None,
                key=f"escalated:{case.id}:{case.escalation_level}:{coordinator.id}",
            )

    async def nobody_on_call(self, case: CaseView, health_worker: UserView) -> None:
        tr = self.catalogs.get(health_worker.language)
        await self._send(
            health_worker,
            tr._(
                "No {specialty} specialist is on call right now. Case {code} is waiting: the "
                "coordinator has been told, and the next specialist on call will get it.",
                specialty=specialty_label(tr, case),
                code=case.code,
            ),
            key=f"nobody:{case.id}:{case.escalation_level}",
        )

    async def _send(
        self,
        to: UserView,
        text: str,
        markup: InlineKeyboardMarkup | None = None,
        *,
        key: str | None = None,
    ) -> None:
        await self.outbox.enqueue([text_message(to.telegram_id, text, markup, dedupe_key=key)])
