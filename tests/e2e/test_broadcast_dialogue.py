"""The /broadcast dialogue's facility and specialty segments and its scheduling buttons.

Through the emulator (flood limits on) with fast timer ticks and the test's clock.
"""

from __future__ import annotations

import asyncio
from datetime import timedelta
from zoneinfo import ZoneInfo

import pytest

from bot.clock import ManualClock
from bot.domain import Role, Status
from bot.handlers import broadcast_languages as langs
from bot.handlers import broadcast_when as when
from bot.i18n import LANGUAGE_NAMES
from bot.sandbox.script import Person
from bot.storage.models import User
from tests.e2e.conftest import World
from tests.e2e.people import coordinator
from tests.e2e.test_broadcasts import delivered, from_bot, translate

FALLBACK = (
    "{n} person will get English (no text in their language).",
    "{n} people will get English (no text in their language).",
)


@pytest.fixture
def world(paced_world: World) -> World:
    return paced_world


async def staff(world: World) -> dict[str, int]:
    """Two health workers at two facilities of Dharwad and one radiologist (telegram ids)."""
    phc = await world.services.facilities.add("PHC Amminabhavi", "Dharwad")
    chc = await world.services.facilities.add("CHC Kundgol", "Dharwad")
    made = {}
    async with world.runtime.db.transaction() as session:
        for name, role, facility, specialties in (
            ("Asha", Role.HEALTH_WORKER, phc.id, []),
            ("Lata", Role.HEALTH_WORKER, chc.id, []),
            ("Dr Rao", Role.SPECIALIST, None, ["radiology"]),
        ):
            chat = (await world.client.create_user(name, started=True)).id
            made[name] = chat
            session.add(
                User(
                    telegram_id=chat,
                    role=role,
                    status=Status.ACTIVE,
                    language="en",
                    full_name=name,
                    district="Dharwad",
                    facility_id=facility,
                    specialties=specialties,
                    created_at=world.services.clock.now(),
                )
            )
    return made


async def test_facility_and_specialty_segments_with_the_live_count(world: World) -> None:
    ravi = await coordinator(world)
    await staff(world)
    en = world.catalogs.get("en")
    await ravi.send("/broadcast")
    start = await ravi.expect(en._("What do you want to send?"))
    await ravi.tap(start, "Broadcast")
    segment = await ravi.expect_edit(start, "Recipients now: 4 people.")  # with Ravi
    await ravi.tap(segment, f"{en._('Facilities')} …")
    page = await ravi.expect_edit(segment, "Recipients now: 4 people.")
    await ravi.tap(page, "CHC Kundgol")
    page = await ravi.expect_edit(page, "Recipients now: 1 person.")
    assert any(b.text == "✅ CHC Kundgol" for row in page.buttons for b in row)
    await ravi.tap(page, "✅ CHC Kundgol")  # untick
    page = await ravi.expect_edit(page, "Recipients now: 4 people.")
    await ravi.tap(page, en._("Back"))
    segment = await ravi.expect_edit(page, "Recipients now: 4 people.")
    await ravi.tap(segment, f"{en._('Specialties')} …")
    page = await ravi.expect_edit(segment, "Recipients now: 4 people.")
    await ravi.tap(page, en._("Radiology"))
    page = await ravi.expect_edit(page, "Recipients now: 1 person.")
    await ravi.tap(page, en._("Back"))
    segment = await ravi.expect_edit(page, "Recipients now: 1 person.")
    assert any(b.text == f"{en._('Specialties')} (1)" for row in segment.buttons for b in row)
    # a facility of another district cannot be forged in
    other = await world.services.facilities.add("PHC Nashik", "Nashik")
    await ravi.tap(segment, f"{en._('Facilities')} …")
    page = await ravi.expect_edit(segment, "Recipients now")
    bid = int(page.buttons[0][0].callback_data.split(":")[1])  # type: ignore[union-attr]
    forged = await ravi.tap(page, f"bc:{bid}:fac:{other.id}", forged=True)
    await ravi.alert(forged)


async def to_preview(world: World, ravi: Person, text: str) -> int:
    en = world.catalogs.get("en")
    await ravi.send("/broadcast")
    start = await ravi.expect(en._("What do you want to send?"))
    await ravi.tap(start, "Broadcast")
    segment = await ravi.expect_edit(start, "Recipients now:")
    await ravi.tap(segment, en._("Health worker"))
    segment = await ravi.expect_edit(segment, "Recipients now:")
    await ravi.tap(segment, en._("Next"))
    await ravi.expect_edit(segment, en._("Type the message in English."))
    await ravi.send(text)
    listing = await ravi.expect(en._(langs.TRANSLATIONS))
    await ravi.tap(listing, en._("Done"))
    preview = await ravi.expect("Preview", text)
    return preview.message_id


