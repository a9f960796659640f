"""The broadcast dialogue's "Translations" step: a text per language, English required.

After the English text the coordinator sees every language named in its own script, those
read in the chosen segment first with how many recipients read each, a ✓ on those that
have a text. Tapping one asks for its text (``step`` ``text:<code>``); the typed text
brings the list back (``step`` ``langs``); "Done" goes to the preview. Recipients without
a text in their language get English.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable

from telegram import InlineKeyboardButton, InlineKeyboardMarkup

from bot.cases.broadcasts import FALLBACK_LANGUAGE, BroadcastView
from bot.handlers import callbacks
from bot.i18n import LANGUAGE_NAMES, N_, Translator

STEP_LANGS = "langs"
TEXT_STEP_PREFIX = "text:"
#: The step of the dialogue before the Translations step existed (a Hindi text or Skip).
LEGACY_HINDI_STEP = "text_hi"
GIVEN = "✓ "
PREVIEW_LIMIT = 4000  # Telegram's message limit is 4,096 characters
SHORT_ENGLISH, SHORT_OTHER = 1500, 150  # what the preview shows of each text when it must cut

TRANSLATIONS = N_("Translations: tap a language and type its text. Those without one get English.")
TYPE_IN = N_("Type the text in {language}.")


def text_step(language: str) -> str:
    return TEXT_STEP_PREFIX + language


def language_of(step: str | None) -> str | None:
    """The language whose text is being typed at ``step`` (``text:<code>``), if any."""
    if step == LEGACY_HINDI_STEP:
        return "hi"
    if step and step.startswith(TEXT_STEP_PREFIX):
        code = step.removeprefix(TEXT_STEP_PREFIX)
        return code if code in LANGUAGE_NAMES else None
    return None


def readers(languages: Iterable[str]) -> Counter[str]:
    """How many recipients read each language (unknown languages count as English)."""
    return Counter(code if code in LANGUAGE_NAMES else FALLBACK_LANGUAGE for code in languages)


def ordered(counts: Counter[str]) -> list[str]:
    """English first, then the languages read in the segment (most readers first), then
    the rest in the picker's order."""
    picker = list(LANGUAGE_NAMES)
    others = [code for code in picker if code != FALLBACK_LANGUAGE]
    present = sorted((c for c in others if counts[c]), key=lambda c: (-counts[c], picker.index(c)))
    return [FALLBACK_LANGUAGE, *present, *(c for c in others if not counts[c])]


def fallback_count(b: BroadcastView, counts: Counter[str]) -> int:
    """Recipients whose language has no text: they get English."""
    return sum(
        n for code, n in counts.items() if code != FALLBACK_LANGUAGE and not b.texts.get(code)
    )


def fallback_line(tr: Translator, b: BroadcastView, counts: Counter[str]) -> str | None:
    n = fallback_count(b, counts)
    if not n:
        return None
    return tr.ngettext(
        "{n} person will get English (no text in their language).",
        "{n} people will get English (no text in their language).",
        n,
    )


def list_text(tr: Translator, b: BroadcastView, counts: Counter[str]) -> str:
    line = fallback_line(tr, b, counts)
    return tr._(TRANSLATIONS) + (f"\n\n{line}" if line else "")


def _button(text: str, broadcast_id: int, action: str, value: object = 0) -> InlineKeyboardButton:
    return InlineKeyboardButton(
        text, callback_data=callbacks.make("bc", broadcast_id, action, value)
    )


def list_markup(tr: Translator, b: BroadcastView, counts: Counter[str]) -> InlineKeyboardMarkup:
    """One button per language (two a row), then Done."""
    buttons = []
    for code in ordered(counts):
        label = (GIVEN if b.texts.get(code) else "") + LANGUAGE_NAMES[code]
        if counts[code]:
            label += f" · {counts[code]}"
        buttons.append(_button(label, b.id, "tr", code))
    rows = [buttons[i : i + 2] for i in range(0, len(buttons), 2)]
    rows.append([_button(tr._("Done"), b.id, "done")])
    return InlineKeyboardMarkup(rows)


def prompt(tr: Translator, b: BroadcastView, language: str) -> tuple[str, InlineKeyboardMarkup]:
    """Ask for ``language``'s text; Back returns to the list."""
    markup = InlineKeyboardMarkup([[_button(tr._("Back"), b.id, "langs")]])
    return tr._(TYPE_IN, language=LANGUAGE_NAMES[language]), markup


def preview_texts(b: BroadcastView) -> list[str]:
    """Each text under its language's name, English first; cut short if all would not fit."""
    codes = [code for code in LANGUAGE_NAMES if b.texts.get(code)]
    shown = [f"— {LANGUAGE_NAMES[code]} —\n{b.texts[code]}" for code in codes]
    if sum(len(s) + 2 for s in shown) <= PREVIEW_LIMIT - 200:
        return shown
    return [
        f"— {LANGUAGE_NAMES[code]} —\n"
        + _cut(b.texts[code], SHORT_ENGLISH if code == FALLBACK_LANGUAGE else SHORT_OTHER)
        for code in codes
    ]


def _cut(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[: limit - 1].rstrip() + "…"
