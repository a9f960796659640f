"""Commands everyone has, and the answers to everything nobody asked for."""

from __future__ import annotations

import logging

from telegram import Update
from telegram.ext import ApplicationHandlerStop

from bot.handlers import broadcasts, drafts, keyboards, onboarding, questions, reports, texts
from bot.handlers.context import Ctx, speaker

log = logging.getLogger(__name__)


async def guard(update: Update, ctx: Ctx) -> None:
    """Runs first: drop redelivered updates; throttle strangers who flood the bot."""
    services = ctx.services
    if not await services.guard.first_delivery(ctx.bot.id, update.update_id):
        log.info("duplicate update dropped", extra={"update_id": update.update_id})
        raise ApplicationHandlerStop
    tg_user = update.effective_user
    if tg_user is None:
        raise ApplicationHandlerStop
    if await services.directory.by_telegram(tg_user.id) is None and not (
        await services.guard.stranger_may_speak(tg_user.id)
    ):
        raise ApplicationHandlerStop


async def help_command(update: Update, ctx: Ctx) -> None:
    tr, user = await speaker(update, ctx)
    if update.effective_message:
        await update.effective_message.reply_text(texts.help_text(tr, user))


async def whoami(update: Update, ctx: Ctx) -> None:
    tr, user = await speaker(update, ctx)
    if update.effective_message is None:
        return
    if user is None:
        await update.effective_message.reply_text(texts.stranger(tr))
        return
    await update.effective_message.reply_text(
        texts.profile(tr, user) + "\n" + texts.status_line(tr, user)
    )


async def language(update: Update, ctx: Ctx) -> None:
    tr, _ = await speaker(update, ctx)
    if update.effective_message:
        await update.effective_message.reply_text(
            texts.choose_language(tr),
            reply_markup=keyboards.languages(ctx.services.catalogs.available),
        )


async def text(update: Update, ctx: Ctx) -> None:
    """Free text: an answer to the current question, or a pointer to what to do."""
    for taker in (
        onboarding.answer,
        drafts.answer,
        questions.relay,
        reports.answer,
        broadcasts.answer,
    ):
        if await taker(update, ctx):
            return
    tr, user = await speaker(update, ctx)
    if update.effective_message:
        if user is None:
            await update.effective_message.reply_text(
                texts.stranger(tr),
                reply_markup=keyboards.languages(ctx.services.catalogs.available),
            )
        else:
            await update.effective_message.reply_text(
                tr._("I did not understand that. Send /help to see what you can do.")
            )


async def unknown_command(update: Update, ctx: Ctx) -> None:
    tr, _ = await speaker(update, ctx)
    if update.effective_message:
        await update.effective_message.reply_text(
            tr._("I don't know that command. Send /help to see what you can do.")
        )


async def other_message(update: Update, ctx: Ctx) -> None:
    """Photos, files, stickers… that arrive where nothing expects them."""
    tr, user = await speaker(update, ctx)
    if update.effective_message is None or update.effective_user is None:
        return
    prompt = await ctx.services.onboarding.current(update.effective_user.id)
    if prompt is not None:  # registering: ask the question again
        await onboarding.show_prompt(update, ctx, tr, prompt)
        return
    if user is None:
        await update.effective_message.reply_text(texts.stranger(tr))
        return
    await update.effective_message.reply_text(
        tr._("I can't use this here. Send /help to see what you can do.")
    )


async def error(update: object, ctx: Ctx) -> None:
    """Log the failure (no message text, no patient data) and apologise in the user's language."""
    kind = type(ctx.error).__name__ if ctx.error else "unknown"
    update_id = update.update_id if isinstance(update, Update) else None
    log.error("handler failed", exc_info=ctx.error, extra={"update_id": update_id, "error": kind})
    if not isinstance(update, Update) or update.effective_chat is None:
        return
    try:
        tr, _ = await speaker(update, ctx)
        if update.callback_query:
            await update.callback_query.answer()
        await ctx.bot.send_message(
            update.effective_chat.id,
            tr._("Sorry, something went wrong on our side. Please try again in a minute."),
        )
    except Exception:  # the apology is best effort; the failure is already logged
        log.warning("could not send the apology", exc_info=True)
