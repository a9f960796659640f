"""Classified failures of the imaging pipeline: a reason the bot can translate, not a traceback."""

from __future__ import annotations

from enum import StrEnum


class Reason(StrEnum):
    """Why an input could not be processed; each value has a localised message in the bot."""

    UNSUPPORTED = "unsupported"
    CORRUPT = "corrupt"
    TOO_LARGE = "too_large"
    NO_PIXEL_DATA = "no_pixel_data"
    ENCRYPTED_PDF = "encrypted_pdf"
    UNSAFE_ARCHIVE = "unsafe_archive"
    ENCRYPTED_ARCHIVE = "encrypted_archive"
    TIMEOUT = "timeout"
    CRASHED = "crashed"


class ImagingError(Exception):
    """An input failed for a known ``reason``; ``detail`` is for logs, never patient data."""

    def __init__(self, reason: Reason, detail: str = "") -> None:
        super().__init__(f"{reason.value}: {detail}" if detail else reason.value)
        self.reason = reason
        self.detail = detail
