"""The demo's story, step by step, as people play it through the emulator.

Each step waits for the reply a person would wait for and checks it, so the same code
serves ``sampark demo`` (which prints the transcript) and the end-to-end tests.
"""

from __future__ import annotations

import re
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

from bot.cases.drafts import Step
from bot.cases.reports import Field
from bot.domain import (
    REFERRAL_LABELS,
    ROLE_LABELS,
    SPECIALTIES,
    URGENCY_LABELS,
    Referral,
    Role,
    Urgency,
)
from bot.handlers import case_texts, texts
from bot.handlers import reports as report_texts
from bot.i18n import LANGUAGE_NAMES, Catalogs
from bot.sandbox import specimens
from bot.sandbox.client import SandboxClient
from bot.sandbox.script import Person, Transcript, UnexpectedReply

DISTRICT, FACILITY = "Dharwad", "PHC Amminabhavi"
LINK = re.compile(r"https://t\.me/\S+\?start=([A-Za-z0-9_-]+)")
CASE_CODE = re.compile(r"[2-9A-Z]{3}-[2-9A-Z]{3}")


@dataclass(frozen=True)
class Cast:
    coordinator: Person
    health_worker: Person
    specialist: Person
    specialist_language: str = "en"


def _found(pattern: re.Pattern[str], text: str | None, what: str) -> str:
    match = pattern.search(text or "")
    if match is None:
        raise UnexpectedReply(f"no {what} in: {text!r}")
    return match.group(match.lastindex or 0)


async def onboarding(
    client: SandboxClient,
    catalogs: Catalogs,
    t: Transcript,
    code: str,
    language: str,
    specialist_language: str = "en",
    coordinator_language: str = "en",
) -> Cast:
    """A coordinator joins, invites a health worker and a radiologist, approves her."""
    en, local = catalogs.get("en"), catalogs.get(language)
    sp, co = catalogs.get(specialist_language), catalogs.get(coordinator_language)

    t.note("A coordinator joins with the invite the operator printed")
    ravi = await Person.join(client, t, "Ravi (coordinator)", language_code=coordinator_language)
    await ravi.send("/start", code)
    picker = await ravi.expect(texts.choose_language(en))
    await ravi.tap(picker, LANGUAGE_NAMES[coordinator_language])
    await ravi.expect(co._("What is your full name?"))
    await ravi.send("Ravi Kumar")
    await ravi.expect(co._("Welcome, {name}! Your registration is complete.", name="Ravi Kumar"))

    t.note(f"The coordinator invites a health worker of {FACILITY}")
    await ravi.send("/invite")
    menu = await ravi.expect(co._("Whom do you want to invite?"))
    await ravi.tap(menu, co._(ROLE_LABELS[Role.HEALTH_WORKER]))
    await ravi.expect_edit(menu, co._("Which facility does the health worker belong to?"))
    await ravi.tap(menu, FACILITY)
    worker_code = _found(LINK, (await ravi.expect_edit(menu, FACILITY)).text, "invite link")

    t.note(f"A health worker onboards in {LANGUAGE_NAMES[language]}")
    sunita = await Person.join(client, t, "Sunita (health worker)", language_code=language)
    await sunita.send("/start", worker_code)
    picker = await sunita.expect(texts.choose_language(local))
    await sunita.tap(picker, LANGUAGE_NAMES[language])
    await sunita.expect(local._("What is your full name?"))
    await sunita.send("12345")
    await sunita.expect(local._(texts.PROBLEMS[texts.Problem.BAD_NAME]))
    await sunita.send("Sunita Devi")
    await sunita.expect(
        local._("Welcome, {name}! Your registration is complete.", name="Sunita Devi")
    )

    t.note(f"The coordinator invites a radiologist, who onboards in {specialist_language}")
    await ravi.send("/invite")
    menu = await ravi.expect(co._("Whom do you want to invite?"))
    await ravi.tap(menu, co._(ROLE_LABELS[Role.SPECIALIST]))
    specialist_code = _found(LINK, (await ravi.expect_edit(menu, "https://t.me/")).text, "link")
    meera = await Person.join(client, t, "Dr Meera (specialist)", language_code=specialist_language)
    await meera.send("/start", specialist_code)
    picker = await meera.expect(texts.choose_language(en))
    await meera.tap(picker, LANGUAGE_NAMES[specialist_language])
    await meera.expect(sp._("What is your full name?"))
    await meera.send("Dr. Meera Iyer")
    await meera.expect(sp._(texts.QUESTIONS[texts.Step.QUALIFICATION]))
    await meera.send("MD (Radiology)")
    await meera.expect(sp._(texts.QUESTIONS[texts.Step.REGISTRATION_NUMBER]))
    await meera.send("KMC 123456")
    choices = await meera.expect(sp._(texts.QUESTIONS[texts.Step.SPECIALTIES]))
    await meera.tap(choices, sp._(SPECIALTIES["radiology"]))
    await meera.expect_edit(choices)
    await meera.tap(choices, sp._("Done"))
    await meera.expect(
        sp._(
            "Thank you, {name}. A coordinator will check your details; "
            "I will message you here when you are approved.",
            name="Dr. Meera Iyer",
        )
    )

    t.note("The coordinator approves her with one tap")
    card = await ravi.expect(co._("New registration to approve"), "KMC 123456")
    await ravi.tap(card, co._("Approve"))
    await ravi.expect_edit(card, co._("✅ Approved by you."))
    await meera.expect(
        sp._(
            "Your registration as {role} has been approved. Welcome to Sampark!",
            role=sp._(ROLE_LABELS[Role.SPECIALIST]),
        )
    )

    t.note("The health worker checks her registration")
    await sunita.send("/whoami")
    await sunita.expect(local._("Name: {name}", name="Sunita Devi"), FACILITY)
    return Cast(ravi, sunita, meera, specialist_language)


