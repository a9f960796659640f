"""Previews: sizes, Telegram limits, one-channel grayscale, no metadata."""

from __future__ import annotations

import io
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from bot.imaging.dicom_render import load, render
from bot.imaging.preview import (
    HD,
    LOW,
    TELEGRAM_MAX_RATIO,
    TELEGRAM_MAX_SUM,
    encode,
    fit,
    make_preview,
    make_previews,
    telegram_safe,
)


def _open(data: bytes) -> Image.Image:
    image = Image.open(io.BytesIO(data))
    image.load()
    return image


def _assert_no_metadata(image: Image.Image) -> None:
    assert not image.getexif()
    for key in ("exif", "icc_profile", "xmp", "XML:com.adobe.xmp", "comment", "dpi"):
        assert key not in image.info
    if image.format == "PNG":
        assert not getattr(image, "text", {})


def _assert_telegram_ok(image: Image.Image, size: int) -> None:
    w, h = image.size
    assert size <= 10 * 1024 * 1024
    assert w + h <= TELEGRAM_MAX_SUM
    assert max(w, h) / min(w, h) <= TELEGRAM_MAX_RATIO


@pytest.fixture(scope="module")
def chest(corpus: Path) -> Image.Image:
    return render(load(corpus / "dx_chest_pa_mono1_j2k.dcm")).image


def test_chest_film_previews(chest: Image.Image) -> None:
    previews = make_previews(chest)
    hd, low = previews["hd"], previews["low"]
    assert max(hd.width, hd.height) == HD
    assert max(low.width, low.height) == LOW
    assert hd.size < 150 * 1024
    assert low.size < hd.size
    for p in (hd, low):
        image = _open(p.data)
        assert image.format == "JPEG"
        assert image.mode == "L"  # grayscale kept as one channel
        assert image.info.get("progressive") or image.info.get("progression")
        _assert_no_metadata(image)
        _assert_telegram_ok(image, p.size)


@pytest.mark.parametrize("fmt", ["jpeg", "webp", "png"])
def test_formats_have_no_metadata(fmt: str) -> None:
    photo = Image.new("RGB", (300, 200), (10, 120, 200))
    exif = Image.Exif()
    exif[0x010F] = "PhoneMaker"  # Make
    exif[0x8825] = {2: (12.0, 34.0, 56.0)}  # GPS
    buf = io.BytesIO()
    photo.save(buf, "JPEG", exif=exif, icc_profile=b"\0" * 128)
    tainted = Image.open(io.BytesIO(buf.getvalue()))
    assert tainted.getexif()
    p = make_preview(tainted, fmt=fmt)  # type: ignore[arg-type]
    image = _open(p.data)
    assert image.format == fmt.upper()
    _assert_no_metadata(image)
    assert b"PhoneMaker" not in p.data


def test_extreme_aspect_is_padded_to_telegram_limits() -> None:
    strip = Image.new("L", (4000, 50), 200)
    p = make_preview(strip)
    image = _open(p.data)
    _assert_telegram_ok(image, p.size)
    assert image.width == HD
    arr = np.asarray(image)
    assert arr[0].mean() < 10  # black padding above the strip
    assert arr[arr.shape[0] // 2].mean() > 180


def test_tall_aspect_is_padded() -> None:
    safe = telegram_safe(Image.new("RGB", (10, 1000)))
    assert safe.size == (50, 1000)


def test_large_max_side_keeps_width_plus_height_in_limit() -> None:
    big = Image.new("L", (9000, 8000), 128)
    fitted = fit(big, max_side=9000)
    assert fitted.width + fitted.height <= TELEGRAM_MAX_SUM


def test_small_images_are_enlarged_but_not_beyond_max_side() -> None:
    tiny = Image.new("L", (64, 64), 128)
    assert fit(tiny).size == (512, 512)
    assert fit(tiny, max_side=300).size == (300, 300)


def test_colour_stays_colour_and_grayscale_one_channel() -> None:
    rgb = Image.new("RGB", (100, 100), (255, 0, 0))
    assert _open(encode(rgb)).mode == "RGB"
    assert _open(encode(Image.new("L", (100, 100), 50))).mode == "L"
    assert _open(encode(Image.new("RGBA", (100, 100), (0, 0, 255, 128)))).mode == "RGB"


def test_multiframe_contact_sheet_preview(corpus: Path) -> None:
    r = render(load(corpus / "enhanced_mr_10frames.dcm"))
    assert r.contact_sheet is not None
    p = make_preview(r.contact_sheet)
    image = _open(p.data)
    _assert_telegram_ok(image, p.size)
    assert max(image.size) <= HD
