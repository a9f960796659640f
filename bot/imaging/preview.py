"""Previews for phones on slow links, always within Telegram's photo limits and without metadata.

* Progressive JPEG by default (a blurry whole image arrives first on EDGE); grayscale stays one
  channel (a third of the bytes of RGB); quality 78. WebP and PNG on request.
* Two sizes: long side 1280 px ("hd", what Telegram re-encodes photos to anyway) and 640 px
  ("low", about 25 KB for a CR/DX): send low first, offer HD.
* Telegram photo limits: ≤ 10 MB, width + height ≤ 10000, aspect ratio ≤ 20. Extreme aspect
  ratios are padded with black (nothing of the image is cropped away).
* Never EXIF, ICC, XMP or text chunks: the output is encoded from a fresh image whose ``info``
  is empty, and no metadata argument is passed to the encoder.
"""

from __future__ import annotations

import io
from dataclasses import dataclass
from typing import Final, Literal

from PIL import Image

from bot.imaging.watermark import Watermark, apply_watermark

__all__ = [
    "HD",
    "LOW",
    "Preview",
    "encode",
    "fit",
    "make_preview",
    "make_previews",
    "telegram_safe",
]

Format = Literal["jpeg", "webp", "png"]

HD: Final[int] = 1280
LOW: Final[int] = 640
#: Small images (a 64² MR) are enlarged to this long side so text and detail stay legible.
MIN_SIDE: Final[int] = 512
JPEG_QUALITY: Final[int] = 78
WEBP_QUALITY: Final[int] = 75

TELEGRAM_MAX_BYTES: Final[int] = 10 * 1024 * 1024
TELEGRAM_MAX_SUM: Final[int] = 10_000
TELEGRAM_MAX_RATIO: Final[float] = 20.0

MIME: Final[dict[str, str]] = {"jpeg": "image/jpeg", "webp": "image/webp", "png": "image/png"}
SUFFIX: Final[dict[str, str]] = {"jpeg": ".jpg", "webp": ".webp", "png": ".png"}


@dataclass(frozen=True)
class Preview:
    """An encoded preview."""

    data: bytes
    format: Format
    width: int
    height: int

    @property
    def size(self) -> int:
        """Encoded size in bytes."""
        return len(self.data)

    @property
    def mime(self) -> str:
        return MIME[self.format]

    @property
    def suffix(self) -> str:
        return SUFFIX[self.format]


def _display_mode(image: Image.Image) -> Image.Image:
    """8-bit ``L`` or ``RGB``: the only modes we encode (alpha is flattened onto black)."""
    if image.mode in ("L", "RGB"):
        return image
    if image.mode in ("LA", "RGBA", "PA", "P") and (
        "A" in image.mode or "transparency" in image.info
    ):
        rgba = image.convert("RGBA")
        base = Image.new("RGB", rgba.size)
        base.paste(rgba, mask=rgba.getchannel("A"))
        return base
    if image.mode in ("1", "I;16", "I", "F"):
        return image.convert("L")
    return image.convert("RGB")


def fit(image: Image.Image, max_side: int = HD, min_side: int = MIN_SIDE) -> Image.Image:
    """Scale so the long side is at most ``max_side`` (and small images up to ``min_side``).

    Downscaling is Pillow's antialiased bicubic convolution (after an integer ``reduce`` for
    large factors): within 0.25 grey levels of Lanczos on average at 60 % of its cost.
    """
    width, height = image.size
    long_side = max(width, height)
    target = long_side
    if long_side > max_side:
        target = max_side
    elif long_side < min(min_side, max_side):
        target = min(min_side, max_side)
    # width + height must stay within Telegram's limit whatever max_side was asked for.
    scale = target / long_side
    if (width + height) * scale > TELEGRAM_MAX_SUM:
        scale = (TELEGRAM_MAX_SUM - 1) / (width + height)
    if abs(scale - 1.0) < 1e-9:
        return image
    size = (max(1, round(width * scale)), max(1, round(height * scale)))
    if scale < 1:
        return image.resize(size, Image.Resampling.BICUBIC, reducing_gap=3.0)
    return image.resize(size, Image.Resampling.BICUBIC)


