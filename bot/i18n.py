"""Translations: gettext catalogs under ``locales/`` compiled in memory at start-up.

Adding a language is adding ``locales/<code>/LC_MESSAGES/sampark.po``; no build step.
Messages use ``{name}`` placeholders (python-brace-format) filled after translation.
"""

from __future__ import annotations

import io
import logging
from dataclasses import dataclass
from datetime import date as date_type
from pathlib import Path

from babel import Locale
from babel.dates import format_date
from babel.messages.mofile import write_mo
from babel.messages.pofile import read_po
from babel.numbers import format_decimal
from babel.support import NullTranslations, Translations

log = logging.getLogger(__name__)

DOMAIN = "sampark"
SOURCE_LANGUAGE = "en"

#: Every language Sampark speaks, named in its own script (the order of the picker).
LANGUAGE_NAMES: dict[str, str] = {
    "en": "English",
    "hi": "हिन्दी",
    "bn": "বাংলা",
    "mr": "मराठी",
    "te": "తెలుగు",
    "ta": "தமிழ்",
    "gu": "ગુજરાતી",
    "kn": "ಕನ್ನಡ",
    "ml": "മലയാളം",
    "or": "ଓଡ଼ିଆ",
    "pa": "ਪੰਜਾਬੀ",
    "as": "অসমীয়া",
    "ur": "اردو",
}


def N_(message: str) -> str:
    """Mark ``message`` for extraction; it is translated later, where it is shown."""
    return message


def default_locales_dir() -> Path:
    """``locales/`` beside the package (source checkout) or inside it (installed wheel)."""
    here = Path(__file__).resolve().parent
    for candidate in (here / "locales", here.parent / "locales"):
        if candidate.is_dir():
            return candidate
    return here.parent / "locales"


#: Languages written right to left.
RTL_LANGUAGES = frozenset({"ur"})
#: Unicode bidi controls: isolate a placeholder's value; mark a line as right-to-left.
FSI, PDI, RLM = "\u2068", "\u2069", "\u200f"
#: Babel locales for the formats (English as written in India: 1,00,000 and 5 Dec 2026).
FORMAT_LOCALES = {"en": "en_IN"}


@dataclass(frozen=True)
class Translator:
    """Translations for one language, with numbers and dates in its conventions.

    Numbers filled into placeholders are formatted for the locale. In a right-to-left
    language every filled value is a bidi isolate (so a Latin case code or a number
    cannot flip the punctuation around it) and every line starts right to left.
    """

    language: str
    catalog: NullTranslations

    def _(self, message: str, /, **values: object) -> str:
        """Translate ``message`` and fill its ``{placeholders}``."""
        return self._fill(self.catalog.gettext(message), values)

    def ngettext(self, singular: str, plural: str, n: int, /, **values: object) -> str:
        """Translate with the language's plural rules; ``{n}`` is always available."""
        return self._fill(self.catalog.ngettext(singular, plural, n), {"n": n, **values})

    @property
    def locale(self) -> Locale:
        return Locale.parse(FORMAT_LOCALES.get(self.language, self.language))

    @property
    def rtl(self) -> bool:
        return self.language in RTL_LANGUAGES

    def number(self, value: float) -> str:
        """``value`` with the locale's digits and grouping (12,34,567 in India)."""
        return format_decimal(value, locale=self.locale)

    def date(self, value: date_type, form: str = "medium") -> str:
        return format_date(value, form, locale=self.locale)

    def _fill(self, text: str, values: dict[str, object]) -> str:
        if values:
            text = text.format(**{key: self._shown(value) for key, value in values.items()})
        if self.rtl:
            text = "\n".join(RLM + line if line else line for line in text.split("\n"))
        return text

    def _shown(self, value: object) -> object:
        if isinstance(value, int | float) and not isinstance(value, bool):
            value = self.number(value)
        return f"{FSI}{value}{PDI}" if self.rtl else value


class Catalogs:
    """All compiled catalogs; ``get`` falls back to English for unknown languages."""

    def __init__(self, locales_dir: Path | None = None) -> None:
        self.locales_dir = locales_dir or default_locales_dir()
        self._translators: dict[str, Translator] = {
            SOURCE_LANGUAGE: Translator(SOURCE_LANGUAGE, NullTranslations())
        }
        for po_path in sorted(self.locales_dir.glob(f"*/LC_MESSAGES/{DOMAIN}.po")):
            code = po_path.parent.parent.name
            if code not in LANGUAGE_NAMES:
                log.warning("ignoring catalog for unknown language", extra={"lang": code})
                continue
            self._translators[code] = Translator(code, _compile(po_path))

    @property
    def available(self) -> list[str]:
        """Languages with a catalog, in picker order."""
        return [code for code in LANGUAGE_NAMES if code in self._translators]

    def get(self, language: str | None) -> Translator:
        return self._translators.get(language or "", self._translators[SOURCE_LANGUAGE])


def _compile(po_path: Path) -> Translations:
    with po_path.open("rb") as po_file:
        catalog = read_po(po_file, locale=po_path.parent.parent.name, domain=DOMAIN)
    buffer = io.BytesIO()
    write_mo(buffer, catalog, use_fuzzy=False)
    buffer.seek(0)
    return Translations(fp=buffer, domain=DOMAIN)
