"""Every catalog is complete, current and faithful to the source's placeholders."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest
from babel.messages.extract import extract_from_dir

from bot.i18n import LANGUAGE_NAMES, Catalogs, default_locales_dir
from tests.i18n.texts import BUTTON_MAX, SHORT_SOURCE, visible_length
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


@pytest.mark.parametrize("po_path", CATALOGS, ids=lambda p: p.parent.parent.name)
def test_short_labels_fit_on_a_button(po_path: Path) -> None:
    too_long = []
    for message in load(po_path):
        short = isinstance(message.id, str) and 0 < len(message.id) <= SHORT_SOURCE
        if short and visible_length(str(message.string)) > BUTTON_MAX:
            too_long.append(f"{message.id!r} → {message.string!r}")
    assert not too_long, f"longer than {BUTTON_MAX} characters: {too_long}"


def test_callback_data_never_holds_translated_text() -> None:
    """Every ``callbacks.make(...)`` is built from codes and ids, never from a translator."""
    offenders = []
    for path in sorted((ROOT / "bot" / "handlers").glob("*.py")):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.Call) and _called(node) == "make":
                inner = [n for arg in node.args for n in ast.walk(arg) if isinstance(n, ast.Call)]
                if any(_called(call) in TRANSLATING for call in inner):
                    offenders.append(f"{path.name}:{node.lineno}")
    assert not offenders


TRANSLATING = {"_", "N_", "ngettext", "gettext"}


def _called(call: ast.Call) -> str:
    func = call.func
    return func.attr if isinstance(func, ast.Attribute) else getattr(func, "id", "")


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