async def readers(world: World, *languages: str) -> list[int]:
    """Health workers of Dharwad reading ``languages`` (telegram ids, in that order)."""
    chats = []
    async with world.runtime.db.transaction() as session:
        for i, language in enumerate(languages):
            chat = (await world.client.create_user(f"Reader {i}", started=True)).id
            chats.append(chat)
            session.add(
                User(
                    telegram_id=chat,
                    role=Role.HEALTH_WORKER,
                    status=Status.ACTIVE,
                    language=language,
                    full_name=f"Reader {i}",
                    district="Dharwad",
                    created_at=world.services.clock.now(),
                )
            )
    return chats


TAMIL = "ஞாயிறு அன்று போலியோ முகாம்"
URDU = "اتوار کو پولیو مہم"


async def test_translations_reach_each_reader_in_their_language(world: World) -> None:
    """English + Tamil + Urdu: the Tamil and Urdu readers get theirs, the Bengali English."""
    ravi = await coordinator(world)
    tamil, urdu, bengali, tamil2 = await readers(world, "ta", "ur", "bn", "ta")
    en = world.catalogs.get("en")
    await ravi.send("/broadcast")
    start = await ravi.expect(en._("What do you want to send?"))
    await ravi.tap(start, "Broadcast")
    segment = await ravi.expect_edit(start, "Recipients now:")
    await ravi.tap(segment, en._("Health worker"))
    segment = await ravi.expect_edit(segment, "Recipients now: 4 people.")
    await ravi.tap(segment, en._("Next"))
    await ravi.expect_edit(segment, en._("Type the message in English."))
    await ravi.send("Polio drive on Sunday")
    listing = await ravi.expect(
        en._(langs.TRANSLATIONS),
        en.ngettext(*FALLBACK, 4),
    )
    # English first, then the segment's languages by readers, then the rest; named in their
    # own script; ASCII callback data carrying the language code
    names = listing.button_texts()
    assert names[:4] == ["✓ English", "தமிழ் · 2", "বাংলা · 1", "اردو · 1"]
    assert names[4:-1] == [
        LANGUAGE_NAMES[c] for c in LANGUAGE_NAMES if c not in ("en", "ta", "bn", "ur")
    ]
    assert names[-1] == en._("Done")
    assert all(data.isascii() for data in listing.callback_datas())
    # Back from a language's question keeps the list as it was
    await ravi.tap(listing, "বাংলা · 1")
    asked = await ravi.expect_edit(listing, en._(langs.TYPE_IN, language="বাংলা"))
    await ravi.tap(asked, en._("Back"))
    listing = await ravi.expect_edit(asked, en._(langs.TRANSLATIONS))
    assert "বাংলা · 1" in listing.button_texts()
    await ravi.send("typed without tapping a language")  # taken for nothing: the list again
    listing = await ravi.expect(en._(langs.TRANSLATIONS))
    assert "বাংলা · 1" in listing.button_texts()
    listing = await translate(world, ravi, listing, "ta", TAMIL)
    listing = await translate(world, ravi, listing, "ur", URDU)
    assert listing.button_texts()[:4] == ["✓ English", "✓ தமிழ் · 2", "বাংলা · 1", "✓ اردو · 1"]
    assert en.ngettext(*FALLBACK, 1) in (listing.text or "")
    # a language cannot be forged in, nor a text step skipped to
    bid = int(listing.callback_datas()[0].split(":")[1])
    await ravi.alert(await ravi.tap(listing, f"bc:{bid}:tr:xx", forged=True))
    await ravi.alert(await ravi.tap(listing, f"bc:{bid}:send:0", forged=True))
    await ravi.tap(listing, en._("Done"))
    preview = await ravi.expect(
        "Preview",
        "— English —\nPolio drive on Sunday",
        f"— தமிழ் —\n{TAMIL}",
        f"— اردو —\n{URDU}",
        en.ngettext(*FALLBACK, 1),
    )
    assert "বাংলা" not in (preview.text or "")
    await ravi.tap(preview, en._("Send now"))
    await ravi.expect_edit(preview, "Recipients")
    await delivered(world, bid, 4)
    assert await from_bot(world, tamil) == [TAMIL]
    assert await from_bot(world, tamil2) == [TAMIL]
    assert await from_bot(world, urdu) == [URDU]
    assert await from_bot(world, bengali) == ["Polio drive on Sunday"]
    report = await world.services.broadcasts.report(bid)
    assert report.by_language == {"ta": 2, "ur": 1, "en": 1}


