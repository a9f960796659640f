"""Photos: limits, bombs, EXIF orientation, metadata stripping, Telegram-compression hint."""

from __future__ import annotations

import io
import struct
import zlib

import pytest
from PIL import Image, ImageCms

from bot.imaging.errors import ImagingError, Reason
from bot.imaging.photos import (
    PhotoLimits,
    estimate_jpeg_quality,
    load_photo,
    sniff_photo_format,
)

GPS_IFD = 0x8825
ORIENTATION = 0x0112


def _photo(size: tuple[int, int] = (400, 300), mode: str = "RGB") -> Image.Image:
    image = Image.new(mode, size, (30, 90, 200) if mode == "RGB" else 128)
    # a marker in the top-left corner to check the orientation
    image.paste((255, 0, 0) if mode == "RGB" else 255, (0, 0, 40, 20))
    return image


def _exif_with_gps(orientation: int = 1) -> Image.Exif:
    exif = Image.Exif()
    exif[ORIENTATION] = orientation
    exif[0x010F] = "PhoneMaker"  # Make
    exif[0x0110] = "SecretPhone 9"  # Model
    exif[GPS_IFD] = {1: "N", 2: (28.0, 36.0, 50.0), 3: "E", 4: (77.0, 13.0, 12.0)}
    return exif


def _jpeg(image: Image.Image, **kwargs: object) -> bytes:
    buf = io.BytesIO()
    image.save(buf, "JPEG", **kwargs)
    return buf.getvalue()


def _png(image: Image.Image, **kwargs: object) -> bytes:
    buf = io.BytesIO()
    image.save(buf, "PNG", **kwargs)
    return buf.getvalue()


def _assert_no_metadata(image: Image.Image) -> None:
    assert not image.info, image.info
    assert len(image.getexif()) == 0
    for fmt in ("JPEG", "PNG", "WEBP"):
        buf = io.BytesIO()
        image.save(buf, fmt)
        reopened = Image.open(io.BytesIO(buf.getvalue()))
        assert len(reopened.getexif()) == 0
        assert "icc_profile" not in reopened.info
        assert b"GPS" not in buf.getvalue()
        assert b"SecretPhone" not in buf.getvalue()


def test_sniff() -> None:
    assert sniff_photo_format(_jpeg(_photo())) == "JPEG"
    assert sniff_photo_format(_png(_photo())) == "PNG"
    buf = io.BytesIO()
    _photo().save(buf, "WEBP")
    assert sniff_photo_format(buf.getvalue()) == "WEBP"
    assert sniff_photo_format(b"%PDF-1.7") is None


def test_exif_gps_removed_and_orientation_applied() -> None:
    # orientation 6: the camera was rotated, viewers must turn the image 90° clockwise
    data = _jpeg(_photo(), exif=_exif_with_gps(6), quality=95)
    assert b"SecretPhone" in data
    photo = load_photo(data)
    assert photo.had_exif
    assert photo.compressed_suspect is False
    assert photo.image.size == (300, 400)  # rotated
    # the red marker moved from top-left to top-right
    assert photo.image.getpixel((299 - 5, 5))[0] > 200
    assert photo.image.getpixel((5, 5))[0] < 100
    _assert_no_metadata(photo.image)


def test_png_text_and_icc_dropped() -> None:
    from PIL import PngImagePlugin

    info = PngImagePlugin.PngInfo()
    info.add_text("Author", "Dr Secret Name")
    icc = ImageCms.ImageCmsProfile(ImageCms.createProfile("sRGB")).tobytes()
    photo = load_photo(_png(_photo(), pnginfo=info, icc_profile=icc))
    assert photo.original_format == "PNG"
    assert photo.compressed_suspect is False
    _assert_no_metadata(photo.image)


