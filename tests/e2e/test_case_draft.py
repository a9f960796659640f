"""A health worker fills in a case from the phone: every answer saved, every file answered."""

from __future__ import annotations

import re
from pathlib import Path

from sqlalchemy import select

from bot.cases.drafts import Step
from bot.domain import SPECIALTIES, URGENCY_LABELS, CaseStatus, Urgency
from bot.handlers import case_texts
from bot.imaging.errors import Reason
from bot.sandbox import specimens
from bot.sandbox.script import Person
from bot.storage.models import Attachment, Case
from tests.e2e.conftest import World
from tests.e2e.people import health_worker


async def fill_until_attachments(world: World, sunita: Person) -> None:
    tr = world.catalogs.get("hi")
    q = case_texts.DRAFT_QUESTIONS
    await sunita.send("/new")
    await sunita.expect(tr._(q[Step.AGE]))
    await sunita.send("चालीस")
    await sunita.expect(tr._(case_texts.DRAFT_PROBLEMS["age_format"]))
    await sunita.send("४५ साल")
    sex = await sunita.expect(tr._(q[Step.SEX]))
    await sunita.tap(sex, tr._(case_texts.SEX_LABELS["male"]))
    ids = await sunita.expect(tr._(q[Step.IDENTIFIERS]))
    await sunita.tap(ids, tr._("Add"))
    await sunita.expect(tr._(q[Step.NAME]))
    await sunita.send("Ramesh Kumar")
    await sunita.expect(tr._(q[Step.PHONE]))
    await sunita.send("12345")
    await sunita.expect(tr._(case_texts.DRAFT_PROBLEMS["phone_format"]))
    await sunita.send("098450 12345")
    abha = await sunita.expect(tr._(q[Step.ABHA]))
    await sunita.tap(abha, tr._("Skip"))
    await sunita.expect(tr._(q[Step.COMPLAINT]))
    await sunita.send("तीन हफ्ते से खांसी, बुखार")
    history = await sunita.expect(tr._(q[Step.HISTORY]))
    await sunita.send("वजन कम हुआ है")
    noted = await sunita.expect(tr._("Noted. Write more, send a voice note, or tap Done."))
    await sunita.tap(noted, tr._("Done"))
    vitals = await sunita.expect(tr._(q[Step.VITALS]))
    assert history.message_id != vitals.message_id
    await sunita.tap(vitals, tr._("Add"))
    await sunita.expect(tr._(q[Step.TEMPERATURE]))
    await sunita.send("400")
    await sunita.expect(tr._(case_texts.DRAFT_PROBLEMS["vital_range"]))
    await sunita.send("101 F")
    pulse = await sunita.expect(tr._(q[Step.PULSE]))
    await sunita.tap(pulse, tr._("Skip"))
    await sunita.expect(tr._(q[Step.BLOOD_PRESSURE]))
    await sunita.send("120/80")
    await sunita.expect(tr._(q[Step.SPO2]))
    await sunita.send("96%")
    specialty = await sunita.expect(tr._(q[Step.SPECIALTY]))
    await sunita.tap(specialty, tr._(SPECIALTIES["radiology"]))
    urgency = await sunita.expect(tr._(q[Step.URGENCY]))
    await sunita.tap(urgency, tr._(URGENCY_LABELS[Urgency.URGENT]))
    await sunita.expect(tr._(q[Step.ATTACHMENTS]))


