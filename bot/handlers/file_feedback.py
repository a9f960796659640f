"""What the chat says about one received file, wherever it came from (chat or upload link)."""

from __future__ import annotations

from bot.cases.attachments import AttachmentOutcome
from bot.handlers import case_texts
from bot.i18n import Translator
from bot.imaging.errors import Reason


def outcome_text(tr: Translator, outcome: AttachmentOutcome, *, sent_as_photo: bool = False) -> str:
    """Processed (kind, images, warnings) or refused with the reason, in the reader's words."""
    if not outcome.ok:
        return "❌ " + tr._(case_texts.ATTACHMENT_REFUSALS[outcome.reason or Reason.CRASHED])
    if outcome.duplicate:
        return tr._("This file was already received.")
    what = outcome.modality or case_texts.file_kind(tr, outcome.kind)
    text = "✅ " + tr.ngettext(
        "Received: {what}, {n} image.", "Received: {what}, {n} images.", outcome.frames, what=what
    )
    if outcome.burned_in_risk and outcome.kind == "dicom":
        text += "\n" + tr._(
            "Note: names may be written inside this image; the specialist will be warned."
        )
    if outcome.compressed_suspect and sent_as_photo:
        text += "\n\n" + tr._(case_texts.COMPRESSED_PHOTO)
    return text
