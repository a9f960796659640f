"""The specialist's side of an offer (Accept / Decline), ``/mycases``, coordinators' assign."""

from __future__ import annotations

import contextlib
from datetime import datetime

from telegram import InlineKeyboardButton, InlineKeyboardMarkup, Update
from telegram.error import BadRequest

from bot.cases.offers import DECLINE_REASONS, OfferOutcome
from bot.cases.views import CaseView
from bot.handlers import callbacks
from bot.handlers.context import Ctx, alert, speaker
from bot.handlers.notifier import (
    case_card,
    specialty_label,
    urgency_label,
    waiting,
    workspace_buttons,
)
from bot.handlers.study_links import study_link
from bot.i18n import N_, Translator

DECLINE_LABELS = {
    "busy": N_("Busy now"),
    "not_my_specialty": N_("Not my specialty"),
    "need_more_info": N_("Need more information"),
    "other": N_("Other reason"),
}
REFUSALS: dict[OfferOutcome, str] = {
    OfferOutcome.ALREADY_TAKEN: N_("Another specialist already accepted this case."),
    OfferOutcome.NOT_OFFERED: N_("This offer is no longer open."),
    OfferOutcome.NOT_ALLOWED: N_("You cannot do this."),
    OfferOutcome.CASE_CLOSED: N_("This case no longer needs a specialist."),
    OfferOutcome.INVALID: N_("This button is no longer valid."),
}


async def offer(update: Update, ctx: Ctx) -> None:
    """``of:a:<case>`` accepts; ``of:d:<case>`` asks for a reason to decline."""
    query, tg_user = update.callback_query, update.effective_user
    if query is None or tg_user is None:
        return
    tr, _ = await speaker(update, ctx)
    parsed = callbacks.parse(query.data, "of", 2)
    case_id = callbacks.int_arg(parsed, 1) if parsed else None
    if parsed is None or case_id is None or parsed.args[0] not in ("a", "d"):
        await alert(update, tr)
        return
    if parsed.args[0] == "d":
        await query.answer()
        await query.edit_message_reply_markup(
            InlineKeyboardMarkup(
                [
                    [
                        InlineKeyboardButton(
                            tr._(label), callback_data=callbacks.make("dr", case_id, r)
                        )
                    ]
                    for r, label in DECLINE_LABELS.items()
                ]
            )
        )
        return
    result = await ctx.services.offers.accept(tg_user.id, case_id)
    if result.outcome is not OfferOutcome.ACCEPTED or result.case is None:
        await _refuse(update, tr, result.outcome)
        return
    await query.answer()
    link = await study_link(ctx, tr, result.case)
    markup = workspace_buttons(tr, result.case)
    if link is not None:
        markup = InlineKeyboardMarkup([link.buttons, *markup.inline_keyboard])
    with contextlib.suppress(BadRequest):  # a repeated tap: the card already says so
        await query.edit_message_text(
            case_card(tr, result.case, ctx.services.clock.now(), study=link.line if link else None)
            + "\n\n"
            + tr._("✅ You accepted this case."),
            reply_markup=markup,
        )


async def decline(update: Update, ctx: Ctx) -> None:
    """``dr:<case>:<reason>``."""
    query, tg_user = update.callback_query, update.effective_user
    if query is None or tg_user is None:
        return
    tr, _ = await speaker(update, ctx)
    parsed = callbacks.parse(query.data, "dr", 2)
    case_id = callbacks.int_arg(parsed) if parsed else None
    if parsed is None or case_id is None or parsed.args[1] not in DECLINE_REASONS:
        await alert(update, tr)
        return
    result = await ctx.services.offers.decline(tg_user.id, case_id, parsed.args[1])
    if result.outcome is not OfferOutcome.DECLINED or result.case is None:
        await _refuse(update, tr, result.outcome)
        return
    await query.answer()
    await query.edit_message_text(
        tr._(
            "You declined case {code} ({reason}).",
            code=result.case.code,
            reason=tr._(DECLINE_LABELS[parsed.args[1]]),
        )
    )


async def assign(update: Update, ctx: Ctx) -> None:
    """``asg:<case>:<specialist user id>``: a coordinator assigns by hand."""
    query, tg_user = update.callback_query, update.effective_user
    if query is None or tg_user is None:
        return
    tr, _ = await speaker(update, ctx)
    parsed = callbacks.parse(query.data, "asg", 2)
    case_id = callbacks.int_arg(parsed) if parsed else None
    user_id = callbacks.int_arg(parsed, 1) if parsed else None
    if case_id is None or user_id is None:
        await alert(update, tr)
        return
    result = await ctx.services.offers.assign(tg_user.id, case_id, user_id)
    if result.outcome is not OfferOutcome.ASSIGNED or result.case is None:
        await _refuse(update, tr, result.outcome)
        return
    specialist = await ctx.services.directory.by_id(user_id)
    await query.answer()
    await query.edit_message_text(
        tr._(
            "Case {code} assigned to {name}.",
            code=result.case.code,
            name=specialist.full_name if specialist else "—",
        )
    )


async def mycases(update: Update, ctx: Ctx) -> None:
    """The specialist's open cases and pending offers, oldest first, with waiting times."""
    tr, _ = await speaker(update, ctx)
    message, tg_user = update.effective_message, update.effective_user
    if message is None or tg_user is None:
        return
    offers = ctx.services.offers
    open_cases = await offers.open_cases(tg_user.id)
    pending = await offers.pending_offers(tg_user.id)
    if not open_cases and not pending:
        await message.reply_text(tr._("You have no open cases."))
        return
    now = ctx.services.clock.now()
    lines = []
    if open_cases:
        lines.append(tr._("Your open cases:"))
        lines += [_line(tr, c, now) for c in open_cases]
    if pending:
        lines.append(tr._("Offered to you, not answered yet:"))
        lines += [_line(tr, c, now) for c in pending]
    buttons = [
        [
            InlineKeyboardButton(
                tr._("Report on {code}", code=c.code), callback_data=callbacks.make("rep", c.id)
            )
        ]
        for c in open_cases[:10]
    ]
    await message.reply_text(
        "\n".join(lines),
        reply_markup=InlineKeyboardMarkup(buttons) if buttons else None,
        protect_content=True,
    )


def _line(tr: Translator, case: CaseView, now: datetime) -> str:
    return "• " + tr._(
        "{code} · {specialty} · {urgency} · waiting {waiting}",
        code=case.code,
        specialty=specialty_label(tr, case),
        urgency=urgency_label(tr, case),
        waiting=waiting(tr, case, now),
    )


async def _refuse(update: Update, tr: Translator, outcome: OfferOutcome) -> None:
    query = update.callback_query
    if query is None:
        return
    await query.answer(tr._(REFUSALS.get(outcome, REFUSALS[OfferOutcome.INVALID])), show_alert=True)
    if outcome in (OfferOutcome.ALREADY_TAKEN, OfferOutcome.CASE_CLOSED):
        await query.edit_message_reply_markup(reply_markup=None)
