"""Onboarding through Telegram, as people do it: every role, both languages, every bad input."""

from __future__ import annotations

from datetime import timedelta

import pytest

from bot.accounts.invites import InviteProblem
from bot.accounts.onboarding import Problem, Step
from bot.clock import ManualClock
from bot.domain import ROLE_LABELS, SPECIALTIES, Role
from bot.handlers import texts
from bot.i18n import LANGUAGE_NAMES, Catalogs
from bot.sandbox.live import MODES
from bot.sandbox.script import Person
from tests.e2e.conftest import World

LANGUAGES = Catalogs().available  # all thirteen
pytestmark = pytest.mark.parametrize("bot_mode", MODES)  # polled and pushed updates alike


async def open_invite(world: World, person: Person, code: str, language: str) -> None:
    """/start with the code, pick the language, see the first question."""
    await person.send("/start", code)
    picker = await person.expect(texts.choose_language(world.catalogs.get("hi")))
    assert LANGUAGE_NAMES["hi"] in picker.button_texts()
    await person.tap(picker, LANGUAGE_NAMES[language])
    tr = world.catalogs.get(language)
    await person.expect(tr._(texts.QUESTIONS[Step.FULL_NAME]))


async def coordinator(world: World, language: str = "en", district: str = "Dharwad") -> Person:
    code = await world.invite(Role.COORDINATOR, district=district, preapproved=True)
    ravi = await world.person("Ravi", language)
    await open_invite(world, ravi, code, language)
    await ravi.send("Ravi Kumar")
    tr = world.catalogs.get(language)
    await ravi.expect(tr._("Welcome, {name}! Your registration is complete.", name="Ravi Kumar"))
    return ravi


@pytest.mark.parametrize("language", LANGUAGES)
async def test_health_worker_of_a_facility_is_active_at_once(world: World, language: str) -> None:
    tr = world.catalogs.get(language)
    phc = await world.services.facilities.add("PHC Amminabhavi", "Dharwad")
    code = await world.invite(Role.HEALTH_WORKER, facility_id=phc.id)
    sunita = await world.person("Sunita", language)
    await open_invite(world, sunita, code, language)
    await sunita.send("Sunita Devi")
    welcome = await sunita.expect(
        tr._("Welcome, {name}! Your registration is complete.", name="Sunita Devi")
    )
    assert tr._("What you can do:") in (welcome.text or "")
    await sunita.send("/whoami")
    await sunita.expect(
        tr._("Name: {name}", name="Sunita Devi"),
        "PHC Amminabhavi",
        tr._(texts.STATUS_LABELS[texts.Status.ACTIVE]),
    )
    menu = await world.client.effective_commands(sunita.id)
    assert "whoami" in str(menu)


@pytest.mark.parametrize("language", LANGUAGES)
async def test_specialist_registers_and_is_approved(world: World, language: str) -> None:
    tr, en = world.catalogs.get(language), world.catalogs.get("en")
    ravi = await coordinator(world)
    code = await world.invite(Role.SPECIALIST, district="Dharwad")
    meera = await world.person("Meera", language)
    await open_invite(world, meera, code, language)
    await meera.send("Dr. Meera Iyer")
    await meera.expect(tr._(texts.QUESTIONS[Step.QUALIFICATION]))
    await meera.send("MD (Radiology)")
    await meera.expect(tr._(texts.QUESTIONS[Step.REGISTRATION_NUMBER]))
    await meera.send("my number")
    await meera.expect(tr._(texts.PROBLEMS[Problem.BAD_REGISTRATION]))
    await meera.send("kmc 123456")
    choices = await meera.expect(tr._(texts.QUESTIONS[Step.SPECIALTIES]))
    await meera.tap(choices, tr._("Done"))
    await meera.expect(tr._(texts.PROBLEMS[Problem.NO_SPECIALTY]))
    await meera.tap(choices, tr._(SPECIALTIES["radiology"]))
    ticked = await meera.expect_edit(choices)
    assert "✅ " + tr._(SPECIALTIES["radiology"]) in ticked.button_texts()
    await meera.tap(choices, tr._("Done"))
    await meera.expect(
        tr._(
            "Thank you, {name}. A coordinator will check your details; "
            "I will message you here when you are approved.",
            name="Dr. Meera Iyer",
        )
    )
    await meera.send("/help")
    await meera.expect(tr._(texts.STATUS_LABELS[texts.Status.PENDING]))

    card = await ravi.expect(
        en._("New registration to approve"), "KMC 123456", en._(SPECIALTIES["radiology"])
    )
    assert card.callback_datas() and all(len(d.encode()) <= 64 for d in card.callback_datas())
    await ravi.tap(card, en._("Approve"))
    await ravi.expect_edit(card, en._("✅ Approved by you."))
    await meera.expect(
        tr._(
            "Your registration as {role} has been approved. Welcome to Sampark!",
            role=tr._(ROLE_LABELS[Role.SPECIALIST]),
        )
    )
    user = await world.services.directory.by_telegram(meera.id)
    assert user is not None and user.is_active and user.language == language


