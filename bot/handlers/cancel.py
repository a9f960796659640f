"""The health worker's ``/mycases`` with a Cancel button per case; the reason as buttons.

``cx:a:<case>`` asks for the reason, ``cx:r:<case>:<reason>`` cancels, ``cx:k:<case>``
keeps the case. Every tap is checked again by ``CancelService``: someone else's case, a
stale button or a case already reported gets a clear answer and changes nothing.
Specialists' ``/mycases`` stays in ``bot.handlers.offers``.
"""

from __future__ import annotations

from telegram import InlineKeyboardButton, InlineKeyboardMarkup, Update

from bot.accounts.directory import UserView
from bot.cases.cancel import CANCEL_REASONS, CANCELLABLE, Cancelled
from bot.cases.refusals import Refusal, RefusalReason
from bot.cases.views import CaseView
from bot.domain import Role
from bot.handlers import callbacks, offers
from bot.handlers.cancel_texts import REASONS, reason_label
from bot.handlers.case_list import line
from bot.handlers.context import Ctx, alert, speaker
from bot.handlers.notifier import text_message
from bot.i18n import N_, Catalogs, Translator
from bot.outbox import Outbox

KIND = "cx"
MAX_BUTTONS = 10
REFUSALS: dict[RefusalReason, str] = {
    RefusalReason.NOT_YOURS: N_("You can only cancel your own cases."),
    RefusalReason.ALREADY_REPORTED: N_("This case already has a signed report."),
    RefusalReason.NOT_OPEN: N_("This case is closed for that."),
}


async def mycases(update: Update, ctx: Ctx) -> None:
    """``/mycases``: a health worker's own open cases; specialists get theirs."""
    tr, user = await speaker(update, ctx)
    message, tg_user = update.effective_message, update.effective_user
    if message is None or tg_user is None:
        return
    if user is None or user.role is not Role.HEALTH_WORKER:
        await offers.mycases(update, ctx)
        return
    own = await ctx.services.cancellations.own_cases(tg_user.id)
    if not own:
        await message.reply_text(tr._("You have no open cases."))
        return
    now = ctx.services.clock.now()
    text = "\n".join([tr._("Your open cases:"), *(line(tr, c, now) for c in own)])
    rows = [
        [
            InlineKeyboardButton(
                tr._("Cancel {code}", code=c.code), callback_data=callbacks.make(KIND, "a", c.id)
            )
        ]
        for c in own
        if c.status in CANCELLABLE
    ][:MAX_BUTTONS]
    await message.reply_text(
        text, reply_markup=InlineKeyboardMarkup(rows) if rows else None, protect_content=True
    )


async def tapped(update: Update, ctx: Ctx) -> None:
    """Ask for the reason, cancel with it, or keep the case."""
    query, tg_user = update.callback_query, update.effective_user
    if query is None or tg_user is None:
        return
    tr, _ = await speaker(update, ctx)
    parts = (query.data or "").split(":")
    case_id = int(parts[2]) if len(parts) >= 3 and parts[2].isdigit() else None
    action = parts[1] if len(parts) >= 2 else ""
    service = ctx.services.cancellations
    if case_id is None or len(parts[2]) > 18:
        await alert(update, tr)
        return
    if action == "k" and len(parts) == 3:
        await query.answer()
        await query.edit_message_reply_markup(reply_markup=None)
        return
    if action == "a" and len(parts) == 3:
        case = await service.check(tg_user.id, case_id)
        if isinstance(case, Refusal):
            await refuse(update, tr, case)
            return
        await query.answer()
        await ctx.bot.send_message(
            tg_user.id,
            tr._("Why cancel case {code}?", code=case.code),
            reply_markup=reasons(tr, case),
        )
        return
    if action == "r" and len(parts) == 4 and parts[3] in CANCEL_REASONS:
        done = await service.cancel(tg_user.id, case_id, parts[3])
        if isinstance(done, Refusal):
            await refuse(update, tr, done)
            return
        await query.answer()
        await query.edit_message_text(outcome_text(tr, done))
        return
    await alert(update, tr)


def reasons(tr: Translator, case: CaseView) -> InlineKeyboardMarkup:
    rows = [
        [InlineKeyboardButton(tr._(label), callback_data=callbacks.make(KIND, "r", case.id, code))]
        for code, label in REASONS.items()
    ]
    rows.append(
        [
            InlineKeyboardButton(
                tr._("Keep the case"), callback_data=callbacks.make(KIND, "k", case.id)
            )
        ]
    )
    return InlineKeyboardMarkup(rows)


async def refuse(update: Update, tr: Translator, refusal: Refusal) -> None:
    """A pop-up in the user's language; a finished question loses its buttons."""
    await alert(update, tr, REFUSALS.get(refusal.reason, N_("This button is no longer valid.")))
    query = update.callback_query
    if query is not None and refusal.reason in (
        RefusalReason.ALREADY_REPORTED,
        RefusalReason.NOT_OPEN,
    ):
        await query.edit_message_reply_markup(reply_markup=None)


class TelegramCancelNotifier:
    """Tells the specialist who had accepted a case that it was cancelled (outbox, clinical)."""

    def __init__(self, catalogs: Catalogs, outbox: Outbox) -> None:
        self.catalogs = catalogs
        self.outbox = outbox

    async def case_cancelled(self, case: CaseView, specialist: UserView, reason: str) -> None:
        tr = self.catalogs.get(specialist.language)
        text = tr._(
            "Case {code} was cancelled by the health worker: {reason}.",
            code=case.code,
            reason=reason_label(tr, reason),
        )
        await self.outbox.enqueue(
            [text_message(specialist.telegram_id, text, dedupe_key=f"cancelled:{case.id}")]
        )


def outcome_text(tr: Translator, done: Cancelled) -> str:
    return tr._("Case {code} was cancelled.", code=done.case.code)