async def test_a_whole_case_with_files_consent_and_code(world: World, settings) -> None:
    tr = world.catalogs.get("hi")
    sunita = await health_worker(world)
    await fill_until_attachments(world, sunita)
    client = world.client

    await client.send_document(
        sunita.id, specimens.chest_film_dicom(512), "IMG0001.dcm", mime_type="application/dicom"
    )
    status = await sunita.expect(tr._("⏳ Processing the file…"))
    done = await sunita.expect_edit(status, "✅", "DX")
    thumb = await sunita.expect()
    assert thumb.attachment is not None and thumb.protect_content
    assert done.text

    await client.send_photo(sunita.id, specimens.lesion_photo_jpeg())
    status = await sunita.expect(tr._("⏳ Processing the file…"))
    second = await sunita.expect_edit(
        status,
        "✅",
        tr._(case_texts.COMPRESSED_PHOTO),
        tr.ngettext("{n} file received so far.", "{n} files received so far.", 2),
    )
    assert tr._("Done") in second.button_texts()  # "Done" stays at the bottom of the chat
    await sunita.expect()

    await client.send_document(sunita.id, b"\x00garbage" * 100, "scan.dcm")
    status = await sunita.expect(tr._("⏳ Processing the file…"))
    await sunita.expect_edit(status, "❌", tr._(case_texts.ATTACHMENT_REFUSALS[Reason.UNSUPPORTED]))

    await sunita.send("/new")
    choice = await sunita.expect(tr._("You have an unfinished case. Continue it or start again?"))
    await sunita.tap(choice, tr._("Continue"))
    prompt = await sunita.expect(tr._(case_texts.DRAFT_QUESTIONS[Step.ATTACHMENTS]))
    assert tr.ngettext("{n} file received so far.", "{n} files received so far.", 2) in (
        prompt.text or ""
    )
    await sunita.tap(prompt, tr._("Done"))
    review = await sunita.expect(
        tr._(case_texts.DRAFT_QUESTIONS[Step.REVIEW]),
        "38.3",
        "120/80",
        tr._("Patient details recorded (hidden from specialists)."),
    )
    assert "Ramesh" not in (review.text or "") and "98450" not in (review.text or "")
    await sunita.tap(review, tr._("Looks right"))
    consent = await sunita.expect(tr._(case_texts.DRAFT_QUESTIONS[Step.CONSENT]))
    await sunita.tap(consent, tr._("No, not yet"))
    consent = await sunita.expect(
        tr._(case_texts.DRAFT_PROBLEMS["consent_needed"]),
        tr._(case_texts.DRAFT_QUESTIONS[Step.CONSENT]),
    )
    await sunita.tap(consent, tr._(case_texts.CONSENT_LABELS["patient"]))
    submitted = await sunita.expect()
    code = re.search(r"[2-9A-Z]{3}-[2-9A-Z]{3}", submitted.text or "")
    assert code is not None

    async with world.runtime.db.transaction() as session:
        case = await session.scalar(select(Case).where(Case.code == code.group(0)))
        assert case is not None
        assert case.status == CaseStatus.SUBMITTED
        assert case.consent_by == "patient" and case.consent_at is not None
        assert case.age_value == 45 and case.vitals["temperature"] == 38.3
        assert "Ramesh" not in (case.patient_name_enc or "")
        name = world.services.fields.decrypt(
            case.patient_name_enc or "", purpose="case.patient_name", context=case.code.encode()
        )
        assert name == "Ramesh Kumar"
        files = await session.scalars(select(Attachment).where(Attachment.case_id == case.id))
        statuses = sorted(a.status for a in files)
    assert statuses == ["failed", "ready", "ready"]
    assert_no_plaintext(Path(settings.data_dir))


def assert_no_plaintext(data_dir: Path) -> None:
    """Nothing under the data directory is plaintext: no DICOM preamble, no patient name."""
    for path in data_dir.rglob("*"):
        if path.is_file() and path.suffix not in (".db", ".json", ".db-wal", ".db-shm"):
            data = path.read_bytes()
            assert b"DICM" not in data
            assert specimens.FAKE_PATIENT.encode() not in data


async def test_cancel_asks_first_and_a_minor_needs_a_guardian(world: World) -> None:
    tr = world.catalogs.get("en")
    sunita = await health_worker(world, "en")
    await sunita.send("/cancel")
    await sunita.expect(tr._("There is no unfinished case to cancel."))
    await sunita.send("/new")
    await sunita.expect(tr._(case_texts.DRAFT_QUESTIONS[Step.AGE]))
    await sunita.send("8 months")
    await sunita.expect(tr._(case_texts.DRAFT_QUESTIONS[Step.SEX]))
    await sunita.send("/cancel")
    ask = await sunita.expect(tr._("Discard this case? Everything entered so far will be deleted."))
    await sunita.tap(ask, tr._("No, keep it"))
    await sunita.expect(tr._(case_texts.DRAFT_QUESTIONS[Step.SEX]))
    await sunita.send("/cancel")
    ask = await sunita.expect()
    await sunita.tap(ask, tr._("Yes, discard"))
    await sunita.expect(tr._("The case was discarded. Send /new to start a new one."))
    stale = await sunita.tap(ask, "dc:yes", forged=True)
    await sunita.alert(stale, tr._("This button is no longer valid."))


async def test_specialists_cannot_send_cases(world: World) -> None:
    from bot.domain import Role

    code = await world.invite(Role.SPECIALIST, preapproved=True, specialty="radiology")
    meera = await world.person("Meera", "en")
    from tests.e2e.people import onboard

    await onboard(world, meera, code, "en", "Dr. Meera Iyer", "MD", "KMC 12345")
    await meera.send("/new")
    await meera.expect(world.catalogs.get("en")._("Only registered health workers can send cases."))
