"""PDFs (lab reports, discharge summaries) kept as attachments, with a first-page preview.

Validation is by content: a ``%PDF-`` header within the first 1024 bytes (PDF 32000-1
7.5.2 allows leading junk) and a cross-reference trailer. A document whose trailer (or
cross-reference stream) names an ``/Encrypt`` dictionary and that cannot be opened without
a password fails with :attr:`Reason.ENCRYPTED_PDF`. Page count and the first-page preview
come from PDFium through ``pypdfium2`` (BSD-3-Clause / Apache-2.0) when it is installed;
without it, the page count is a cheap estimate and there is no preview.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from PIL import Image

from bot.imaging.errors import ImagingError, Reason

__all__ = ["PdfInfo", "PdfLimits", "inspect_pdf", "is_pdf"]

try:  # optional: pure wheel with a bundled PDFium binary
    import pypdfium2 as _pdfium
except ImportError:  # pragma: no cover - depends on the environment
    _pdfium = None

_ENCRYPT = re.compile(rb"/Encrypt\s*(?:\d+\s+\d+\s+R|<<)")
_PAGE = re.compile(rb"/Type\s*/Page(?![a-zA-Z])")
_VERSION = re.compile(rb"%PDF-(\d\.\d)")


@dataclass(frozen=True)
class PdfLimits:
    """Upper bounds for an uploaded PDF and its preview."""

    max_bytes: int = 50 * 1024 * 1024
    preview_long_side: int = 1280
    max_page_points: float = 20_000.0


@dataclass
class PdfInfo:
    """A validated PDF: version, page count (``None`` if unknown), preview of page 1."""

    version: str
    pages: int | None
    preview: Image.Image | None
    encrypted: bool = False  # owner-password only: opens without a password


def is_pdf(data: bytes) -> bool:
    """True when a ``%PDF-`` header appears within the first 1024 bytes."""
    return b"%PDF-" in data[:1024]


def _render_first_page(doc: Any, limits: PdfLimits) -> Image.Image | None:
    page = doc[0]
    try:
        width, height = page.get_size()
        if not (0 < width <= limits.max_page_points and 0 < height <= limits.max_page_points):
            return None
        scale = min(limits.preview_long_side / max(width, height), 4.0)
        bitmap = page.render(scale=scale)
        image = bitmap.to_pil()
        return Image.frombytes(image.mode, image.size, image.tobytes()).convert("RGB")
    finally:
        page.close()


def inspect_pdf(data: bytes, *, limits: PdfLimits | None = None, preview: bool = True) -> PdfInfo:
    """Validate a PDF, detect encryption, count pages and render page 1 when possible."""
    limits = limits or PdfLimits()
    if len(data) > limits.max_bytes:
        raise ImagingError(Reason.TOO_LARGE, f"PDF of {len(data)} bytes exceeds the limit")
    if not is_pdf(data):
        raise ImagingError(Reason.UNSUPPORTED, "not a PDF")
    match = _VERSION.search(data[:1024])
    version = match.group(1).decode() if match else "?"
    tail = data[-65536:]  # generous: some producers append padding after the trailer
    if b"%%EOF" not in tail and b"startxref" not in tail:
        raise ImagingError(Reason.CORRUPT, "PDF has no trailer (truncated?)")
    has_encrypt = _ENCRYPT.search(data) is not None
    if _pdfium is None:
        if has_encrypt:
            raise ImagingError(Reason.ENCRYPTED_PDF, "PDF is encrypted")
        pages = len(_PAGE.findall(data)) or None
        return PdfInfo(version=version, pages=pages, preview=None)
    try:
        doc = _pdfium.PdfDocument(data)
    except _pdfium.PdfiumError as exc:
        if has_encrypt or "password" in str(exc).lower():
            raise ImagingError(Reason.ENCRYPTED_PDF, "PDF needs a password") from None
        raise ImagingError(Reason.CORRUPT, "unreadable PDF") from None
    try:
        pages = len(doc)
        if pages <= 0:
            raise ImagingError(Reason.CORRUPT, "PDF has no pages")
        image = None
        if preview:
            try:
                image = _render_first_page(doc, limits)
            except MemoryError:
                raise
            except Exception:
                image = None  # a page that does not render leaves the attachment valid
        return PdfInfo(version=version, pages=pages, preview=image, encrypted=has_encrypt)
    except MemoryError:
        raise ImagingError(Reason.TOO_LARGE, "PDF too large to render") from None
    finally:
        doc.close()
