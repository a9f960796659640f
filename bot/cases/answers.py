"""Parsing what health workers type: ages, phone and ABHA numbers, vitals.

Pure functions; each returns a normalised value or raises ``ValueError`` with a short
machine-readable reason the handler words in the user's language. Digits in any Indian
script are accepted (Python's ``int`` reads them).
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass

#: Unit words a health worker may type after the number, in every language Sampark speaks
#: (each age prompt's examples among them; ``tests/cases/test_answers.py`` checks that).
_UNIT_WORDS = {
    "y": "y yr yrs year years साल वर्ष बरस वर्षे বছর বছৰ વર્ષ సంవత్సరం సంవత్సరాలు ఏళ్ళు ఏళ్లు "
    "ஆண்டு ஆண்டுகள் வருடம் வருடங்கள் வயது ವರ್ಷ ವರ್ಷಗಳು വർഷം വയസ്സ് ବର୍ଷ ਸਾਲ سال برس",
    "m": "m mo month months महीना महीने मास महिना महिने মাস মাহ મહિના મહિનો నెల నెలలు "
    "மாதம் மாதங்கள் ತಿಂಗಳು ತಿಂಗಳುಗಳು മാസം ମାସ ਮਹੀਨਾ ਮਹੀਨੇ مہینہ مہینے ماہ",
    "d": "d day days दिन दिवस দিন દિવસ రోజు రోజులు நாள் நாட்கள் ದಿನ ದಿನಗಳು ദിവസം ଦିନ ਦਿਨ دن",
}
AGE_UNITS: dict[str, str] = {
    word: unit for unit, words in _UNIT_WORDS.items() for word in words.split()
}
AGE_LIMITS = {"y": 120, "m": 36, "d": 90}


@dataclass(frozen=True)
class Age:
    value: int
    unit: str  # "y", "m" or "d"

    @property
    def is_minor(self) -> bool:
        return self.unit != "y" or self.value < 18


def _digits(text: str) -> str:
    """Every decimal digit (any script) as ASCII, other characters kept."""
    return "".join(
        str(unicodedata.decimal(ch)) if unicodedata.decimal(ch, None) is not None else ch
        for ch in text
    )


def parse_age(text: str) -> Age:
    """``45``, ``45 years``, ``8 months``, ``10 d``, ``४५ साल`` → ``Age``."""
    visible = "".join(ch for ch in text if unicodedata.category(ch) != "Cf")  # bidi marks
    match = re.fullmatch(r"\s*(\d{1,3})\s*([^\d\s.]*)\s*\.?\s*", _digits(visible.lower()))
    if not match:
        raise ValueError("age_format")
    value, unit_word = int(match.group(1)), match.group(2)
    unit = AGE_UNITS.get(unit_word, "y" if not unit_word else "")
    if not unit:
        raise ValueError("age_format")
    if value > AGE_LIMITS[unit] or (unit == "y" and value == 0 and not unit_word):
        raise ValueError("age_range")
    return Age(value, unit)


def parse_phone(text: str) -> str:
    """An Indian mobile number as ``+91XXXXXXXXXX``."""
    digits = re.sub(r"[\s()-]", "", _digits(text))
    digits = re.sub(r"^(\+?91|0)(?=\d{10}$)", "", digits)
    if not re.fullmatch(r"[6-9]\d{9}", digits):
        raise ValueError("phone_format")
    return "+91" + digits


def parse_abha(text: str) -> str:
    """An ABHA number (14 digits) shown as ``XX-XXXX-XXXX-XXXX``; only the format is checked."""
    digits = re.sub(r"[\s-]", "", _digits(text))
    if not re.fullmatch(r"\d{14}", digits):
        raise ValueError("abha_format")
    return f"{digits[:2]}-{digits[2:6]}-{digits[6:10]}-{digits[10:]}"


def parse_temperature(text: str) -> float:
    """°C (30–45) or °F (86–113, converted); one decimal."""
    value = _number(text)
    if 86 <= value <= 113:
        value = (value - 32) * 5 / 9
    if not 30 <= value <= 45:
        raise ValueError("vital_range")
    return round(value, 1)


def parse_pulse(text: str) -> int:
    value = _number(text)
    if not 20 <= value <= 250:
        raise ValueError("vital_range")
    return round(value)


def parse_blood_pressure(text: str) -> str:
    """``120/80`` with systolic 50–260 above diastolic 20–160."""
    match = re.fullmatch(r"\s*(\d{2,3})\s*/\s*(\d{2,3})\s*(?:mm\s*hg)?\s*", _digits(text.lower()))
    if not match:
        raise ValueError("bp_format")
    systolic, diastolic = int(match.group(1)), int(match.group(2))
    if not (50 <= systolic <= 260 and 20 <= diastolic <= 160 and diastolic < systolic):
        raise ValueError("vital_range")
    return f"{systolic}/{diastolic}"


def parse_spo2(text: str) -> int:
    value = _number(text.replace("%", ""))
    if not 50 <= value <= 100:
        raise ValueError("vital_range")
    return round(value)


def _number(text: str) -> float:
    cleaned = _digits(text).strip().replace(",", ".")
    cleaned = re.sub(r"\s*(°\s*[cf]?|[cf]|bpm|/min)\s*$", "", cleaned.lower())
    try:
        return float(cleaned)
    except ValueError:
        raise ValueError("vital_format") from None


def clean_text(text: str, limit: int) -> str:
    """Trimmed free text of at most ``limit`` characters (else ``ValueError('too_long')``)."""
    text = text.strip()
    if not text:
        raise ValueError("empty")
    if len(text) > limit:
        raise ValueError("too_long")
    return text
