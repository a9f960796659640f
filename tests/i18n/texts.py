"""What the language checks share: the English vocabulary and how long a button may be."""

from __future__ import annotations

import re
import unicodedata
from functools import cache
from pathlib import Path

from bot.i18n import default_locales_dir
from tools.catalog import load

#: Longest button label we allow, in visible characters. Telegram cuts longer labels with
#: an ellipsis on a phone (about 20 characters fit in one of two buttons in a row).
BUTTON_MAX = 40
#: English strings this short are button labels or titles; their translations must fit.
SHORT_SOURCE = 24

WORD = re.compile(r"[A-Za-z]{4,}")
PLACEHOLDER = re.compile(r"\{[a-z_]*\}")
URL = re.compile(r"https?://\S+")


def visible_length(text: str) -> int:
    """Characters a reader sees: vowel signs and viramas join the letter before them."""
    return sum(1 for ch in text if not unicodedata.category(ch).startswith("M"))


def latin_words(text: str) -> set[str]:
    return {w.lower() for w in WORD.findall(URL.sub(" ", PLACEHOLDER.sub(" ", text)))}


def _catalog_path(language: str) -> Path:
    return default_locales_dir() / language / "LC_MESSAGES" / "sampark.po"


@cache
def english_words() -> frozenset[str]:
    """Every word of four letters or more in the English messages."""
    words: set[str] = set()
    for message in load(default_locales_dir() / "sampark.pot"):
        for text in [message.id] if isinstance(message.id, str) else message.id:
            words |= latin_words(text)
    return frozenset(words)


@cache
def translated_words(language: str) -> frozenset[str]:
    """Latin words a translation keeps on purpose (DICOM, ABHA, SpO2, …)."""
    words: set[str] = set()
    for message in load(_catalog_path(language)):
        strings = [message.string] if isinstance(message.string, str) else message.string
        for text in strings or ():
            words |= latin_words(text)
    return frozenset(words)