async def test_scheduled_from_the_dialogue_goes_once_at_its_time(
    world: World, clock: ManualClock
) -> None:
    ravi = await coordinator(world)
    people = await staff(world)
    en = world.catalogs.get("en")
    preview_id = await to_preview(world, ravi, "Vaccination camp at the PHC")
    preview = await world.client.message(ravi.id, preview_id)
    await ravi.tap(preview, en._("Schedule"))
    days = await ravi.expect_edit(preview)
    zone = ZoneInfo("Asia/Kolkata")
    tomorrow = (clock.now().astimezone(zone).date() + timedelta(days=1)).strftime("%Y%m%d")
    await ravi.tap(days, when.day_label(en, tomorrow))
    times = await ravi.expect_edit(days)
    await ravi.tap(times, en._("Back"))  # back and forth keeps the choice consistent
    days = await ravi.expect_edit(times)
    await ravi.tap(days, when.day_label(en, tomorrow))
    times = await ravi.expect_edit(days)
    await ravi.tap(times, "09:00")
    repeat = await ravi.expect_edit(times)
    assert any(
        b.text == en._("Every {weekday}", weekday=when.weekday_label(en, tomorrow))
        for row in repeat.buttons
        for b in row
    )
    await ravi.tap(repeat, en._("Only once"))
    report = await ravi.expect_edit(repeat, "scheduled", "09:00 (India time)")
    bid = int((report.text or "").split("#")[1].split(":")[0])
    await asyncio.sleep(0.3)
    assert [await from_bot(world, people[n]) for n in ("Asha", "Lata")] == [[], []]
    at = when.moment(tomorrow, "0900", zone)
    clock.advance(at - clock.now() + timedelta(minutes=1))
    await delivered(world, bid, 2)
    for name in ("Asha", "Lata"):
        assert await from_bot(world, people[name]) == ["Vaccination camp at the PHC"]
    # the report message of the schedule follows the sending by itself
    for _ in range(20):
        current = await world.client.message(ravi.id, report.message_id)
        if "done" in (current.text or "") and "sent 2" in (current.text or ""):
            break
        clock.advance(timedelta(seconds=6))
        await asyncio.sleep(0.3)
    else:
        raise AssertionError(current.text)
    assert await from_bot(world, people["Dr Rao"]) == []
    assert (await world.client.stats())["responses_429"] == 0


async def test_a_time_that_passed_meanwhile_is_refused(world: World, clock: ManualClock) -> None:
    ravi = await coordinator(world)
    await staff(world)
    en = world.catalogs.get("en")
    preview_id = await to_preview(world, ravi, "Clinic day")
    preview = await world.client.message(ravi.id, preview_id)
    await ravi.tap(preview, en._("Schedule"))
    days = await ravi.expect_edit(preview)
    zone = ZoneInfo("Asia/Kolkata")
    first = when.days(clock.now(), zone)[0]
    await ravi.tap(days, when.day_label(en, first))
    times = await ravi.expect_edit(days)
    hhmm = when.times_on(first, clock.now(), zone)[0]
    await ravi.tap(times, when.time_label(hhmm))
    repeat = await ravi.expect_edit(times)
    clock.advance(when.moment(first, hhmm, zone) - clock.now() + timedelta(minutes=1))
    refused = await ravi.tap(repeat, en._("Only once"))
    await ravi.alert(refused, en._("That time has passed. Please choose a later one."))


async def test_any_of_the_thirteen_languages_is_a_segment(world: World) -> None:
    """Ticking தமிழ் in the segment reaches the Tamil readers and nobody else."""
    ravi = await coordinator(world)
    await readers(world, "ta", "ur", "ta")
    en = world.catalogs.get("en")
    await ravi.send("/broadcast")
    start = await ravi.expect(en._("What do you want to send?"))
    await ravi.tap(start, "Broadcast")
    segment = await ravi.expect_edit(start, "Recipients now:")
    assert set(LANGUAGE_NAMES.values()) <= set(segment.button_texts())
    await ravi.tap(segment, LANGUAGE_NAMES["ta"])
    segment = await ravi.expect_edit(segment, "Recipients now: 2 people.")
    assert "✅ " + LANGUAGE_NAMES["ta"] in segment.button_texts()
