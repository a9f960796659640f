"""The Telegram side of case events: the services decide, this renders and sends.

Implements ``bot.cases.ports.CaseNotifier``. Every clinical message is sent with
``protect_content``; previews are watermarked for their recipient.
"""

from __future__ import annotations

import logging
from datetime import datetime

from babel.dates import format_timedelta
from telegram import Bot, InlineKeyboardButton, InlineKeyboardMarkup, InputMediaPhoto
from telegram.error import Forbidden, TelegramError

from bot.accounts.directory import Directory, UserView
from bot.cases.attachments import AttachmentService
from bot.cases.ports import EscalationReason, MessageRef, WithdrawReason
from bot.cases.views import CaseView
from bot.clock import Clock
from bot.domain import SPECIALTIES, URGENCY_LABELS, Urgency
from bot.handlers import callbacks, case_texts
from bot.i18n import N_, Catalogs, Translator
from bot.imaging.watermark import Watermark

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


def case_card(tr: Translator, case: CaseView, now: datetime, *, burned_in: bool = False) -> str:
    """What a specialist sees of a case: no name, phone or ABHA — only code, age and sex."""
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
    lines.append(tr._("Full study: a secure link will be added here."))
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


class TelegramCaseNotifier:
    """Sends case events; ``bot`` is set once the PTB application exists."""

    def __init__(
        self,
        catalogs: Catalogs,
        clock: Clock,
        attachments: AttachmentService,
        directory: Directory,
    ) -> None:
        self.catalogs = catalogs
        self.clock = clock
        self.attachments = attachments
        self.directory = directory
        self.bot: Bot | None = None

    def _bot(self) -> Bot:
        if self.bot is None:
            raise RuntimeError("notifier used before the bot was attached")
        return self.bot

    async def offer(self, case: CaseView, specialist: UserView) -> MessageRef | None:
        tr = self.catalogs.get(specialist.language)
        bot = self._bot()
        now = self.clock.now()
        try:
            burned_in = await self.send_study(bot, case, specialist, now)
            card = await bot.send_message(
                specialist.telegram_id,
                case_card(tr, case, now, burned_in=burned_in),
                reply_markup=offer_buttons(tr, case),
                protect_content=True,
            )
        except Forbidden:
            await self.directory.mark_unreachable(specialist.telegram_id)
            return None
        except TelegramError:
            log.warning("offer not delivered", extra={"case_id": case.id, "user_id": specialist.id})
            return None
        return MessageRef(card.chat_id, card.message_id)

    async def send_study(
        self, bot: Bot, case: CaseView, recipient: UserView, now: datetime
    ) -> bool:
        """Previews (watermarked for ``recipient``) as albums, then voice notes; all protected.

        Returns whether any image may carry burned-in identifiers.
        """
        mark = Watermark(case_code=case.code, recipient=recipient.full_name, when=now)
        previews = await self.attachments.previews(case.id)
        images = [await self.attachments.watermarked(p.blob_id, mark) for p in previews]
        for start in range(0, len(images), ALBUM_MAX):
            chunk = images[start : start + ALBUM_MAX]
            if len(chunk) == 1:
                await bot.send_photo(recipient.telegram_id, chunk[0], protect_content=True)
            else:
                await bot.send_media_group(
                    recipient.telegram_id,
                    [InputMediaPhoto(data) for data in chunk],
                    protect_content=True,
                )
        for blob_id, duration in await self.attachments.voices(case.id):
            data = await self.attachments.blobs.aget(blob_id)
            await bot.send_voice(
                recipient.telegram_id, data, duration=duration, protect_content=True
            )
        return any(p.meta.get("burned_in_risk") for p in previews)

    async def offer_withdrawn(
        self, case: CaseView, specialist: UserView, ref: MessageRef, reason: WithdrawReason
    ) -> None:
        tr = self.catalogs.get(specialist.language)
        text = tr._("Case {code}", code=case.code) + "\n\n" + tr._(WITHDRAWN[reason])
        try:
            await self._bot().edit_message_text(
                text, chat_id=ref.chat_id, message_id=ref.message_id
            )
        except TelegramError:
            log.info("offer card not edited", extra={"case_id": case.id})

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
            await self._send(coordinator, text, InlineKeyboardMarkup(rows) if rows else None)

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
        )

    async def _send(
        self, to: UserView, text: str, markup: InlineKeyboardMarkup | None = None
    ) -> None:
        try:
            await self._bot().send_message(
                to.telegram_id, text, reply_markup=markup, protect_content=True
            )
        except Forbidden:
            await self.directory.mark_unreachable(to.telegram_id)
        except TelegramError:
            log.warning("case message not delivered", extra={"user_id": to.id})
