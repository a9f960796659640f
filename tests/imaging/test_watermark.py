"""Visible watermark: band outside the image, tiled case code, any size."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

import numpy as np
import pytest
from PIL import Image

from bot.imaging.watermark import NOTICE, Watermark, apply_watermark

MARK = Watermark("K7Q2-19", "Dr. A. Sharma", datetime(2026, 11, 28, 19, 30, tzinfo=UTC))


def test_band_is_added_below_without_covering_the_image() -> None:
    image = Image.new("L", (800, 600), 0)
    out = apply_watermark(image, MARK)
    assert out.width == 800
    assert out.height > 600
    band = np.asarray(out)[600:]
    assert band.max() > 200  # text
    assert (band == band[0, 0]).mean() > 0.5  # mostly background


def test_original_pixels_only_faintly_changed() -> None:
    rng = np.random.default_rng(1)
    arr = rng.integers(0, 256, (600, 800), dtype=np.uint8)
    out = np.asarray(apply_watermark(Image.fromarray(arr, "L"), MARK))[:600].astype(int)
    diff = np.abs(out - arr)
    assert diff.max() <= 40  # faint
    assert (diff > 0).mean() > 0.01  # but present: the tiled case code
    assert (diff > 0).mean() < 0.5


@pytest.mark.parametrize("size", [(64, 64), (512, 512), (1280, 960), (300, 1280), (1280, 40)])
@pytest.mark.parametrize("mode", ["L", "RGB"])
def test_any_size_and_mode(size: tuple[int, int], mode: str) -> None:
    out = apply_watermark(Image.new(mode, size, 90), MARK)
    assert out.mode == mode
    assert out.width == size[0]
    assert out.height > size[1]


def test_band_text() -> None:
    notice, details = MARK.band_lines()
    assert notice == NOTICE == "NOT FOR DIAGNOSTIC USE"
    assert "K7Q2-19" in details
    assert "Dr. A. Sharma" in details
    assert "2026-11-28 19:30 UTC" in details


def test_time_is_converted_to_utc_and_controls_dropped() -> None:
    ist = timezone(timedelta(hours=5, minutes=30))
    mark = Watermark("C1\n", "Dr\x00 X", datetime(2026, 11, 29, 1, 0, tzinfo=ist))
    _notice, details = mark.band_lines()
    assert "2026-11-28 19:30 UTC" in details
    assert "\x00" not in details
    assert "\n" not in details


def test_naive_time_is_taken_as_utc() -> None:
    mark = Watermark("C", "R", datetime(2026, 1, 2, 3, 4))
    assert mark.utc_label() == "2026-01-02 03:04 UTC"


def test_name_in_a_script_the_font_lacks_becomes_a_digest() -> None:
    mark = Watermark("K7Q2", "डॉ. अनीता शर्मा", datetime(2026, 11, 28, 19, 30, tzinfo=UTC))
    _notice, details = mark.band_lines()
    assert "for #" in details
    assert "अ" not in details
    again = Watermark("K7Q2", "डॉ. अनीता शर्मा", datetime(2026, 1, 1, tzinfo=UTC))
    assert (
        details.split("for ")[1].split(" ·")[0]
        == again.band_lines()[1].split("for ")[1].split(" ·")[0]
    )  # the same person always gets the same digest
    out = apply_watermark(Image.new("L", (640, 480)), mark)
    assert out.height > 480


def test_mixed_label_keeps_what_can_be_drawn() -> None:
    mark = Watermark("K7Q2", "Dr. Anita शर्मा", datetime(2026, 11, 28, tzinfo=UTC))
    assert "for Dr. Anita" in mark.band_lines()[1]


def test_builtin_font_fallback_keeps_accented_names_readable(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Without DejaVu (a slim container) Pillow's ASCII font is used: é → e, not a box."""
    import bot.imaging.watermark as wm

    monkeypatch.setattr(wm, "FONT_FILES", ())
    wm._font.cache_clear()
    wm._has_glyph.cache_clear()
    try:
        mark = Watermark("K7Q2", "Dr. Renée Müller", datetime(2026, 11, 28, tzinfo=UTC))
        assert "for Dr. Renee Muller ·" in mark.band_lines()[1]
        assert apply_watermark(Image.new("RGB", (320, 200)), mark).height > 200
    finally:
        wm._font.cache_clear()
        wm._has_glyph.cache_clear()
