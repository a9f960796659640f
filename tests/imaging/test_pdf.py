"""PDF attachments: validation, encryption, page count, first-page preview."""

from __future__ import annotations

import io

import pytest
from PIL import Image

from bot.imaging import pdf as pdf_module
from bot.imaging.errors import ImagingError, Reason
from bot.imaging.pdf import PdfLimits, inspect_pdf, is_pdf


def _pillow_pdf(pages: int = 2, size: tuple[int, int] = (300, 200)) -> bytes:
    images = [Image.new("RGB", size, (200, 20, 20)) for _ in range(pages)]
    buf = io.BytesIO()
    images[0].save(buf, "PDF", save_all=True, append_images=images[1:], resolution=72)
    return buf.getvalue()


def _encrypted_pdf() -> bytes:
    """A PDF whose trailer names a Standard security handler with an unknown password."""
    body = _pillow_pdf(1)
    head, _, _ = body.rpartition(b"trailer")
    encrypt = (
        b"99 0 obj\n<< /Filter /Standard /V 1 /R 2 /P -4 /O <"
        + b"11" * 32
        + b"> /U <"
        + b"22" * 32
        + b"> >>\nendobj\n"
    )
    return (
        head
        + encrypt
        + b"trailer\n<< /Size 100 /Root 1 0 R /Encrypt 99 0 R /ID [<00112233><00112233>] >>\n"
        + b"startxref\n0\n%%EOF\n"
    )


def test_is_pdf() -> None:
    assert is_pdf(_pillow_pdf())
    assert is_pdf(b"junk\n%PDF-1.4\n")
    assert not is_pdf(b"\x89PNG")


def test_pages_and_preview() -> None:
    info = inspect_pdf(_pillow_pdf(3, size=(600, 400)))
    assert info.pages == 3
    assert not info.encrypted
    if pdf_module._pdfium is None:
        assert info.preview is None
        return
    assert info.preview is not None
    assert max(info.preview.size) == 1280
    assert info.preview.mode == "RGB"
    r, g, _b = info.preview.getpixel((640, 400))
    assert r > 150
    assert g < 80
    assert not info.preview.info


def test_no_preview_requested() -> None:
    assert inspect_pdf(_pillow_pdf(1), preview=False).preview is None


def test_encrypted() -> None:
    with pytest.raises(ImagingError) as info:
        inspect_pdf(_encrypted_pdf())
    assert info.value.reason is Reason.ENCRYPTED_PDF


def test_encrypted_without_pdfium(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(pdf_module, "_pdfium", None)
    with pytest.raises(ImagingError) as info:
        inspect_pdf(_encrypted_pdf())
    assert info.value.reason is Reason.ENCRYPTED_PDF
    plain = inspect_pdf(_pillow_pdf(2))
    assert plain.pages == 2
    assert plain.preview is None


def test_not_pdf_truncated_too_large() -> None:
    with pytest.raises(ImagingError) as info:
        inspect_pdf(b"hello world")
    assert info.value.reason is Reason.UNSUPPORTED
    data = _pillow_pdf(2)
    with pytest.raises(ImagingError) as info:
        inspect_pdf(data[: len(data) // 2])
    assert info.value.reason is Reason.CORRUPT
    with pytest.raises(ImagingError) as info:
        inspect_pdf(data, limits=PdfLimits(max_bytes=100))
    assert info.value.reason is Reason.TOO_LARGE


def test_garbage_after_header() -> None:
    with pytest.raises(ImagingError) as info:
        inspect_pdf(b"%PDF-1.7\n" + b"\x00garbage" * 100 + b"\nstartxref\n0\n%%EOF\n")
    assert info.value.reason is Reason.CORRUPT
