"""Phone photos (JPEG, PNG, WebP): verified, bounded, upright and stripped of all metadata.

:func:`load_photo` returns a fresh Pillow image that carries no EXIF (GPS!), XMP, ICC or
text chunks: pixels only, converted to sRGB when the photo had an ICC profile. It also
flags photos that Telegram has already re-encoded (about 1280 px, no EXIF, libjpeg's
standard quantisation tables) so the bot can ask for the original file instead.
"""

from __future__ import annotations

import io
import warnings
from dataclasses import dataclass

from PIL import Image, ImageCms, ImageOps

from bot.imaging.errors import ImagingError, Reason

__all__ = [
    "Photo",
    "PhotoLimits",
    "estimate_jpeg_quality",
    "load_photo",
    "sniff_photo_format",
]

#: Telegram re-encodes photos so that the long side is at most this many pixels
TELEGRAM_LONG_SIDE = 1280
_TELEGRAM_BAND = (1200, TELEGRAM_LONG_SIDE)

# ITU-T T.81 Annex K luminance quantisation table (natural order), the base of libjpeg's
# quality scaling; server-side encoders (Telegram included) use it, phone cameras rarely do
_STD_LUMA = (
    16, 11, 10, 16, 24, 40, 51, 61,
    12, 12, 14, 19, 26, 58, 60, 55,
    14, 13, 16, 24, 40, 57, 69, 56,
    14, 17, 22, 29, 51, 87, 80, 62,
    18, 22, 37, 56, 68, 109, 103, 77,
    24, 35, 55, 64, 81, 104, 113, 92,
    49, 64, 78, 87, 103, 121, 120, 101,
    72, 92, 95, 98, 112, 100, 103, 99,
)  # fmt: skip


@dataclass(frozen=True)
class PhotoLimits:
    """Upper bounds for an uploaded photo."""

    max_bytes: int = 20 * 1024 * 1024
    max_pixels: int = 50_000_000
    max_side: int = 30_000


@dataclass
class Photo:
    """A clean photo: metadata-free RGB or L image plus what we learnt about the upload."""

    image: Image.Image
    compressed_suspect: bool
    original_format: str
    had_exif: bool = False
    jpeg_quality: int | None = None

    @property
    def width(self) -> int:
        return self.image.width

    @property
    def height(self) -> int:
        return self.image.height


def sniff_photo_format(data: bytes) -> str | None:
    """``JPEG``, ``PNG`` or ``WEBP`` from the magic bytes, else ``None``."""
    if data[:3] == b"\xff\xd8\xff":
        return "JPEG"
    if data[:8] == b"\x89PNG\r\n\x1a\n":
        return "PNG"
    if data[:4] == b"RIFF" and data[8:12] == b"WEBP":
        return "WEBP"
    return None


