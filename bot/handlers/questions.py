"""Questions and answers relayed through the bot, threaded by case code.

Neither side sees the other's Telegram identity: messages are re-sent by the bot,
labelled only with the case code and the author's role.
"""

from __future__ import annotations

import logging
from typing import Any

from telegram import InlineKeyboardButton, InlineKeyboardMarkup, Update

from bot.cases.questions import Relay
from bot.cases.refusals import Refusal
from bot.domain import Role
from bot.handlers import callbacks
from bot.handlers.context import Ctx, speaker
from bot.handlers.notifier import text_message, workspace_buttons
from bot.handlers.reports import REFUSALS
from bot.handlers.sender import watermark_ref
from bot.outbox import Message, Priority

log = logging.getLogger(__name__)


async def compose(update: Update, ctx: Ctx) -> None:
    """``ask:<case>`` (specialist) or ``ans:<case>`` (health worker): next message goes there."""
    query, tg_user = update.callback_query, update.effective_user
    if query is None or tg_user is None:
        return
    tr, _ = await speaker(update, ctx)
    kind = (query.data or "").split(":", 1)[0]
    parsed = callbacks.parse(query.data, kind, 1)
    case_id = callbacks.int_arg(parsed) if parsed and kind in ("ask", "ans") else None
    if case_id is None:
        await query.answer(tr._("This button is no longer valid."), show_alert=True)
        return
    await ctx.services.compose.point(tg_user.id, case_id, "question" if kind == "ask" else "answer")
    await query.answer()
    await ctx.bot.send_message(
        tg_user.id,
        tr._("Write your question now (one message).")
        if kind == "ask"
        else tr._("Write your answer now (one message)."),
    )


async def relay(update: Update, ctx: Ctx) -> bool:
    """The message after Ask/Answer: relay it; False when nothing was pending."""
    message, tg_user = update.effective_message, update.effective_user
    if message is None or tg_user is None or message.text is None:
        return False
    target = await ctx.services.compose.take(tg_user.id)
    if target is None:
        return False
    tr, _ = await speaker(update, ctx)
    outcome = await ctx.services.questions.ask(tg_user.id, target.case_id, message.text)
    if isinstance(outcome, Refusal):
        await message.reply_text(tr._(REFUSALS[outcome.reason]))
        return True
    if await _forward(ctx, outcome):
        await message.reply_text(tr._("Sent for case {code}.", code=outcome.case.code))
    else:
        await message.reply_text(tr._("Saved, but it could not be delivered yet."))
    return True


async def forward_file(ctx: Ctx, relay: Relay) -> bool:
    """Queue a relayed file: images as a preview watermarked for the recipient, voice as is."""
    stored = await ctx.services.attachments.stored(relay.attachment_id or 0)
    if stored is None or stored[1] is None:
        return False
    kind, blob_id, duration = stored[0], stored[1], stored[2]
    to = relay.recipient
    label, markup = _label(ctx, relay)
    params: dict[str, Any] = {
        "caption": label,
        "reply_markup": markup.to_dict(),
        "protect_content": True,
    }
    if kind == "voice":
        params.update(voice={"blob": blob_id}, duration=duration)
        method = "sendVoice"
    else:
        now = ctx.services.clock.now()
        params["photo"] = watermark_ref(blob_id, relay.case.code, to.full_name, now)
        method = "sendPhoto"
    message = Message(to.telegram_id, method, params, Priority.CLINICAL)
    await ctx.services.outbox.enqueue([message])
    return True


def _label(ctx: Ctx, relay: Relay) -> tuple[str, InlineKeyboardMarkup]:
    """Who wrote (by role only) about which case, and the buttons to go on."""
    tr = ctx.services.catalogs.get(relay.recipient.language)
    if relay.author_role is Role.SPECIALIST:
        return tr._(
            "❓ The specialist asks about case {code}:", code=relay.case.code
        ), InlineKeyboardMarkup(
            [
                [
                    InlineKeyboardButton(
                        tr._("Answer"), callback_data=callbacks.make("ans", relay.case.id)
                    )
                ]
            ]
        )
    return (
        tr._("💬 The health worker answers about case {code}:", code=relay.case.code),
        workspace_buttons(tr, relay.case),
    )


async def _forward(ctx: Ctx, relay: Relay) -> bool:
    """Queue the relayed text for its recipient (the outbox sends it within the limits)."""
    text, markup = _label(ctx, relay)
    message = text_message(relay.recipient.telegram_id, f"{text}\n\n{relay.text or ''}", markup)
    try:
        await ctx.services.outbox.enqueue([message])
    except Exception:  # the question is stored; the handler says it is not delivered yet
        log.exception("question not queued", extra={"case_id": relay.case.id})
        return False
    return True
