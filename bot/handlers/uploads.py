"""Upload links in the chat: ``/upload``, the answer to a file over Telegram's 20 MB limit,
and the progress and result of an upload (the :class:`UploadNotifier` port).

The link goes to the health worker as a direct reply, followed by a status message that
the upload then edits through the outbox (start, every 25 %, the result with the same
feedback as a file sent in chat, the running count and the Done button).
"""

from __future__ import annotations

from typing import Any

from telegram import Message, Update
from telegram.ext import BaseHandler, CallbackQueryHandler, CommandHandler, filters

from bot.cases.attachments import AttachmentOutcome, AttachmentService
from bot.cases.drafts import DraftService, Step
from bot.cases.uploads import UploadService, UploadView
from bot.handlers import callbacks, drafts, file_feedback
from bot.handlers.context import Ctx, speaker
from bot.i18n import Catalogs, Translator
from bot.outbox import Message as OutboxMessage
from bot.outbox import Outbox, Priority


def link_url(public_url: str, token: str) -> str:
    """The upload page's address for ``token``."""
    return f"{public_url}/u/{token}"


async def upload_command(update: Update, ctx: Ctx) -> None:
    """``/upload``: a link to send a whole study from the phone's browser."""
    message, tg_user = update.effective_message, update.effective_user
    if message is None or tg_user is None:
        return
    tr, _ = await speaker(update, ctx)
    await offer_link(ctx, tr, message, tg_user.id, too_big=False)


async def upload_button(update: Update, ctx: Ctx) -> None:
    """The "Upload a whole study" button of the files step: the same as ``/upload``."""
    query, tg_user = update.callback_query, update.effective_user
    if query is None or tg_user is None:
        return
    await query.answer()
    if callbacks.parse(query.data, "up", 0) is None or not isinstance(query.message, Message):
        return
    tr, _ = await speaker(update, ctx)
    await offer_link(ctx, tr, query.message, tg_user.id, too_big=False)


async def offer_link(
    ctx: Ctx, tr: Translator, message: Message, telegram_id: int, *, too_big: bool
) -> None:
    """Reply with a one-time upload link for the open draft and a status message to edit."""
    services = ctx.services
    uploads: UploadService = services.uploads
    issued = await uploads.issue(telegram_id, message.chat_id)
    if issued is None:
        await message.reply_text(tr._("Start a case with /new first, then send its files."))
        return
    hours = max(1, int(uploads.ttl.total_seconds() // 3600))
    intro = tr._("This file is over Telegram's 20 MB limit.") + " " if too_big else ""
    text = intro + tr.ngettext(
        "Send the whole study with this link (one file, valid for {n} hour):",
        "Send the whole study with this link (one file, valid for {n} hours):",
        hours,
    )
    url = link_url(services.settings.public_url, issued.token)
    await message.reply_text(f"{text}\n{url}", protect_content=True)
    status = await message.reply_text(tr._("📤 Waiting for the file…"))
    await uploads.set_status_message(issued.upload_id, status.message_id)


def handlers() -> list[BaseHandler[Update, Any, Any]]:
    """``/upload`` (private chats) and the files step's button."""
    return [
        CommandHandler("upload", upload_command, filters=filters.ChatType.PRIVATE),
        CallbackQueryHandler(upload_button, pattern=r"^up$"),
    ]


# ---------------------------------------------------------------------- the port


class TelegramUploadNotifier:
    """Queues an upload's progress and result in the outbox, in the health worker's language."""

    def __init__(
        self,
        catalogs: Catalogs,
        outbox: Outbox,
        attachments: AttachmentService,
        drafts: DraftService,
    ) -> None:
        self.catalogs = catalogs
        self.outbox = outbox
        self.attachments = attachments
        self.drafts = drafts

    async def progress(self, upload: UploadView, percent: int) -> None:
        tr = self.catalogs.get(upload.language)
        if percent >= 100:
            text = tr._("⏳ Processing the file…")
        else:
            text = tr._("📤 Receiving the file: {percent} %", percent=percent)
        await self._status(upload, text, None, key=f"upload:{upload.id}:{percent}")

    async def finished(self, upload: UploadView, outcome: AttachmentOutcome) -> None:
        tr = self.catalogs.get(upload.language)
        text = file_feedback.outcome_text(tr, outcome)
        markup = None
        prompt = await self.drafts.resume(upload.telegram_id)
        at_files = prompt is not None and prompt.step is Step.ATTACHMENTS
        if prompt is not None and at_files and prompt.case.id == upload.case_id:
            text += "\n\n" + tr.ngettext(
                "{n} file received so far.", "{n} files received so far.", prompt.attachments
            )
            keyboard = drafts.keyboard(tr, prompt)
            markup = keyboard.to_dict() if keyboard is not None else None
        await self._status(upload, text, markup, key=f"upload:{upload.id}:result")
        if outcome.ok and outcome.attachment_id is not None:
            await self._thumbnail(upload, outcome.attachment_id)

    async def abandoned(self, upload: UploadView) -> None:
        tr = self.catalogs.get(upload.language)
        text = tr._("The file arrived after the case was sent or discarded; it was not added.")
        await self._status(upload, text, None, key=f"upload:{upload.id}:result")

    async def _status(
        self, upload: UploadView, text: str, markup: dict[str, Any] | None, *, key: str
    ) -> None:
        """Edit the upload's status message (or send one if there is none)."""
        params: dict[str, Any] = {"text": text}
        if markup is not None:
            params["reply_markup"] = markup
        if upload.status_message_id is not None:
            params["message_id"] = upload.status_message_id
            row = OutboxMessage(
                upload.chat_id, "editMessageText", params, Priority.CLINICAL, dedupe_key=key
            )
        else:
            row = OutboxMessage(
                upload.chat_id, "sendMessage", params, Priority.CLINICAL, dedupe_key=key
            )
        await self.outbox.enqueue([row])

    async def _thumbnail(self, upload: UploadView, attachment_id: int) -> None:
        """The small preview, as a file sent in chat gets it."""
        for preview in await self.attachments.previews(upload.case_id):
            if preview.attachment_id == attachment_id:
                params = {"photo": {"blob": preview.low_blob_id}, "protect_content": True}
                row = OutboxMessage(
                    upload.chat_id,
                    "sendPhoto",
                    params,
                    Priority.CLINICAL,
                    dedupe_key=f"upload:{upload.id}:thumbnail",
                )
                await self.outbox.enqueue([row])
                return
