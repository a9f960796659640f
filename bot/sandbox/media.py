"""Media processing the way Telegram does it: photo recompression and size checks, voice length."""

from __future__ import annotations

import io
import math
import struct
from dataclasses import dataclass

from PIL import Image, ImageOps, UnidentifiedImageError

from bot.sandbox.limits import ApiError, Limits, bad_request

#: Long sides of the variants Telegram keeps of a photo (s, m, x, y).
PHOTO_SIDES = (90, 320, 800, 1280)


@dataclass(frozen=True)
class PhotoVariant:
    """One recompressed JPEG rendition of a photo."""

    data: bytes
    width: int
    height: int


def open_image(data: bytes) -> Image.Image:
    """Decode image bytes or raise ``IMAGE_PROCESS_FAILED`` like Telegram."""
    try:
        image = Image.open(io.BytesIO(data))
        image.load()
    except (UnidentifiedImageError, OSError, ValueError, Image.DecompressionBombError) as exc:
        raise bad_request("IMAGE_PROCESS_FAILED") from exc
    return image


def check_photo(data: bytes, limits: Limits) -> Image.Image:
    """Apply the ``sendPhoto`` limits: size, width + height and aspect ratio."""
    if len(data) > limits.max_photo_bytes:
        raise bad_request("PHOTO_SAVE_FILE_INVALID")
    if not data:
        raise bad_request("file must be non-empty")
    image = open_image(data)
    width, height = image.size
    if width <= 0 or height <= 0:
        raise bad_request("PHOTO_INVALID_DIMENSIONS")
    if width + height > limits.max_photo_dimensions_sum:
        raise bad_request("PHOTO_INVALID_DIMENSIONS")
    if max(width, height) / min(width, height) > limits.max_photo_aspect_ratio:
        raise bad_request("PHOTO_INVALID_DIMENSIONS")
    return image


def _encode_jpeg(image: Image.Image) -> bytes:
    out = io.BytesIO()
    image.save(out, format="JPEG", quality=87, optimize=True)
    return out.getvalue()


def photo_variants(image: Image.Image, long_side: int) -> list[PhotoVariant]:
    """Recompress to JPEG variants (smallest first), long side at most ``long_side``, no EXIF."""
    image = ImageOps.exif_transpose(image)
    if image.mode not in ("RGB", "L"):
        background = Image.new("RGB", image.size, (255, 255, 255))
        rgba = image.convert("RGBA")
        background.paste(rgba, mask=rgba.getchannel("A"))
        image = background
    width, height = image.size
    longest = max(width, height)
    sides = sorted(
        {s for s in PHOTO_SIDES if s < min(longest, long_side)} | {min(longest, long_side)}
    )
    variants: list[PhotoVariant] = []
    for side in sides:
        scale = side / longest
        size = (max(1, round(width * scale)), max(1, round(height * scale)))
        resized = image if size == image.size else image.resize(size, Image.Resampling.LANCZOS)
        variants.append(PhotoVariant(_encode_jpeg(resized), size[0], size[1]))
    return variants


def ogg_duration(data: bytes) -> int | None:
    """Duration in whole seconds of an Ogg Opus stream (last granule / 48 kHz), if parsable."""
    if not data.startswith(b"OggS"):
        return None
    last = data.rfind(b"OggS")
    if last < 0 or last + 14 > len(data):
        return None
    granule: int = struct.unpack_from("<q", data, last + 6)[0]
    if granule <= 0:
        return None
    return max(1, math.ceil(granule / 48000))


def image_size(data: bytes) -> tuple[int, int] | None:
    """Width and height of an image, or ``None`` when it is not an image."""
    try:
        return open_image(data).size
    except ApiError:
        return None
