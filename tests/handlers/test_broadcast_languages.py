"""The Translations step's order, steps and preview (pure functions)."""

from __future__ import annotations

from collections import Counter
from datetime import UTC, datetime

from bot.cases.broadcasts import BroadcastStatus, BroadcastView, Kind
from bot.handlers import broadcast_languages as langs
from bot.i18n import LANGUAGE_NAMES, Catalogs


def draft(texts: dict[str, str]) -> BroadcastView:
    return BroadcastView(
        id=7,
        author_id=1,
        kind=Kind.BROADCAST,
        segment={},
        texts=texts,
        status=BroadcastStatus.DRAFT,
        step=langs.STEP_LANGS,
        scheduled_at=None,
        weekly=False,
        created_at=datetime(2026, 12, 6, tzinfo=UTC),
    )


def test_english_first_then_the_segment_languages_by_readers() -> None:
    counts = langs.readers(["ur", "ta", "ta", "bn", "en", "zz"])
    assert counts == Counter({"ta": 2, "en": 2, "ur": 1, "bn": 1})  # unknown reads English
    order = langs.ordered(counts)
    assert order[:4] == ["en", "ta", "bn", "ur"]
    assert sorted(order) == sorted(LANGUAGE_NAMES)


def test_steps_name_their_language() -> None:
    assert langs.language_of(langs.text_step("ta")) == "ta"
    assert langs.language_of("text:xx") is None
    assert langs.language_of(langs.LEGACY_HINDI_STEP) == "hi"
    assert langs.language_of(langs.STEP_LANGS) is None


def test_fallback_counts_readers_without_a_text() -> None:
    counts = Counter({"ta": 2, "ur": 1, "bn": 1, "en": 3})
    b = draft({"en": "Camp", "ta": "முகாம்"})
    assert langs.fallback_count(b, counts) == 2
    en = Catalogs().get("en")
    assert langs.fallback_line(en, b, counts) == (
        "2 people will get English (no text in their language)."
    )
    assert (
        langs.fallback_line(en, draft({"en": "x", "ur": "y", "bn": "z", "ta": "w"}), counts) is None
    )


def test_buttons_are_ascii_and_ticked() -> None:
    en = Catalogs().get("en")
    markup = langs.list_markup(en, draft({"en": "Camp", "ur": "کیمپ"}), Counter({"ur": 1}))
    buttons = [b for row in markup.inline_keyboard for b in row]
    assert [b.text for b in buttons[:3]] == ["✓ English", "✓ اردو · 1", "हिन्दी"]
    assert all(str(b.callback_data).isascii() for b in buttons)
    assert buttons[1].callback_data == "bc:7:tr:ur"


def test_a_long_preview_is_cut_to_fit_one_message() -> None:
    b = draft({code: "x" * 3500 for code in LANGUAGE_NAMES})
    shown = "\n\n".join(langs.preview_texts(b))
    assert len(shown) < langs.PREVIEW_LIMIT - 200
    assert all(f"— {name} —" in shown for name in LANGUAGE_NAMES.values())
    short = draft({"en": "Camp", "ta": "முகாம்"})
    assert langs.preview_texts(short) == ["— English —\nCamp", "— தமிழ் —\nமுகாம்"]