async def submit_case(
    client: SandboxClient,
    catalogs: Catalogs,
    worker: Person,
    language: str,
    *,
    urgency: Urgency = Urgency.URGENT,
    with_files: bool = True,
) -> str:
    """The health worker's shortest honest path through ``/new``; returns the case code."""
    tr = catalogs.get(language)
    q = case_texts.DRAFT_QUESTIONS
    await worker.send("/new")
    await worker.expect(tr._(q[Step.AGE]))
    await worker.send("45")
    sex = await worker.expect(tr._(q[Step.SEX]))
    await worker.tap(sex, tr._(case_texts.SEX_LABELS["female"]))
    ids = await worker.expect(tr._(q[Step.IDENTIFIERS]))
    await worker.tap(ids, tr._("Skip"))
    await worker.expect(tr._(q[Step.COMPLAINT]))
    await worker.send("Cough for 3 weeks, fever, weight loss")
    history = await worker.expect(tr._(q[Step.HISTORY]))
    await worker.tap(history, tr._("Skip"))
    vitals = await worker.expect(tr._(q[Step.VITALS]))
    await worker.tap(vitals, tr._("Skip"))
    specialty = await worker.expect(tr._(q[Step.SPECIALTY]))
    await worker.tap(specialty, tr._(SPECIALTIES["radiology"]))
    choice = await worker.expect(tr._(q[Step.URGENCY]))
    await worker.tap(choice, tr._(URGENCY_LABELS[urgency]))
    files = await worker.expect(tr._(q[Step.ATTACHMENTS]))
    if with_files:
        await client.send_document(
            worker.id, specimens.chest_film_dicom(), "IM000001.dcm", mime_type="application/dicom"
        )
        worker.transcript.note(
            "(the health worker sends the chest film from the X-ray machine as a DICOM file)"
        )
        status = await worker.expect(tr._("⏳ Processing the file…"))
        await worker.expect_edit(status, "✅", "DX")
        await worker.expect()  # a small preview of what was received
        await client.send_document(
            worker.id, specimens.lesion_photo_jpeg(), "IMG_2041.jpg", mime_type="image/jpeg"
        )
        worker.transcript.note("(and a phone photo of the skin lesion, as a file)")
        status = await worker.expect(tr._("⏳ Processing the file…"))
        await worker.expect_edit(status, "✅")
        await worker.expect()
    await worker.tap(files, tr._("Done"))
    review = await worker.expect(tr._(q[Step.REVIEW]))
    await worker.tap(review, tr._("Looks right"))
    consent = await worker.expect(tr._(q[Step.CONSENT]))
    await worker.tap(consent, tr._(case_texts.CONSENT_LABELS["patient"]))
    return _found(CASE_CODE, (await worker.expect()).text, "case code")