async def test_rejection_and_a_second_tap(world: World) -> None:
    en = world.catalogs.get("en")
    ravi = await coordinator(world)
    code = await world.invite(Role.COORDINATOR, district="Dharwad")
    priya = await world.person("Priya", "hi")
    await open_invite(world, priya, code, "hi")
    await priya.send("Priya Sharma")
    hi = world.catalogs.get("hi")
    await priya.expect(
        hi._(
            "Thank you, {name}. A coordinator will check your details; "
            "I will message you here when you are approved.",
            name="Priya Sharma",
        )
    )
    card = await ravi.expect(en._("New registration to approve"), "Priya Sharma")
    await ravi.tap(card, en._("Reject"))
    await ravi.expect_edit(card, en._("❌ Rejected by you."))
    await priya.expect(
        hi._(
            "Your registration was not approved. "
            "If you think this is a mistake, please contact your coordinator."
        )
    )
    user = await world.services.directory.by_telegram(priya.id)
    assert user is not None and user.status is texts.Status.REJECTED
    # The old card's button data, tapped again (e.g. from another device): told, not re-decided.
    again = await ravi.tap(card, f"apv:a:{user.id}", forged=True)
    await ravi.alert(
        again,
        en._("Already decided: {status}.", status=en._(texts.STATUS_LABELS[texts.Status.REJECTED])),
    )
    assert (await world.services.directory.by_telegram(priya.id)).status is texts.Status.REJECTED


async def test_unbound_health_worker_names_facility_and_is_approved(world: World) -> None:
    en = world.catalogs.get("en")
    ravi = await coordinator(world)
    await ravi.send("/invite")
    menu = await ravi.expect(en._("Whom do you want to invite?"))
    await ravi.tap(menu, en._(ROLE_LABELS[Role.HEALTH_WORKER]))
    link = await ravi.expect_edit(menu, "https://t.me/SamparkBot?start=")
    code = (link.text or "").rsplit("start=", 1)[1]
    asha = await world.person("Asha", "en")
    await open_invite(world, asha, code, "en")
    await asha.send("Asha Bai")
    await asha.expect(en._(texts.QUESTIONS[Step.FACILITY]))
    await asha.send("SC Hebballi")
    await asha.expect(
        en._(
            "Thank you, {name}. A coordinator will check your details; "
            "I will message you here when you are approved.",
            name="Asha Bai",
        )
    )
    card = await ravi.expect(en._("New registration to approve"), "SC Hebballi", "Dharwad")
    await ravi.tap(card, en._("Approve"))
    await asha.expect(
        en._(
            "Your registration as {role} has been approved. Welcome to Sampark!",
            role=en._(ROLE_LABELS[Role.HEALTH_WORKER]),
        )
    )


@pytest.mark.parametrize("language", LANGUAGES)
async def test_bad_invites_are_explained(world: World, clock: ManualClock, language: str) -> None:
    tr = world.catalogs.get(language)
    stranger = await world.person("Stranger", language)
    await stranger.send("/start", "NOSUCHCODE99")
    await stranger.expect(tr._(texts.INVITE_PROBLEMS[InviteProblem.UNKNOWN]))
    await stranger.send("/start", "x" * 200)
    await stranger.expect(tr._(texts.INVITE_PROBLEMS[InviteProblem.UNKNOWN]))

    expiring = await world.invite(Role.SPECIALIST, ttl=timedelta(hours=1))
    clock.advance(timedelta(hours=2))
    await stranger.send("/start", expiring)
    await stranger.expect(tr._(texts.INVITE_PROBLEMS[InviteProblem.EXPIRED]))

    revoked = await world.invite(Role.SPECIALIST)
    await world.services.invites.revoke(revoked)
    await stranger.send("/start", revoked)
    await stranger.expect(tr._(texts.INVITE_PROBLEMS[InviteProblem.REVOKED]))