def telegram_safe(image: Image.Image) -> Image.Image:
    """Pad an image whose aspect ratio exceeds 20 with black so Telegram accepts it as a photo."""
    width, height = image.size
    if max(width, height) / max(1, min(width, height)) <= TELEGRAM_MAX_RATIO:
        return image
    if width >= height:
        new_size = (width, int(-(-width // TELEGRAM_MAX_RATIO)))
    else:
        new_size = (int(-(-height // TELEGRAM_MAX_RATIO)), height)
    canvas = Image.new(image.mode, new_size)
    canvas.paste(image, ((new_size[0] - width) // 2, (new_size[1] - height) // 2))
    return canvas


def _strip(image: Image.Image) -> Image.Image:
    """A pixel-identical image with no metadata attached (EXIF, ICC, XMP, text, DPI).

    Images we made ourselves (``fromarray``, ``resize``…) carry none and are used as they are;
    anything else is rebuilt from its pixels.
    """
    if not image.info and getattr(image, "_exif", None) is None:
        return image
    clean = Image.frombytes(image.mode, image.size, image.tobytes())
    clean.info = {}
    return clean


def encode(image: Image.Image, fmt: Format = "jpeg", quality: int | None = None) -> bytes:
    """Encode without metadata: progressive optimised JPEG, WebP (method 4) or PNG."""
    image = _strip(_display_mode(image))
    buf = io.BytesIO()
    if fmt == "jpeg":
        image.save(
            buf,
            "JPEG",
            quality=quality or JPEG_QUALITY,
            progressive=True,
            optimize=True,
            subsampling="4:2:0",
        )
    elif fmt == "webp":
        image.save(buf, "WEBP", quality=quality or WEBP_QUALITY, method=4)
    elif fmt == "png":
        image.save(buf, "PNG", optimize=False, compress_level=6)
    else:
        raise ValueError(f"unknown preview format {fmt!r}")
    return buf.getvalue()


def make_preview(
    image: Image.Image,
    *,
    max_side: int = HD,
    fmt: Format = "jpeg",
    quality: int | None = None,
    watermark: Watermark | None = None,
) -> Preview:
    """Fit, watermark (band below the image), pad to a Telegram-safe aspect ratio, encode.

    The long side stays within ``max_side`` band included; shrinks further if over 10 MB.
    """
    shown = fit(_display_mode(image), max_side)
    if watermark is not None:
        shown = apply_watermark(shown, watermark)
        if max(shown.size) > max_side:
            shown = fit(shown, max_side)
    shown = telegram_safe(shown)
    data = encode(shown, fmt, quality)
    while len(data) > TELEGRAM_MAX_BYTES and max(shown.size) > 64:
        shown = shown.resize(
            (max(1, shown.width * 3 // 4), max(1, shown.height * 3 // 4)),
            Image.Resampling.LANCZOS,
        )
        data = encode(shown, "jpeg" if fmt == "png" else fmt, quality)
        fmt = "jpeg" if fmt == "png" else fmt
    return Preview(data=data, format=fmt, width=shown.width, height=shown.height)


def make_previews(
    image: Image.Image,
    *,
    fmt: Format = "jpeg",
    sizes: dict[str, int] | None = None,
    watermark: Watermark | None = None,
) -> dict[str, Preview]:
    """The usual pair: ``{"hd": 1280 px, "low": 640 px}`` (the low one is made from the HD one)."""
    wanted = sizes or {"hd": HD, "low": LOW}
    out: dict[str, Preview] = {}
    source = _display_mode(image)
    previous: tuple[tuple[int, int], Preview] | None = None
    for name, side in sorted(wanted.items(), key=lambda kv: -kv[1]):
        base = fit(source, side)
        if previous is not None and previous[0] == base.size:
            out[name] = previous[1]  # a small image: the low version is the HD one
            continue
        out[name] = make_preview(base, max_side=side, fmt=fmt, watermark=watermark)
        previous = (base.size, out[name])
        source = base
    return out
