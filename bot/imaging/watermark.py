"""Visible watermark for previews: a band *outside* the image and a faint tiled case code.

The band is added below the image (the canvas grows; no pixel of the anatomy is covered) and
says "NOT FOR DIAGNOSTIC USE", the case code, the recipient's label and the UTC time, so a
forwarded screenshot still tells where it came from. The tiled case code across the image is
faint (about 12 % opacity, light text with a dark outline so it shows on bright and dark
areas alike). The font is DejaVu Sans when the system has it, else Pillow's built-in
scalable font (``ImageFont.load_default(size=…)``, Pillow ≥ 10.1), so no font file is
required; characters the font cannot draw are left out rather than shown as boxes.
"""

from __future__ import annotations

import hashlib
import re
import unicodedata
from dataclasses import dataclass
from datetime import UTC, datetime
from functools import lru_cache
from typing import Final

from PIL import Image, ImageDraw, ImageFont

__all__ = ["NOTICE", "Watermark", "apply_watermark"]

NOTICE: Final[str] = "NOT FOR DIAGNOSTIC USE"
#: Opacity of the tiled case code (0–255).
TILE_ALPHA: Final[int] = 32
BAND_BACKGROUND: Final[int] = 24
BAND_TEXT: Final[int] = 235


@dataclass(frozen=True)
class Watermark:
    """Who a preview was made for, and when (naive datetimes are taken as UTC)."""

    case_code: str
    recipient: str
    when: datetime

    def utc_label(self) -> str:
        when = self.when if self.when.tzinfo else self.when.replace(tzinfo=UTC)
        return when.astimezone(UTC).strftime("%Y-%m-%d %H:%M UTC")

    def band_lines(self) -> tuple[str, str]:
        """The two lines of the band: the notice, then case · recipient · time.

        Characters the font cannot draw are dropped (a name in Devanagari would otherwise
        show as boxes); a recipient left without letters is shown as ``#`` and a short
        digest of the label, which still tells the sender who received the copy.
        """
        recipient = _drawable(_printable(self.recipient))
        # Tidy what dropping characters left behind: runs of spaces, dangling punctuation.
        recipient = re.sub(r"\s+", " ", recipient)
        recipient = re.sub(r"(?:\s+[^\w\s]*)+$|^(?:[^\w\s]*\s+)+", "", recipient)
        if not any(ch.isalnum() for ch in recipient):
            digest = hashlib.sha256(self.recipient.encode()).hexdigest()[:6].upper()
            recipient = f"#{digest}"
        case = _drawable(_printable(self.case_code)).strip() or "-"
        return NOTICE, f"Case {case} · for {recipient} · {self.utc_label()}"[:200]


def _printable(text: str) -> str:
    """Drop control characters (a label is user input)."""
    return "".join(ch for ch in text if ch.isprintable())[:200]


#: Scalable fonts tried before Pillow's built-in one (which covers ASCII only): DejaVu Sans
#: adds accented Latin, Greek and Cyrillic where the system has it.
FONT_FILES: Final[tuple[str, ...]] = (
    "DejaVuSans.ttf",
    "/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf",
)


@lru_cache(maxsize=64)
def _font(size: int) -> ImageFont.FreeTypeFont | ImageFont.ImageFont:
    for path in FONT_FILES:
        try:
            return ImageFont.truetype(path, size)
        except OSError:
            continue
    return ImageFont.load_default(size=size)


@lru_cache(maxsize=4096)
def _has_glyph(ch: str) -> bool:
    """Whether the font draws ``ch`` as something other than its "missing glyph" box."""
    if ch.isspace():
        return True
    font = _font(24)
    missing = font.getmask("\U0010fffd")
    mask = font.getmask(ch)
    return (mask.size, bytes(mask)) != (missing.size, bytes(missing))


def _drawable(text: str) -> str:
    """``text`` without the characters the font lacks (and the marks combining with them)."""
    kept: list[str] = []
    base_kept = True
    for ch in unicodedata.normalize("NFD", text):  # é → e + ◌́: the letter survives alone
        if unicodedata.category(ch).startswith("M"):  # vowel signs, viramas, accents
            if base_kept and _has_glyph(ch):
                kept.append(ch)
            continue
        base_kept = _has_glyph(ch)
        if base_kept:
            kept.append(ch)
    return unicodedata.normalize("NFC", "".join(kept))


