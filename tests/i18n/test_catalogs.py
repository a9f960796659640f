"""Every catalog is complete, current and faithful to the source's placeholders."""

from __future__ import annotations

from pathlib import Path

import pytest
from babel.messages.extract import extract_from_dir

from bot.i18n import LANGUAGE_NAMES, Catalogs, default_locales_dir
from tools.catalog import load, problems, singular

ROOT = Path(__file__).resolve().parents[2]
KEYWORDS = {"_": None, "N_": None, "ngettext": (1, 2)}
CATALOGS = sorted(default_locales_dir().glob("*/LC_MESSAGES/sampark.po"))


def source_messages() -> set[str]:
    found = set()
    for _file, _line, message, _comments, _context in extract_from_dir(
        ROOT / "bot", keywords=KEYWORDS, comment_tags=()
    ):
        found.add(message if isinstance(message, str) else message[0])
    return found


@pytest.fixture(scope="module")
def messages() -> set[str]:
    return source_messages()


def test_hindi_and_english_are_available() -> None:
    assert Catalogs().available[:2] == ["en", "hi"]
    assert len(LANGUAGE_NAMES) == 13


@pytest.mark.parametrize("po_path", CATALOGS, ids=lambda p: p.parent.parent.name)
def test_catalog_is_complete_and_current(po_path: Path, messages: set[str]) -> None:
    catalog = load(po_path)
    ids = {singular(m.id) for m in catalog if m.id}
    assert not messages - ids, f"untranslated (missing) entries: {sorted(messages - ids)}"
    assert not ids - messages, f"obsolete entries: {sorted(ids - messages)}"
    assert not list(problems(catalog))


def test_translations_fill_placeholders() -> None:
    hindi = Catalogs().get("hi")
    assert hindi._("Name: {name}", name="सुनीता") == "नाम: सुनीता"
    assert "2 दिनों" in hindi.ngettext(
        "Invite for: {role}. Valid for {n} day. Send this link to the person:",
        "Invite for: {role}. Valid for {n} days. Send this link to the person:",
        2,
        role="x",
    )
    assert Catalogs().get("xx")._("Done") == "Done"


def test_every_imaging_failure_has_words() -> None:
    from bot.handlers.case_texts import ATTACHMENT_REFUSALS
    from bot.imaging.errors import Reason

    assert set(ATTACHMENT_REFUSALS) == set(Reason)
