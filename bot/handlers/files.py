"""Files sent into a case: every one gets feedback, processed or refused with the reason.

Registered with ``block=False``: decoding runs in worker processes and other people's
updates are handled meanwhile.
"""

from __future__ import annotations

import logging
from datetime import timedelta

from telegram import Document, InlineKeyboardMarkup, Message, PhotoSize, Update
from telegram.constants import ChatAction
from telegram.error import TelegramError

from bot.cases.attachments import MAX_DOWNLOAD_BYTES, AttachmentOutcome
from bot.cases.drafts import DraftState, Step
from bot.cases.refusals import Refusal
from bot.handlers import case_texts, drafts, file_feedback, general, questions, uploads
from bot.handlers.context import Ctx, speaker
from bot.handlers.reports import REFUSALS
from bot.i18n import Translator
from bot.imaging.errors import Reason

log = logging.getLogger(__name__)


async def incoming(update: Update, ctx: Ctx) -> None:
    """A document, photo or voice note: into the open draft, or the general answer."""
    message, tg_user = update.effective_message, update.effective_user
    if message is None or tg_user is None:
        return
    target = await ctx.services.compose.peek(tg_user.id)
    if target is not None:
        tr, _ = await speaker(update, ctx)
        await _relay(ctx, tr, message, target.case_id)
        return
    state = await ctx.services.drafts.state(tg_user.id)
    accepts_files = state is not None and state.step is Step.ATTACHMENTS
    accepts_voice = state is not None and state.step in (Step.HISTORY, Step.ATTACHMENTS)
    if state is None or not (accepts_files or (message.voice and accepts_voice)):
        await general.other_message(update, ctx)
        return
    tr, _ = await speaker(update, ctx)
    if message.voice is not None:
        await _voice(ctx, tr, message, state)
        return
    await _file(ctx, tr, message, state)


async def _relay(ctx: Ctx, tr: Translator, message: Message, case_id: int) -> None:
    """A file sent after Ask/Answer: through the imaging pipeline, then to the other side."""
    services = ctx.services
    code = await services.attachments.case_code(case_id)
    if code is None:
        await services.compose.take(message.chat_id)
        return
    if message.voice is not None:
        outcome = await _store_voice(ctx, tr, message, case_id)
    else:
        outcome = await _store_file(ctx, tr, message, case_id, code)
    if outcome is None or not outcome.ok or outcome.attachment_id is None:
        return  # refused with the reason; the person may send another file
    await services.compose.take(message.chat_id)
    relay = await services.questions.attach(message.chat_id, case_id, outcome.attachment_id)
    if isinstance(relay, Refusal):
        await message.reply_text(tr._(REFUSALS[relay.reason]))
    elif await questions.forward_file(ctx, relay):
        await message.reply_text(tr._("Sent for case {code}.", code=code))
    else:
        await message.reply_text(tr._("Saved, but it could not be delivered yet."))


async def _voice(ctx: Ctx, tr: Translator, message: Message, state: DraftState) -> None:
    """A voice note for the draft's history."""
    if await _store_voice(ctx, tr, message, state.case_id):
        await ctx.services.drafts.note_voice(message.chat_id)
        await message.reply_text(tr._("🎙 Voice note saved."))


async def _file(ctx: Ctx, tr: Translator, message: Message, state: DraftState) -> None:
    """A document or photo for the draft's attachments; its status ends with the running
    count and a Done button, so "Done" is always at the bottom of the chat."""
    await _store_file(ctx, tr, message, state.case_id, state.code, running=True)


async def _store_voice(
    ctx: Ctx, tr: Translator, message: Message, case_id: int
) -> AttachmentOutcome | None:
    voice = message.voice
    assert voice is not None
    if (voice.file_size or 0) > MAX_DOWNLOAD_BYTES:
        await message.reply_text(tr._(case_texts.ATTACHMENT_REFUSALS[Reason.TOO_LARGE]))
        return None
    data = await _download(ctx, voice.file_id)
    duration = voice.duration
    seconds = int(duration.total_seconds()) if isinstance(duration, timedelta) else int(duration)
    return await ctx.services.attachments.add_voice(
        case_id, data, seconds, file_unique_id=voice.file_unique_id
    )


async def _store_file(
    ctx: Ctx, tr: Translator, message: Message, case_id: int, code: str, *, running: bool = False
) -> AttachmentOutcome | None:
    """Download, process and store one document or photo; the sender sees the outcome."""
    item: Document | PhotoSize
    if message.document is not None:
        item = message.document
        name, mime = item.file_name or "file", item.mime_type
    elif message.photo:
        item = message.photo[-1]
        name, mime = "photo.jpg", "image/jpeg"
    else:
        await message.reply_text(tr._(case_texts.ATTACHMENT_REFUSALS[Reason.UNSUPPORTED]))
        return None
    if (item.file_size or 0) > MAX_DOWNLOAD_BYTES:
        if running and message.document is not None:  # a whole study: through an upload link
            sender = message.from_user.id if message.from_user else message.chat_id
            await uploads.offer_link(ctx, tr, message, sender, too_big=True)
            return None
        await message.reply_text(tr._(case_texts.ATTACHMENT_REFUSALS[Reason.TOO_LARGE]))
        return None
    status = await message.reply_text(tr._("⏳ Processing the file…"))
    await ctx.bot.send_chat_action(message.chat_id, ChatAction.UPLOAD_PHOTO)
    data = await _download(ctx, item.file_id)
    outcome = await ctx.services.attachments.add(
        case_id, code, data, name, mime, file_unique_id=item.file_unique_id
    )
    prompt = await ctx.services.drafts.resume(message.chat_id) if running else None
    footer = None
    if prompt is not None and prompt.step is Step.ATTACHMENTS:
        count = tr.ngettext(
            "{n} file received so far.", "{n} files received so far.", prompt.attachments
        )
        footer = (count, drafts.keyboard(tr, prompt))
    await _report(
        ctx, tr, message, status, outcome, sent_as_photo=bool(message.photo), footer=footer
    )
    return outcome


async def _report(
    ctx: Ctx,
    tr: Translator,
    message: Message,
    status: Message,
    outcome: AttachmentOutcome,
    *,
    sent_as_photo: bool,
    footer: tuple[str, InlineKeyboardMarkup | None] | None = None,
) -> None:
    """Edit the status message with the outcome (and the running count with Done)."""
    extra, markup = ("\n\n" + footer[0], footer[1]) if footer else ("", None)
    text = file_feedback.outcome_text(tr, outcome, sent_as_photo=sent_as_photo)
    await status.edit_text(text + extra, reply_markup=markup)
    if outcome.ok and not outcome.duplicate and outcome.thumbnail:
        try:
            await message.reply_photo(outcome.thumbnail, protect_content=True)
        except TelegramError:
            log.warning("thumbnail not delivered", extra={"chat_id": message.chat_id})


async def _download(ctx: Ctx, file_id: str) -> bytes:
    telegram_file = await ctx.bot.get_file(file_id)
    return bytes(await telegram_file.download_as_bytearray())