def _ijg_table(quality: int) -> list[int]:
    scale = 5000 // quality if quality < 50 else 200 - 2 * quality
    return [min(255, max(1, (v * scale + 50) // 100)) for v in _STD_LUMA]


def estimate_jpeg_quality(image: Image.Image) -> int | None:
    """The libjpeg quality whose scaled standard table equals the luma table exactly, if any."""
    tables = getattr(image, "quantization", None)
    if not tables or 0 not in tables:
        return None
    luma = list(tables[0])
    if len(luma) != 64:
        return None
    for quality in range(1, 101):
        if _ijg_table(quality) == luma:
            return quality
    return None


def _check_size(width: int, height: int, limits: PhotoLimits) -> None:
    if width <= 0 or height <= 0:
        raise ImagingError(Reason.CORRUPT, "image has no pixels")
    if width * height > limits.max_pixels or max(width, height) > limits.max_side:
        raise ImagingError(Reason.TOO_LARGE, f"image {width}x{height} exceeds the pixel limit")


def _to_srgb(image: Image.Image, icc: bytes | None) -> Image.Image:
    if not icc or image.mode not in ("RGB", "RGBA", "CMYK", "L"):
        return image
    try:
        src = ImageCms.ImageCmsProfile(io.BytesIO(icc))
        out_mode = "RGBA" if image.mode == "RGBA" else "RGB" if image.mode != "L" else "L"
        if out_mode == "L":
            return image  # grayscale profiles: keep the values
        dst = ImageCms.createProfile("sRGB")
        converted = ImageCms.profileToProfile(image, src, dst, outputMode=out_mode)
        return converted if converted is not None else image
    except (ImageCms.PyCMSError, OSError, ValueError, TypeError):
        return image  # unusable profile: keep the pixels as they are


def _normalise_mode(image: Image.Image) -> Image.Image:
    """Return an ``L`` or ``RGB`` image; alpha is composited on white."""
    if image.mode in ("L", "RGB"):
        return image
    if image.mode == "P":
        image = image.convert("RGBA" if "transparency" in image.info else "RGB")
    if image.mode in ("I;16", "I;16B", "I;16L", "I"):
        # 16-bit grayscale PNG: scale to 8 bits
        return image.point(lambda v: v / 256).convert("L")
    if image.mode in ("LA", "La", "PA", "RGBA", "RGBa"):
        rgba = image.convert("RGBA")
        background = Image.new("RGBA", rgba.size, (255, 255, 255, 255))
        background.alpha_composite(rgba)
        return background.convert("RGB")
    if image.mode == "1":
        return image.convert("L")
    return image.convert("RGB")


def _fresh(image: Image.Image) -> Image.Image:
    """A brand new image with the same pixels and an empty ``info`` (no metadata at all)."""
    return Image.frombytes(image.mode, image.size, image.tobytes())


def load_photo(data: bytes, *, limits: PhotoLimits | None = None) -> Photo:
    """Verify, bound, orient and strip a JPEG/PNG/WebP photo; raise :class:`ImagingError`."""
    limits = limits or PhotoLimits()
    if len(data) > limits.max_bytes:
        raise ImagingError(Reason.TOO_LARGE, f"photo of {len(data)} bytes exceeds the limit")
    fmt = sniff_photo_format(data)
    if fmt is None:
        raise ImagingError(Reason.UNSUPPORTED, "not a JPEG, PNG or WebP photo")
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            image = Image.open(io.BytesIO(data), formats=[fmt])
            _check_size(image.width, image.height, limits)
            had_exif = bool(image.getexif()) or "exif" in image.info
            quality = estimate_jpeg_quality(image) if fmt == "JPEG" else None
            icc = image.info.get("icc_profile")
            image.load()
            upright = ImageOps.exif_transpose(image) or image
            _check_size(upright.width, upright.height, limits)
            clean = _fresh(_normalise_mode(_to_srgb(upright, icc)))
    except ImagingError:
        raise
    except (Image.DecompressionBombError, Image.DecompressionBombWarning):
        raise ImagingError(Reason.TOO_LARGE, "decompression bomb") from None
    except MemoryError:
        raise ImagingError(Reason.TOO_LARGE, "photo too large to decode") from None
    except Exception as exc:  # Pillow raises OSError, SyntaxError, ValueError, struct.error…
        raise ImagingError(Reason.CORRUPT, f"unreadable {fmt}: {type(exc).__name__}") from None
    return Photo(
        image=clean,
        compressed_suspect=_telegram_suspect(fmt, clean.size, had_exif, quality),
        original_format=fmt,
        had_exif=had_exif,
        jpeg_quality=quality,
    )


def _telegram_suspect(fmt: str, size: tuple[int, int], had_exif: bool, quality: int | None) -> bool:
    """A JPEG without EXIF whose long side is ≤ 1280 px and that looks server-encoded.

    Phone cameras always write EXIF and use their own tables; Telegram strips EXIF, scales
    to 1280 px on the long side and re-encodes with libjpeg's standard tables.
    """
    if fmt != "JPEG" or had_exif:
        return False
    long_side = max(size)
    if long_side > TELEGRAM_LONG_SIDE:
        return False
    return _TELEGRAM_BAND[0] <= long_side or quality is not None
