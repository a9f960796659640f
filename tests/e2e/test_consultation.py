"""The whole loop: case → accept → question and answer → signed report → acknowledgement."""

from __future__ import annotations

import pytest

from bot.cases.reports import Field
from bot.domain import REFERRAL_LABELS, Referral
from bot.handlers import reports as report_texts
from bot.sandbox.live import MODES
from tests.e2e.conftest import World
from tests.e2e.people import health_worker, offered_first, specialist
from tests.e2e.test_routing import submit_case

pytestmark = pytest.mark.parametrize("bot_mode", MODES)  # polled and pushed updates alike


async def test_question_answer_report_acknowledge(world: World) -> None:
    en, hi = world.catalogs.get("en"), world.catalogs.get("hi")
    meera = await specialist(world)
    sunita = await health_worker(world)
    code = await submit_case(world, sunita)
    await meera.expect()  # the chest film's preview
    await meera.expect()  # the photo's preview
    card = await meera.expect(code)
    await meera.tap(card, en._("Accept"))
    card = await meera.expect_edit(card, en._("✅ You accepted this case."))
    await sunita.expect(code)

    await meera.tap(card, en._("Ask a question"))
    await meera.expect(en._("Write your question now (one message)."))
    await meera.send("Any night sweats or weight loss?")
    await meera.expect(en._("Sent for case {code}.", code=code))
    question = await sunita.expect(
        hi._("❓ The specialist asks about case {code}:", code=code),
        "Any night sweats or weight loss?",
    )
    assert question.protect_content
    assert "Meera" not in (question.text or "")
    await sunita.tap(question, hi._("Answer"))
    await sunita.expect(hi._("Write your answer now (one message)."))
    await sunita.send("हाँ, रात को पसीना आता है")
    await sunita.expect(hi._("Sent for case {code}.", code=code))
    reply = await meera.expect(
        en._("💬 The health worker answers about case {code}:", code=code), "हाँ, रात को पसीना आता है"
    )
    assert "Sunita" not in (reply.text or "")

    await meera.tap(reply, en._("Write report"))
    await meera.expect(en._(report_texts.QUESTIONS[Field.FINDINGS], code=code))
    await meera.send("Right upper zone opacity with cavitation.")
    await meera.expect(en._(report_texts.QUESTIONS[Field.IMPRESSION]))
    await meera.send("Likely pulmonary tuberculosis.")
    await meera.expect(en._(report_texts.QUESTIONS[Field.ADVICE]))
    await meera.send("Sputum CBNAAT today; start isolation precautions.")
    referral = await meera.expect(en._(report_texts.QUESTIONS[Field.REFERRAL]))
    await meera.tap(referral, en._(REFERRAL_LABELS[Referral.URGENT]))
    follow = await meera.expect(en._(report_texts.QUESTIONS[Field.FOLLOW_UP]))
    await meera.tap(follow, en.ngettext("Follow up in {n} day", "Follow up in {n} days", 7))
    preview = await meera.expect("Likely pulmonary tuberculosis.", "KMC 123456")
    await meera.tap(preview, en._("✍️ Sign and send"))
    await meera.expect(en._("Report on case {code} sent to the health worker.", code=code))

    report = await sunita.expect(
        hi._("📋 Report for case {code}", code=code),
        hi._(report_texts.LABELS[Field.FINDINGS]),
        "Right upper zone opacity with cavitation.",  # the specialist's words, as written
        hi._(REFERRAL_LABELS[Referral.URGENT]),
        "Dr. Meera Iyer",
        "KMC 123456",
    )
    assert report.protect_content
    await sunita.tap(report, hi._("✅ Received"))
    await meera.expect(
        en._("The health worker acknowledged your report on case {code}.", code=code)
    )
    again = await sunita.tap(
        report,
        report.callback_datas()[0] if report.buttons else f"ack:{await _case_id(world, code)}",
        forged=True,
    )
    await sunita.alert(again, hi._("Already acknowledged."))


async def test_someone_elses_case_is_refused(world: World) -> None:
    en = world.catalogs.get("en")
    meera = await specialist(world, "Dr. Meera Iyer")
    arjun = await specialist(world, "Dr. Arjun Rao")
    sunita = await health_worker(world)
    code = await submit_case(world, sunita, with_film=False)
    case_id = await _case_id(world, code)
    # Whoever got the offer accepts; the other forges "Write report".
    owner, other = await offered_first(world, code, meera, arjun)
    card = await owner.expect(code)
    await owner.tap(card, en._("Accept"))
    await owner.expect_edit(card, en._("✅ You accepted this case."))
    own_message = (await world.client.messages(other.id))[-1]
    tapped = await other.tap(own_message, f"rep:{case_id}", forged=True)
    await other.alert(tapped, en._("This case is not assigned to you."))
    notice = await sunita.expect(code)
    forged = await sunita.tap(notice, f"ack:{case_id}", forged=True)
    await sunita.alert(forged, world.catalogs.get("hi")._("There is no report yet."))


async def _case_id(world: World, code: str) -> int:
    from tests.e2e.test_routing import case_id

    return await case_id(world, code)


async def test_an_answer_with_a_photo_goes_through_the_pipeline(world: World) -> None:
    from bot.sandbox import specimens

    en, hi = world.catalogs.get("en"), world.catalogs.get("hi")
    meera = await specialist(world)
    sunita = await health_worker(world)
    code = await submit_case(world, sunita, with_film=False)
    card = await meera.expect(code)
    await meera.tap(card, en._("Accept"))
    card = await meera.expect_edit(card, en._("✅ You accepted this case."))
    await sunita.expect(code)
    await meera.tap(card, en._("Ask a question"))
    await meera.expect()
    await meera.send("Please send a photo of the lesion.")
    await meera.expect()
    question = await sunita.expect(code)
    await sunita.tap(question, hi._("Answer"))
    await sunita.expect()
    await world.client.send_document(
        sunita.id, specimens.lesion_photo_jpeg(), "lesion.jpg", mime_type="image/jpeg"
    )
    status = await sunita.expect(hi._("⏳ Processing the file…"))
    await sunita.expect_edit(status, "✅")
    await sunita.expect()  # the thumbnail of what was received
    await sunita.expect(hi._("Sent for case {code}.", code=code))
    photo = await meera.expect(en._("💬 The health worker answers about case {code}:", code=code))
    assert photo.attachment is not None and photo.attachment.type == "photo"
    assert photo.protect_content
    assert en._("Write report") in photo.button_texts()
