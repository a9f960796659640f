"""Numbers and dates in the reader's conventions; right-to-left text that stays readable."""

from __future__ import annotations

import unicodedata
from datetime import date

from babel.support import NullTranslations
from hypothesis import given
from hypothesis import strategies as st

from bot.i18n import FSI, PDI, RLM, Translator

URDU = Translator("ur", NullTranslations())
HINDI = Translator("hi", NullTranslations())
ENGLISH = Translator("en", NullTranslations())


def test_counts_use_indian_grouping() -> None:
    assert ENGLISH._("{n} sent", n=1234567) == "12,34,567 sent"
    assert HINDI.ngettext("{n} file", "{n} files", 2000) == "2,000 files"
    assert ENGLISH._("Code {code}", code="7KX-2PQ") == "Code 7KX-2PQ"  # strings stay as given


def test_dates_follow_the_locale() -> None:
    assert ENGLISH.date(date(2026, 12, 5)) == "5 Dec 2026"
    assert "2026" in HINDI.date(date(2026, 12, 5))


def test_urdu_lines_start_right_to_left_and_values_are_isolated() -> None:
    text = URDU._("کیس {code} کی رپورٹ\n{n} فائلیں", code="7KX-2PQ", n=3)
    first, second = text.split("\n")
    assert first == f"{RLM}کیس {FSI}7KX-2PQ{PDI} کی رپورٹ"
    assert second == f"{RLM}{FSI}3{PDI} فائلیں"


@given(st.text(alphabet=st.characters(blacklist_categories=["Cs"]), max_size=30))
def test_any_urdu_value_is_balanced(value: str) -> None:
    text = URDU._("نام: {name}", name=value)
    assert text.startswith(RLM)
    assert text.count(FSI) - value.count(FSI) == 1 and text.count(PDI) - value.count(PDI) == 1
    assert unicodedata.bidirectional(text[len(RLM)]) == "AL"  # the line's first letter is Urdu
