"""What health workers type: never a crash, always a value in range or a reason."""

from __future__ import annotations

import re

import pytest
from hypothesis import given
from hypothesis import strategies as st

from bot.cases import answers
from bot.cases.codes import PATTERN, new_code, normalise
from bot.cases.drafts import Step
from bot.handlers.case_texts import DRAFT_QUESTIONS
from bot.i18n import Catalogs

PARSERS = [
    answers.parse_age,
    answers.parse_phone,
    answers.parse_abha,
    answers.parse_temperature,
    answers.parse_pulse,
    answers.parse_blood_pressure,
    answers.parse_spo2,
]


KNOWN_REASONS = {
    "age_format",
    "age_range",
    "phone_format",
    "abha_format",
    "vital_format",
    "vital_range",
    "bp_format",
}


@given(st.text(max_size=40))
def test_parsers_return_a_value_or_a_reason(text: str) -> None:
    reasons = set()
    for parse in PARSERS:
        try:
            parse(text)
        except ValueError as exc:
            reasons.add(str(exc))
    assert reasons <= KNOWN_REASONS


@given(st.integers(min_value=1, max_value=120))
def test_any_plausible_age_in_years(value: int) -> None:
    assert answers.parse_age(str(value)) == answers.Age(value, "y")


@pytest.mark.parametrize(
    ("text", "age"),
    [
        ("45", (45, "y")),
        ("8 months", (8, "m")),
        ("10d", (10, "d")),
        ("४५ साल", (45, "y")),
        ("৩ মাস", (3, "m")),
        ("৪৫ বছর", (45, "y")),
        ("10 நாட்கள்", (10, "d")),
        ("3 weeks", None),
        ("3 महीने", (3, "m")),
        ("2 years.", (2, "y")),
    ],
)
def test_ages(text: str, age: tuple[int, str] | None) -> None:
    if age is None:
        with pytest.raises(ValueError, match="age_format"):
            answers.parse_age(text)
    else:
        assert answers.parse_age(text) == answers.Age(*age)


def test_minors() -> None:
    assert answers.Age(17, "y").is_minor
    assert answers.Age(30, "m").is_minor
    assert not answers.Age(18, "y").is_minor


@pytest.mark.parametrize(
    ("text", "value"),
    [("38.5", 38.5), ("101.3 F", 38.5), ("37,2 °C", 37.2)],
)
def test_temperature(text: str, value: float) -> None:
    assert answers.parse_temperature(text) == value


@pytest.mark.parametrize("text", ["400", "20", "-5"])
def test_impossible_temperatures_are_refused(text: str) -> None:
    with pytest.raises(ValueError, match="vital_"):
        answers.parse_temperature(text)


def test_blood_pressure_and_identifiers() -> None:
    assert answers.parse_blood_pressure("120 / 80 mmHg") == "120/80"
    with pytest.raises(ValueError, match="vital_range"):
        answers.parse_blood_pressure("80/120")
    assert answers.parse_phone("+91 98450-12345") == "+919845012345"
    with pytest.raises(ValueError, match="phone_format"):
        answers.parse_phone("12345 67890")
    assert answers.parse_abha("12 3456 7890 1234") == "12-3456-7890-1234"


def test_case_codes_are_unambiguous() -> None:
    for _ in range(500):
        code = new_code()
        assert PATTERN.match(code)
        assert not set(code) & set("01OILBSZ")
        assert normalise(code.lower().replace("-", " ")) == code


def test_typed_codes() -> None:
    assert normalise("k7f3qx") == "K7F-3QX"
    assert normalise("K7F-3Q") is None
    assert normalise("K0F-3QX") is None


@pytest.mark.parametrize("language", Catalogs().available)
def test_the_age_prompts_examples_are_accepted(language: str) -> None:
    """Whatever the prompt shows as an example ("8 மாதம்", "10 దిన"), typing it works."""
    prompt = Catalogs().get(language)._(DRAFT_QUESTIONS[Step.AGE])
    months = re.search(r"\b8 ([^\s,.،।۔]+)", prompt)
    days = re.search(r"\b10 ([^\s,.،।۔]+)", prompt)
    assert months and days, prompt
    assert answers.parse_age(f"8 {months.group(1)}") == answers.Age(8, "m")
    assert answers.parse_age(f"10 {days.group(1)}") == answers.Age(10, "d")
    assert answers.parse_age(f"\u200f8 {months.group(1)}\u200f") == answers.Age(8, "m")
