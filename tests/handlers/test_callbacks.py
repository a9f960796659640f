"""Callback data: short, ASCII, parsed strictly; the same tap works in every language."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from bot.handlers import callbacks


def test_made_data_parses_back() -> None:
    data = callbacks.make("of", "a", 42)
    parsed = callbacks.parse(data, "of", 2)
    assert parsed is not None and list(parsed.args) == ["a", "42"]
    assert callbacks.parse(data, "of", 1) is None
    assert callbacks.parse(data, "rep", 2) is None


@pytest.mark.parametrize("label", ["स्वीकार", "ஏற்க", "قبول"])
def test_translated_words_are_refused(label: str) -> None:
    with pytest.raises(ValueError, match="ASCII"):
        callbacks.make("of", label)


def test_over_sixty_four_bytes_is_refused() -> None:
    with pytest.raises(ValueError, match="64"):
        callbacks.make("x", "y" * 70)


@given(st.text(max_size=80))
def test_parse_never_crashes(data: str) -> None:
    callbacks.parse(data, "of", 2)