def test_modes_normalised() -> None:
    rgba = Image.new("RGBA", (20, 10), (0, 0, 0, 0))
    assert load_photo(_png(rgba)).image.mode == "RGB"
    assert load_photo(_png(rgba)).image.getpixel((1, 1)) == (255, 255, 255)
    assert load_photo(_png(Image.new("I;16", (20, 10), 65535))).image.mode == "L"
    assert load_photo(_png(Image.new("P", (20, 10)))).image.mode == "RGB"
    assert load_photo(_png(Image.new("1", (20, 10)))).image.mode == "L"
    assert load_photo(_jpeg(Image.new("L", (20, 10)))).image.mode == "L"
    assert load_photo(_jpeg(Image.new("CMYK", (20, 10)))).image.mode == "RGB"


def test_too_many_bytes() -> None:
    with pytest.raises(ImagingError) as info:
        load_photo(_jpeg(_photo()), limits=PhotoLimits(max_bytes=100))
    assert info.value.reason is Reason.TOO_LARGE


def test_too_many_pixels() -> None:
    with pytest.raises(ImagingError) as info:
        load_photo(_png(_photo((100, 100))), limits=PhotoLimits(max_pixels=5000))
    assert info.value.reason is Reason.TOO_LARGE


def _chunk(kind: bytes, body: bytes) -> bytes:
    return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body))


def test_png_decompression_bomb_header() -> None:
    # 100000 x 100000 grayscale claimed by the header, a few hundred bytes on the wire
    ihdr = struct.pack(">IIBBBBB", 100_000, 100_000, 8, 0, 0, 0, 0)
    idat = zlib.compress(b"\x00" * 100_001 * 4)
    bomb = b"\x89PNG\r\n\x1a\n" + _chunk(b"IHDR", ihdr) + _chunk(b"IDAT", idat)
    bomb += _chunk(b"IEND", b"")
    assert len(bomb) < 2000
    with pytest.raises(ImagingError) as info:
        load_photo(bomb)
    assert info.value.reason is Reason.TOO_LARGE


def test_truncated_and_garbage() -> None:
    data = _jpeg(_photo((640, 480)), quality=90)
    with pytest.raises(ImagingError) as info:
        load_photo(data[: len(data) // 2])
    assert info.value.reason is Reason.CORRUPT
    with pytest.raises(ImagingError) as info:
        load_photo(b"\xff\xd8\xff" + b"\x00" * 50)
    assert info.value.reason is Reason.CORRUPT
    with pytest.raises(ImagingError) as info:
        load_photo(b"GIF89a" + b"\x00" * 50)
    assert info.value.reason is Reason.UNSUPPORTED


def test_quality_estimate() -> None:
    for quality in (50, 75, 87, 95):
        image = Image.open(io.BytesIO(_jpeg(_photo(), quality=quality)))
        assert estimate_jpeg_quality(image) == quality
    custom = [2] * 64
    image = Image.open(io.BytesIO(_jpeg(_photo(), qtables=[custom, custom])))
    assert estimate_jpeg_quality(image) is None


@pytest.mark.parametrize(
    ("size", "exif", "qtables", "suspect"),
    [
        ((1280, 960), False, None, True),  # Telegram: 1280 long side, no EXIF, libjpeg tables
        ((960, 1280), False, None, True),
        ((1280, 720), False, "custom", True),  # in the 1200–1280 band even with custom tables
        ((800, 600), False, None, True),  # small Telegram photo, standard tables
        ((800, 600), False, "custom", False),  # small, no EXIF but camera-like tables
        ((1280, 960), True, None, False),  # has EXIF: the original file
        ((4000, 3000), False, None, False),  # larger than Telegram ever sends
    ],
)
def test_telegram_compressed_suspect(
    size: tuple[int, int], exif: bool, qtables: str | None, suspect: bool
) -> None:
    kwargs: dict[str, object] = {"quality": 87}
    if exif:
        kwargs["exif"] = _exif_with_gps()
    if qtables == "custom":
        kwargs = {"qtables": [[3] * 64, [4] * 64]}
    photo = load_photo(_jpeg(_photo(size), **kwargs))
    assert photo.compressed_suspect is suspect


def test_png_never_suspect() -> None:
    assert load_photo(_png(_photo((1280, 960)))).compressed_suspect is False