async def consultation(
    client: SandboxClient,
    catalogs: Catalogs,
    t: Transcript,
    cast: Cast,
    language: str,
    put_on_call: Callable[[int], Awaitable[None]],
) -> str:
    """A case with a chest film and a photo goes to the radiologist and comes back."""
    sp, local = catalogs.get(cast.specialist_language), catalogs.get(language)
    sunita, meera = cast.health_worker, cast.specialist

    t.note("The coordinator puts the radiologist on call (sampark roster add …)")
    await put_on_call(meera.id)

    t.note("The health worker submits a case")
    code = await submit_case(client, catalogs, sunita, language)

    t.note("The radiologist gets the previews, watermarked for her, and the case card")
    album = await meera.expect()
    if not album.protect_content:
        raise UnexpectedReply("previews must be sent with protect_content")
    await meera.expect()  # the second preview
    card = await meera.expect(code, "Cough for 3 weeks")
    await meera.tap(card, sp._("Accept"))
    card = await meera.expect_edit(card, sp._("✅ You accepted this case."))
    await sunita.expect(code, "Dr. Meera Iyer")

    t.note("She asks a question; the answer comes back through the bot")
    await meera.tap(card, sp._("Ask a question"))
    await meera.expect(sp._("Write your question now (one message)."))
    await meera.send("Any night sweats? Any TB contact at home?")
    await meera.expect(sp._("Sent for case {code}.", code=code))
    question = await sunita.expect(local._("❓ The specialist asks about case {code}:", code=code))
    await sunita.tap(question, local._("Answer"))
    await sunita.expect(local._("Write your answer now (one message)."))
    await sunita.send("Yes, night sweats for 2 weeks. Her brother had TB last year.")
    await sunita.expect(local._("Sent for case {code}.", code=code))
    reply = await meera.expect(sp._("💬 The health worker answers about case {code}:", code=code))

    t.note("She writes and signs the report")
    await meera.tap(reply, sp._("Write report"))
    await meera.expect(sp._(report_texts.QUESTIONS[Field.FINDINGS], code=code))
    await meera.send("Right upper zone patchy opacity with a thick-walled cavity.")
    await meera.expect(sp._(report_texts.QUESTIONS[Field.IMPRESSION]))
    await meera.send("Likely active pulmonary tuberculosis.")
    await meera.expect(sp._(report_texts.QUESTIONS[Field.ADVICE]))
    await meera.send("Two sputum samples for CBNAAT today. Mask and ventilation at home.")
    referral = await meera.expect(sp._(report_texts.QUESTIONS[Field.REFERRAL]))
    await meera.tap(referral, sp._(REFERRAL_LABELS[Referral.URGENT]))
    follow = await meera.expect(sp._(report_texts.QUESTIONS[Field.FOLLOW_UP]))
    await meera.tap(follow, sp.ngettext("Follow up in {n} day", "Follow up in {n} days", 7))
    preview = await meera.expect("KMC 123456")
    await meera.tap(preview, sp._("✍️ Sign and send"))
    await meera.expect(sp._("Report on case {code} sent to the health worker.", code=code))

    t.note(f"The report arrives in {LANGUAGE_NAMES[language]}; the health worker acknowledges")
    report = await sunita.expect(local._("📋 Report for case {code}", code=code), "KMC 123456")
    await sunita.tap(report, local._("✅ Received"))
    await meera.expect(
        sp._("The health worker acknowledged your report on case {code}.", code=code)
    )
    return code
