"""The roster picture: a PNG for any coverage, English words when the font lacks a script."""

from __future__ import annotations

import io
from datetime import datetime, timedelta

from PIL import Image

from bot.cases import roster_picture
from bot.cases.coverage import Block, Coverage, Gap
from bot.domain import SPECIALTIES
from bot.i18n import Catalogs

MONDAY = datetime(2026, 1, 5)


def coverage(specialties: tuple[str, ...] = ("radiology",)) -> Coverage:
    blocks = {
        "radiology": [
            Block(
                "radiology",
                1,
                "Dr. Meera Iyer",
                MONDAY + timedelta(hours=8),
                MONDAY + timedelta(hours=20),
            ),
            Block(
                "radiology",
                2,
                "डॉ. अर्जुन",
                MONDAY + timedelta(hours=10),
                MONDAY + timedelta(hours=30),
            ),
        ]
    }
    gaps = {
        "radiology": [Gap("radiology", MONDAY + timedelta(hours=30), MONDAY + timedelta(days=7))]
    }
    return Coverage(MONDAY, MONDAY + timedelta(days=7), specialties, blocks, gaps)


def test_renders_a_png_per_specialty() -> None:
    png = roster_picture.render(coverage())
    image = Image.open(io.BytesIO(png))
    assert image.format == "PNG" and image.width == 1100


def test_words_fall_back_to_english_when_the_font_lacks_the_script() -> None:
    hindi = Catalogs().get("hi")
    labels = roster_picture.localised(hindi._, SPECIALTIES)
    drawn = labels.drawable()
    assert drawn.title == roster_picture.PictureLabels().title  # DejaVu has no Devanagari
    assert dict(drawn.specialties)["radiology"] == "Radiology"
    assert not roster_picture.drawable("डॉ. अर्जुन")
    assert roster_picture.render(coverage(), labels)  # and it still renders


def test_empty_roster() -> None:
    empty = Coverage(MONDAY, MONDAY + timedelta(days=7), (), {}, {})
    assert roster_picture.render(empty).startswith(b"\x89PNG")
