"""Files sent into a case: every one gets feedback, processed or refused with the reason.

Registered with ``block=False``: decoding runs in worker processes and other people's
updates are handled meanwhile.
"""

from __future__ import annotations

import logging
from datetime import timedelta

from telegram import Document, Message, PhotoSize, Update
from telegram.constants import ChatAction
from telegram.error import TelegramError

from bot.cases.attachments import MAX_DOWNLOAD_BYTES, AttachmentOutcome
from bot.cases.drafts import DraftState, Step
from bot.handlers import case_texts, general
from bot.handlers.context import Ctx, speaker
from bot.i18n import Translator
from bot.imaging.errors import Reason

log = logging.getLogger(__name__)


async def incoming(update: Update, ctx: Ctx) -> None:
    """A document, photo or voice note: into the open draft, or the general answer."""
    message, tg_user = update.effective_message, update.effective_user
    if message is None or tg_user is None:
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


async def _voice(ctx: Ctx, tr: Translator, message: Message, state: DraftState) -> None:
    voice = message.voice
    assert voice is not None
    if (voice.file_size or 0) > MAX_DOWNLOAD_BYTES:
        await message.reply_text(tr._(case_texts.ATTACHMENT_REFUSALS[Reason.TOO_LARGE]))
        return
    data = await _download(ctx, voice.file_id)
    duration = voice.duration
    seconds = int(duration.total_seconds()) if isinstance(duration, timedelta) else int(duration)
    await ctx.services.attachments.add_voice(
        state.case_id, data, seconds, file_unique_id=voice.file_unique_id
    )
    await ctx.services.drafts.note_voice(message.chat_id)
    await message.reply_text(tr._("🎙 Voice note saved."))


async def _file(ctx: Ctx, tr: Translator, message: Message, state: DraftState) -> None:
    item: Document | PhotoSize
    if message.document is not None:
        item = message.document
        name, mime = item.file_name or "file", item.mime_type
    elif message.photo:
        item = message.photo[-1]
        name, mime = "photo.jpg", "image/jpeg"
    else:
        await message.reply_text(tr._(case_texts.ATTACHMENT_REFUSALS[Reason.UNSUPPORTED]))
        return
    if (item.file_size or 0) > MAX_DOWNLOAD_BYTES:
        await message.reply_text(tr._(case_texts.ATTACHMENT_REFUSALS[Reason.TOO_LARGE]))
        return
    status = await message.reply_text(tr._("⏳ Processing the file…"))
    await ctx.bot.send_chat_action(message.chat_id, ChatAction.UPLOAD_PHOTO)
    data = await _download(ctx, item.file_id)
    outcome = await ctx.services.attachments.add(
        state.case_id, state.code, data, name, mime, file_unique_id=item.file_unique_id
    )
    await _report(ctx, tr, message, status, outcome, sent_as_photo=bool(message.photo))


async def _report(
    ctx: Ctx,
    tr: Translator,
    message: Message,
    status: Message,
    outcome: AttachmentOutcome,
    *,
    sent_as_photo: bool,
) -> None:
    if not outcome.ok:
        reason = outcome.reason or Reason.CRASHED
        await status.edit_text("❌ " + tr._(case_texts.ATTACHMENT_REFUSALS[reason]))
        return
    if outcome.duplicate:
        await status.edit_text(tr._("This file was already received."))
        return
    what = outcome.modality or outcome.kind.upper()
    text = "✅ " + tr.ngettext(
        "Received: {what}, {n} image.", "Received: {what}, {n} images.", outcome.frames, what=what
    )
    if outcome.burned_in_risk and outcome.kind == "dicom":
        text += "\n" + tr._(
            "Note: names may be written inside this image; the specialist will be warned."
        )
    if outcome.compressed_suspect and sent_as_photo:
        text += "\n\n" + tr._(case_texts.COMPRESSED_PHOTO)
    await status.edit_text(text)
    if outcome.thumbnail:
        try:
            await message.reply_photo(outcome.thumbnail, protect_content=True)
        except TelegramError:
            log.warning("thumbnail not delivered", extra={"chat_id": message.chat_id})


async def _download(ctx: Ctx, file_id: str) -> bytes:
    telegram_file = await ctx.bot.get_file(file_id)
    return bytes(await telegram_file.download_as_bytearray())