async def test_used_invite_and_already_registered(world: World) -> None:
    phc = await world.services.facilities.add("PHC A", "D")
    code = await world.invite(Role.HEALTH_WORKER, facility_id=phc.id)
    first = await world.person("First", "en")
    await open_invite(world, first, code, "en")
    await first.send("Kamala Devi")
    await first.expect("Kamala Devi")
    await first.send("/start", code)
    await first.expect(world.catalogs.get("en")._("You are already registered."))
    second = await world.person("Second", "hi")
    await second.send("/start", code)
    await second.expect(world.catalogs.get("hi")._(texts.INVITE_PROBLEMS[InviteProblem.EXHAUSTED]))


@pytest.mark.parametrize("language", LANGUAGES)
async def test_strangers_can_only_pick_a_language(world: World, language: str) -> None:
    tr = world.catalogs.get(language)
    stranger = await world.person("Stranger", language)
    await stranger.send("hello?")
    await stranger.expect(texts.stranger(tr))
    await stranger.send("/whoami")
    await stranger.expect(texts.stranger(tr))
    await stranger.send("/invite")
    await stranger.expect(tr._("Only coordinators can create invites."))
    await stranger.send("/teleport")
    await stranger.expect(tr._("I don't know that command. Send /help to see what you can do."))
    await world.client.send_photo(stranger.id, _jpeg())
    await stranger.expect(texts.stranger(tr))
    await stranger.send("/language")
    picker = await stranger.expect(texts.choose_language(tr))
    other = "hi" if language == "en" else "en"
    await stranger.tap(picker, LANGUAGE_NAMES[other])
    tr_other = world.catalogs.get(other)
    await stranger.expect(
        tr_other._("I will now write to you in {language}.", language=LANGUAGE_NAMES[other])
    )
    await stranger.expect(texts.stranger(tr_other))


async def test_stale_and_forged_buttons(world: World) -> None:
    en = world.catalogs.get("en")
    stranger = await world.person("Mallory", "en")
    message = await stranger.send("/help")
    await stranger.expect(texts.stranger(en))
    stale = en._("This button is no longer valid.")
    expected = {
        "apv:a:1": en._("Only an active coordinator can do this."),
        "apv:a:notanumber": stale,
        "apv:x:1": stale,
        "apv:a:99999999999999999999999": stale,
        "lang:xx": stale,
        "spec:radiology": stale,
        "spec:done": stale,
        "inv:admin": stale,
        "inv:specialist": en._("Only coordinators can create invites."),
        "invf:1": en._("Only coordinators can create invites."),
        "zzz": stale,
    }
    for forged, alert in expected.items():
        tapped = await stranger.tap(message, forged, forged=True)
        await stranger.alert(tapped, alert)
    await stranger.silence()


async def test_answers_while_registering_are_validated(world: World) -> None:
    hi = world.catalogs.get("hi")
    code = await world.invite(Role.SPECIALIST)
    meera = await world.person("Meera", "hi")
    await open_invite(world, meera, code, "hi")
    for bad in ("12345", "@@@", "x"):
        await meera.send(bad)
        await meera.expect(hi._(texts.PROBLEMS[Problem.BAD_NAME]))
    await world.client.send_photo(meera.id, _jpeg())
    await meera.expect(hi._(texts.QUESTIONS[Step.FULL_NAME]))
    # A restart (new process) resumes the question: /start without a code asks it again.
    await meera.send("/start")
    await meera.expect(hi._(texts.QUESTIONS[Step.FULL_NAME]))


def _jpeg() -> bytes:
    import io

    from PIL import Image

    buffer = io.BytesIO()
    Image.new("RGB", (64, 48), (200, 30, 30)).save(buffer, "JPEG")
    return buffer.getvalue()
