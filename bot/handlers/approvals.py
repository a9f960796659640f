"""Coordinators approve or reject specialists and coordinators with a tap."""

from __future__ import annotations

import logging

from telegram import Update

from bot.accounts.directory import Outcome, UserView
from bot.domain import ROLE_LABELS
from bot.handlers import callbacks, keyboards, menus, texts
from bot.handlers.context import Ctx, speaker, translator_for
from bot.handlers.notifier import text_message
from bot.outbox import Priority

log = logging.getLogger(__name__)


async def ask_approvers(ctx: Ctx, applicant: UserView) -> None:
    """Queue for every approver a card with Approve / Reject, in the approver's language."""
    services = ctx.services
    approvers = await services.directory.approvers_for(applicant.district)
    if not approvers:
        log.warning("no approver for a pending registration", extra={"user_id": applicant.id})
    cards = []
    for approver in approvers:
        tr = services.catalogs.get(approver.language)
        card = tr._("New registration to approve") + "\n\n" + texts.profile(tr, applicant)
        cards.append(
            text_message(
                approver.telegram_id,
                card,
                keyboards.approval(tr, applicant.id),
                priority=Priority.ALERT,
                protect=False,
            )
        )
    await services.outbox.enqueue(cards)


async def decide(update: Update, ctx: Ctx) -> None:
    """A tap on Approve or Reject; stale, repeated and forged taps are answered too."""
    query, tg_user = update.callback_query, update.effective_user
    if query is None or tg_user is None:
        return
    tr, _ = await speaker(update, ctx)
    parsed = callbacks.parse(query.data, "apv", 2)
    user_id = callbacks.int_arg(parsed, 1) if parsed else None
    if parsed is None or parsed.args[0] not in ("a", "r") or user_id is None:
        await query.answer(tr._("This button is no longer valid."), show_alert=True)
        return
    decision = await ctx.services.directory.decide(tg_user.id, user_id, parsed.args[0] == "a")
    applicant = decision.applicant
    if decision.outcome is Outcome.NOT_ALLOWED:
        await query.answer(tr._("Only an active coordinator can do this."), show_alert=True)
        return
    if decision.outcome is Outcome.UNKNOWN_USER or applicant is None:
        await query.answer(tr._("This button is no longer valid."), show_alert=True)
        return
    if decision.outcome is Outcome.ALREADY_DECIDED:
        await query.answer(
            tr._("Already decided: {status}.", status=tr._(texts.STATUS_LABELS[applicant.status])),
            show_alert=True,
        )
        await query.edit_message_reply_markup(reply_markup=None)
        return
    approved = decision.outcome is Outcome.APPROVED
    verdict = tr._("✅ Approved by you.") if approved else tr._("❌ Rejected by you.")
    await query.answer()
    await query.edit_message_text(
        tr._("Registration") + "\n\n" + texts.profile(tr, applicant) + "\n\n" + verdict
    )
    await _tell_applicant(ctx, applicant, approved)


async def _tell_applicant(ctx: Ctx, applicant: UserView, approved: bool) -> None:
    tr = await translator_for(ctx, applicant.telegram_id)
    if approved:
        text = (
            tr._(
                "Your registration as {role} has been approved. Welcome to Sampark!",
                role=tr._(ROLE_LABELS[applicant.role]),
            )
            + "\n\n"
            + texts.help_text(tr, applicant)
        )
    else:
        text = tr._(
            "Your registration was not approved. "
            "If you think this is a mistake, please contact your coordinator."
        )
    if approved:
        await menus.set_for_user(ctx.bot, tr, applicant)  # never raises
    message = text_message(applicant.telegram_id, text, priority=Priority.ALERT, protect=False)
    await ctx.services.outbox.enqueue([message])
