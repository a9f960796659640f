"""The main flows in every language: nothing falls back to English, nothing breaks.

The demo's story (onboarding, a case with a DICOM film and a photo, a question, a report,
the acknowledgement) is played with the coordinator, the health worker and the specialist
in each language that has a catalog. Everything the bot showed them is then read back from
the emulator and checked: no English sentence leaked through, every button fits on a phone,
and every button's callback data is plain ASCII that carries no translated word.
"""

from __future__ import annotations

import re

import pytest

from bot.domain import Role
from bot.handlers.texts import choose_language
from bot.i18n import SOURCE_LANGUAGE, Catalogs
from bot.sandbox.client import ChatMessage
from bot.sandbox.scenario import DISTRICT, FACILITY, consultation, onboarding
from tests.e2e.conftest import World
from tests.i18n.texts import BUTTON_MAX, english_words, latin_words, translated_words

LANGUAGES = [code for code in Catalogs().available if code != SOURCE_LANGUAGE]
CALLBACK_DATA = re.compile(r"^[\x21-\x7e]{1,64}$")


def shown_texts(message: ChatMessage) -> list[str]:
    """The message as it is now and every earlier version of it."""
    versions = [message.text or ""]
    versions += [str(old.get("text") or old.get("caption") or "") for old in message.history]
    return versions


def without(text: str, typed: list[str]) -> str:
    """``text`` minus what people typed (names, complaints, a specialist's own words)."""
    for fragment in sorted(typed, key=len, reverse=True):
        text = text.replace(fragment, " ")
    return text


@pytest.mark.parametrize("language", LANGUAGES)
async def test_the_whole_story_in(world: World, language: str) -> None:
    services = world.services
    await services.facilities.add(FACILITY, DISTRICT)
    code = await world.invite(Role.COORDINATOR, district=DISTRICT, preapproved=True)

    async def put_on_call(telegram_id: int) -> None:
        user = await services.directory.by_telegram(telegram_id)
        assert user is not None
        for day in range(7):
            await services.rosters.add_weekly(user.id, "radiology", day, "00:00", "24:00")

    cast = await onboarding(
        world.client, world.catalogs, world.transcript, code, language, language, language
    )
    await consultation(world.client, world.catalogs, world.transcript, cast, language, put_on_call)

    # What people typed, and the picker's English line (shown before anyone has a language).
    typed = [e.text for e in world.transcript.entries if e.direction == "to_bot"]
    typed.append(choose_language(world.catalogs.get(SOURCE_LANGUAGE)))
    english = english_words() - translated_words(language)
    leaks: list[str] = []
    shown = [
        message
        for person in (cast.health_worker, cast.specialist, cast.coordinator)
        for message in await world.client.messages(person.id)
        if message.from_bot
    ]
    for message in shown:
        for text in shown_texts(message):
            found = latin_words(without(text, typed)) & english
            if found:
                leaks.append(f"{sorted(found)} in {text!r}")
        for row in message.buttons:
            for button in row:
                assert len(button.text) <= BUTTON_MAX, f"button too long: {button.text!r}"
                if button.callback_data is not None:
                    assert CALLBACK_DATA.match(button.callback_data), button.callback_data
                    assert button.text not in button.callback_data
    assert not leaks, "English shown:\n" + "\n".join(leaks)