def _fitting_font(
    text: str, width: int, start: int
) -> ImageFont.FreeTypeFont | ImageFont.ImageFont:
    """The largest font ≤ ``start`` px whose rendering of ``text`` fits ``width``."""
    size = start
    while size > 8:
        font = _font(size)
        if font.getlength(text) <= width:
            return font
        size = max(8, int(size * 0.85))
    return _font(8)


def _band(width: int, lines: tuple[str, str], mode: str) -> Image.Image:
    """The caption band: notice in bold-ish larger type, details below, centred."""
    notice_size = max(12, min(40, width // 22))
    margin = max(4, notice_size // 3)
    notice_font = _fitting_font(lines[0], width - 2 * margin, notice_size)
    detail_font = _fitting_font(lines[1], width - 2 * margin, max(10, notice_size * 2 // 3))
    n_box = notice_font.getbbox(lines[0])
    d_box = detail_font.getbbox(lines[1])
    n_h = int(n_box[3] - n_box[1])
    d_h = int(d_box[3] - d_box[1])
    height = margin * 3 + n_h + d_h
    fill = (BAND_BACKGROUND,) * 3 if mode == "RGB" else BAND_BACKGROUND
    ink = (BAND_TEXT,) * 3 if mode == "RGB" else BAND_TEXT
    band = Image.new(mode, (width, height), fill)
    draw = ImageDraw.Draw(band)
    n_w = notice_font.getlength(lines[0])
    d_w = detail_font.getlength(lines[1])
    draw.text(((width - n_w) / 2, margin - n_box[1]), lines[0], font=notice_font, fill=ink)
    y = margin * 2 + n_h - d_box[1]
    draw.text(((width - d_w) / 2, y), lines[1], font=detail_font, fill=ink)
    return band


@lru_cache(maxsize=32)
def _tile(text: str, size: int) -> Image.Image:
    """One rotated ``LA`` tile of the case code: light fill, dark outline, low alpha."""
    font = _font(size)
    box = font.getbbox(text, stroke_width=1)
    w, h = int(box[2] - box[0]) + 4, int(box[3] - box[1]) + 4
    tile = Image.new("LA", (w, h), (0, 0))
    ImageDraw.Draw(tile).text(
        (2 - box[0], 2 - box[1]),
        text,
        font=font,
        fill=(255, TILE_ALPHA),
        stroke_width=1,
        stroke_fill=(0, TILE_ALPHA),
    )
    return tile.rotate(30, expand=True, resample=Image.Resampling.BILINEAR)


def _tiled_layer(size: tuple[int, int], text: str) -> Image.Image:
    width, height = size
    tile = _tile(text, max(12, min(48, min(width, height) // 16)))
    layer = Image.new("LA", size, (0, 0))
    step_x = tile.width + tile.width // 2
    step_y = tile.height + tile.height // 3
    for row, y in enumerate(range(-tile.height // 2, height, step_y)):
        offset = (step_x // 2) * (row % 2)
        for x in range(-tile.width // 2 - offset, width, step_x):
            layer.paste(tile, (x, y))  # tiles never overlap; paste clips at the edges
    return layer


def apply_watermark(image: Image.Image, mark: Watermark) -> Image.Image:
    """Return a new image: faint tiled case code over ``image`` and the caption band below it."""
    mode = "RGB" if image.mode == "RGB" else "L"
    base = image if image.mode == mode else image.convert(mode)
    code = _drawable(_printable(mark.case_code)).strip() or "-"
    layer = _tiled_layer(base.size, code)
    if mode == "L":
        marked = base.convert("LA")
        marked.alpha_composite(layer)
        marked = marked.convert("L")
    else:
        marked = base.convert("RGBA")
        marked.alpha_composite(layer.convert("RGBA"))
        marked = marked.convert("RGB")
    band = _band(base.width, mark.band_lines(), mode)
    out = Image.new(mode, (base.width, base.height + band.height))
    out.paste(marked, (0, 0))
    out.paste(band, (0, base.height))
    return out
