"""Reports: the dialogue saved at every step, signing, refusals, acknowledgement, reads."""

from __future__ import annotations

import asyncio
from datetime import timedelta
from typing import Any

import pytest
from sqlalchemy import select

from bot.cases.refusals import Refusal, RefusalReason
from bot.cases.reports import (
    Acknowledged,
    Field,
    ReportDraft,
    ReportPrompt,
    ReportService,
    ReportView,
    Signed,
)
from bot.clock import ManualClock
from bot.domain import CaseStatus, Referral, Status
from bot.storage.database import Database
from bot.storage.models import AuditEvent, Dialogue
from tests.cases.conftest import Factory
from tests.cases.factories_reports import (
    Consultation,
    admin,
    audit_actions,
    case_row,
    consultation,
    reports_of,
    set_case,
    set_user,
)

FINDINGS = "  Patchy consolidation in the right lower zone.\nNo effusion.  "


@pytest.fixture
def reports(db: Database, clock: ManualClock) -> ReportService:
    return ReportService(db, clock)


async def write(reports: ReportService, tid: int, case_id: int) -> ReportPrompt:
    """Answer every question of the report; ends on the preview."""
    prompt = await reports.begin(tid, case_id)
    assert isinstance(prompt, ReportPrompt)
    for step, text in [
        (Field.FINDINGS, FINDINGS),
        (Field.IMPRESSION, "Right lower lobe pneumonia."),
        (Field.ADVICE, "Amoxicillin 500 mg TDS for 5 days; review if fever persists."),
    ]:
        assert prompt.step is step
        got = await reports.answer(tid, text)
        assert got is not None
        prompt = got
    assert prompt.step is Field.REFERRAL
    got = await reports.choose(tid, Field.REFERRAL, "urgent")
    assert got is not None
    assert got.step is Field.FOLLOW_UP
    got = await reports.choose(tid, Field.FOLLOW_UP, "7")
    assert got is not None
    assert got.step is Field.PREVIEW
    return got


async def test_whole_report_dialogue_signs_and_moves_the_case(
    reports: ReportService, factory: Factory, db: Database, clock: ManualClock
) -> None:
    c = await consultation(factory)
    tid = c.specialist.telegram_id
    prompt = await write(reports, tid, c.case_id)
    assert prompt.draft.complete

    draft = await reports.preview(tid)
    assert isinstance(draft, ReportDraft)
    assert draft.findings == FINDINGS.strip()  # trimmed, line break kept as written
    assert draft.referral is Referral.URGENT
    assert draft.follow_up_days == 7
    assert draft.signed_name == "Dr Asha Kulkarni"
    assert draft.signed_registration == "MMC-2015-12345"

    clock.advance(timedelta(minutes=3))
    signed = await reports.sign(tid)
    assert isinstance(signed, Signed)
    assert signed.case.status is CaseStatus.REPORTED
    assert signed.health_worker.id == c.health_worker.id
    report = signed.report
    assert report.case_code == signed.case.code
    assert (report.findings, report.impression) == (
        FINDINGS.strip(),
        "Right lower lobe pneumonia.",
    )
    assert report.referral is Referral.URGENT
    assert report.follow_up_days == 7
    assert (report.signed_name, report.signed_qualification, report.signed_registration) == (
        "Dr Asha Kulkarni",
        "MD (Radiodiagnosis)",
        "MMC-2015-12345",
    )
    assert report.signed_at == clock.now()
    assert report.acknowledged_at is None
    assert not report.emergency

    row = await case_row(db, c.case_id)
    assert row.status == CaseStatus.REPORTED
    assert row.reported_at == clock.now()
    assert len(await reports_of(db, c.case_id)) == 1
    assert await reports.current(tid) is None  # the dialogue is over
    actions = await audit_actions(db)
    assert {"report.begin", "report.sign", "case.reported"} <= set(actions)


async def test_every_step_is_saved_and_a_restart_resumes(
    db: Database, clock: ManualClock, factory: Factory
) -> None:
    c = await consultation(factory)
    tid = c.specialist.telegram_id
    first = ReportService(db, clock)
    await first.begin(tid, c.case_id)
    await first.answer(tid, "Clear lung fields.")

    async with db.transaction() as session:
        dialogue = await session.get(Dialogue, tid)
        assert dialogue is not None
        assert (dialogue.flow, dialogue.step) == ("report", "impression")
        assert dialogue.data["case_id"] == c.case_id
        assert dialogue.data["findings"] == "Clear lung fields."

    after_restart = ReportService(db, clock)  # a new process, the same database
    prompt = await after_restart.current(tid)
    assert prompt is not None
    assert prompt.step is Field.IMPRESSION
    assert prompt.resumed
    assert prompt.draft.findings == "Clear lung fields."
    again = await after_restart.begin(tid, c.case_id)  # the card's button: same report
    assert isinstance(again, ReportPrompt)
    assert again.step is Field.IMPRESSION
    assert again.resumed
    await after_restart.answer(tid, "Normal study.")
    await after_restart.answer(tid, "No treatment needed.")
    await after_restart.choose(tid, Field.REFERRAL, "none")
    done = await after_restart.choose(tid, Field.FOLLOW_UP, "none")
    assert done is not None
    assert done.step is Field.PREVIEW
    signed = await after_restart.sign(tid)
    assert isinstance(signed, Signed)
    assert signed.report.findings == "Clear lung fields."
    assert signed.report.follow_up_days is None
    assert signed.report.referral is Referral.NONE


async def test_bad_answers_and_stale_buttons(reports: ReportService, factory: Factory) -> None:
    c = await consultation(factory)
    tid = c.specialist.telegram_id
    assert await reports.answer(tid, "text with no report open") is None
    await reports.begin(tid, c.case_id)
    empty = await reports.answer(tid, "   \n ")
    assert empty is not None
    assert (empty.step, empty.problem) == (Field.FINDINGS, "empty")
    long = await reports.answer(tid, "x" * 2001)
    assert long is not None
    assert long.problem == "too_long"
    exact = await reports.answer(tid, "y" * 2000)
    assert exact is not None
    assert exact.step is Field.IMPRESSION
    assert await reports.choose(tid, Field.REFERRAL, "urgent") is None  # not the step yet
    await reports.answer(tid, "imp")
    await reports.answer(tid, "adv")
    typed = await reports.answer(tid, "urgent")
    assert typed is not None
    assert (typed.step, typed.problem) == (Field.REFERRAL, "use_buttons")
    assert await reports.choose(tid, Field.REFERRAL, "tomorrow") is None  # forged value
    await reports.choose(tid, Field.REFERRAL, "emergency")
    assert await reports.choose(tid, Field.FOLLOW_UP, "5") is None
    incomplete = await reports.sign(tid)
    assert incomplete == Refusal(RefusalReason.INCOMPLETE, exact.case.code)


async def test_edit_from_the_preview_returns_to_the_preview(
    reports: ReportService, factory: Factory
) -> None:
    c = await consultation(factory)
    tid = c.specialist.telegram_id
    await write(reports, tid, c.case_id)
    edited = await reports.edit(tid, Field.IMPRESSION)
    assert edited is not None
    assert edited.step is Field.IMPRESSION
    back = await reports.answer(tid, "Viral pneumonitis.")
    assert back is not None
    assert back.step is Field.PREVIEW
    assert back.draft.impression == "Viral pneumonitis."
    assert back.draft.advice is not None  # the rest is untouched


async def test_sign_without_registration_is_refused(
    reports: ReportService, factory: Factory, db: Database
) -> None:
    unregistered = await consultation(factory, registration=None)
    refused = await reports.begin(unregistered.specialist.telegram_id, unregistered.case_id)
    assert isinstance(refused, Refusal)
    assert refused.reason is RefusalReason.NO_REGISTRATION

    c = await consultation(factory)
    tid = c.specialist.telegram_id
    await write(reports, tid, c.case_id)
    await set_user(db, c.specialist.id, registration_number="  ")  # withdrawn meanwhile
    at_signing = await reports.sign(tid)
    assert isinstance(at_signing, Refusal)
    assert at_signing.reason is RefusalReason.NO_REGISTRATION
    assert await reports_of(db, c.case_id) == []
    assert (await case_row(db, c.case_id)).status == CaseStatus.ACCEPTED
    assert await reports.preview(tid) is not None  # kept: signable once registered
    await set_user(db, c.specialist.id, registration_number="MMC-9")
    signed = await reports.sign(tid)
    assert isinstance(signed, Signed)
    assert signed.report.signed_registration == "MMC-9"


async def test_someone_elses_case_is_refused(
    reports: ReportService, factory: Factory, db: Database
) -> None:
    c = await consultation(factory)
    other = await factory.specialist()
    for tid in (other.telegram_id, c.health_worker.telegram_id, 999_999):
        refused = await reports.begin(tid, c.case_id)
        assert refused == Refusal(RefusalReason.NOT_YOURS)
    assert await reports.begin(c.specialist.telegram_id, 424242) == Refusal(
        RefusalReason.UNKNOWN_CASE
    )
    assert await reports.sign(other.telegram_id) == Refusal(RefusalReason.NO_DRAFT)
    assert (await case_row(db, c.case_id)).status == CaseStatus.ACCEPTED
    async with db.transaction() as session:
        refusals = (
            await session.scalars(
                select(AuditEvent).where(AuditEvent.action == "report.begin.refused")
            )
        ).all()
    assert {e.details["reason"] for e in refusals} == {"not_yours", "unknown_case"}


async def test_reassigned_while_writing_is_refused_at_signing(
    reports: ReportService, factory: Factory, db: Database
) -> None:
    c = await consultation(factory)
    tid = c.specialist.telegram_id
    await write(reports, tid, c.case_id)
    other = await factory.specialist()
    await set_case(db, c.case_id, specialist_id=other.id)
    assert await reports.sign(tid) == Refusal(RefusalReason.NOT_YOURS)
    assert await reports_of(db, c.case_id) == []
    assert await reports.current(tid) is None  # the stale draft is gone


async def test_second_report_is_refused(
    reports: ReportService, factory: Factory, db: Database
) -> None:
    c = await consultation(factory)
    tid = c.specialist.telegram_id
    await write(reports, tid, c.case_id)
    first = await reports.sign(tid)
    assert isinstance(first, Signed)
    again = await reports.begin(tid, c.case_id)
    assert again == Refusal(RefusalReason.ALREADY_REPORTED, first.case.code)
    assert await reports.sign(tid) == Refusal(RefusalReason.NO_DRAFT)
    assert len(await reports_of(db, c.case_id)) == 1


async def test_two_drafts_of_the_same_report_sign_once(
    reports: ReportService, factory: Factory, db: Database
) -> None:
    """A stale draft (e.g. begun, then signed from another device) cannot sign twice."""
    c = await consultation(factory)
    tid = c.specialist.telegram_id
    await write(reports, tid, c.case_id)
    async with db.transaction() as session:
        saved = await session.get(Dialogue, tid)
        assert saved is not None
        flow, step, data = saved.flow, saved.step, dict(saved.data)
    assert isinstance(await reports.sign(tid), Signed)
    async with db.transaction() as session:  # the dialogue as it was before signing
        dialogue = await session.get(Dialogue, tid)
        assert dialogue is not None
        dialogue.flow, dialogue.step, dialogue.data = flow, step, data
    refused = await reports.sign(tid)
    assert isinstance(refused, Refusal)
    assert refused.reason is RefusalReason.ALREADY_REPORTED
    assert len(await reports_of(db, c.case_id)) == 1


@pytest.mark.parametrize(
    "status",
    [
        CaseStatus.CLOSED,
        CaseStatus.CANCELLED,
        CaseStatus.OFFERED,
        CaseStatus.SUBMITTED,
        CaseStatus.DRAFT,
    ],
)
async def test_report_on_a_case_not_open_is_refused(
    reports: ReportService, factory: Factory, db: Database, status: CaseStatus
) -> None:
    c = await consultation(factory, status=status)
    refused = await reports.begin(c.specialist.telegram_id, c.case_id)
    assert isinstance(refused, Refusal)
    assert refused.reason is RefusalReason.NOT_OPEN
    assert (await case_row(db, c.case_id)).status == status


async def test_case_closed_while_writing_is_refused(
    reports: ReportService, factory: Factory, db: Database
) -> None:
    c = await consultation(factory, status=CaseStatus.AWAITING_INFO)
    tid = c.specialist.telegram_id
    await write(reports, tid, c.case_id)
    await set_case(db, c.case_id, status=CaseStatus.CANCELLED)
    refused = await reports.sign(tid)
    assert isinstance(refused, Refusal)
    assert refused.reason is RefusalReason.NOT_OPEN
    assert (await case_row(db, c.case_id)).status == CaseStatus.CANCELLED
    assert await reports_of(db, c.case_id) == []


async def test_sign_from_awaiting_info(reports: ReportService, factory: Factory) -> None:
    c = await consultation(factory, status=CaseStatus.AWAITING_INFO)
    await write(reports, c.specialist.telegram_id, c.case_id)
    signed = await reports.sign(c.specialist.telegram_id)
    assert isinstance(signed, Signed)
    assert signed.case.status is CaseStatus.REPORTED


async def test_begin_on_another_case_replaces_the_unfinished_report(
    reports: ReportService, factory: Factory, db: Database
) -> None:
    c = await consultation(factory)
    tid = c.specialist.telegram_id
    second = await factory.case(c.health_worker)
    await set_case(db, second, specialist_id=c.specialist.id, status=CaseStatus.ACCEPTED)
    first = await reports.begin(tid, c.case_id)
    assert isinstance(first, ReportPrompt)
    await reports.answer(tid, "findings of the first case")
    other = await reports.begin(tid, second)
    assert isinstance(other, ReportPrompt)
    assert other.replaced == first.case.code
    assert other.step is Field.FINDINGS
    assert other.draft.findings is None


async def test_discard_leaves_the_case_as_it_was(
    reports: ReportService, factory: Factory, db: Database
) -> None:
    c = await consultation(factory)
    tid = c.specialist.telegram_id
    await reports.begin(tid, c.case_id)
    await reports.answer(tid, "something")
    discarded = await reports.discard(tid)
    assert discarded is not None
    assert discarded.id == c.case_id
    assert await reports.discard(tid) is None
    assert await reports.current(tid) is None
    assert (await case_row(db, c.case_id)).status == CaseStatus.ACCEPTED
    async with db.transaction() as session:
        dialogue = await session.get(Dialogue, tid)
        assert dialogue is not None
        assert (dialogue.flow, dialogue.step, dialogue.data) == (None, None, {})


async def signed_case(
    reports: ReportService, factory: Factory, **kw: Any
) -> tuple[Consultation, Signed]:
    c = await consultation(factory, **kw)
    await write(reports, c.specialist.telegram_id, c.case_id)
    signed = await reports.sign(c.specialist.telegram_id)
    assert isinstance(signed, Signed)
    return c, signed


async def test_acknowledge_once(
    reports: ReportService, factory: Factory, db: Database, clock: ManualClock
) -> None:
    c, signed = await signed_case(reports, factory)
    stranger = await factory.health_worker()
    assert await reports.acknowledge(stranger.telegram_id, c.case_id) == Refusal(
        RefusalReason.NOT_YOURS
    )
    assert await reports.acknowledge(c.specialist.telegram_id, c.case_id) == Refusal(
        RefusalReason.NOT_YOURS
    )
    clock.advance(timedelta(hours=1))
    ack = await reports.acknowledge(c.health_worker.telegram_id, c.case_id)
    assert isinstance(ack, Acknowledged)
    assert ack.case.status is CaseStatus.ACKNOWLEDGED
    assert ack.report.acknowledged_at == clock.now()
    assert ack.specialist.id == c.specialist.id
    row = await case_row(db, c.case_id)
    assert row.status == CaseStatus.ACKNOWLEDGED
    assert row.acknowledged_at == clock.now()

    clock.advance(timedelta(minutes=1))
    again = await reports.acknowledge(c.health_worker.telegram_id, c.case_id)
    assert again == Refusal(RefusalReason.ALREADY_ACKNOWLEDGED, signed.case.code)
    (report,) = await reports_of(db, c.case_id)
    assert report.acknowledged_at == ack.report.acknowledged_at
    assert await reports.acknowledge(c.health_worker.telegram_id, 424242) == Refusal(
        RefusalReason.UNKNOWN_CASE
    )


async def test_acknowledge_needs_a_report_and_a_reported_case(
    reports: ReportService, factory: Factory, db: Database
) -> None:
    c = await consultation(factory)
    refused = await reports.acknowledge(c.health_worker.telegram_id, c.case_id)
    assert isinstance(refused, Refusal)
    assert refused.reason is RefusalReason.NOT_REPORTED
    c2, _ = await signed_case(reports, factory)
    await set_case(db, c2.case_id, status=CaseStatus.CLOSED)
    refused = await reports.acknowledge(c2.health_worker.telegram_id, c2.case_id)
    assert isinstance(refused, Refusal)
    assert refused.reason is RefusalReason.NOT_OPEN


async def test_report_for_checks_access_and_audits_reads(
    reports: ReportService, factory: Factory, db: Database
) -> None:
    c, signed = await signed_case(reports, factory)
    allowed = [
        c.health_worker,
        c.specialist,
        await factory.coordinator(district="Pune"),
        await admin(factory, district=None),
    ]
    for viewer in allowed:
        view = await reports.report_for(viewer.telegram_id, c.case_id)
        assert isinstance(view, ReportView)
        assert view == signed.report
    denied = [
        await factory.coordinator(district="Nashik"),
        await factory.health_worker(),
        await factory.specialist(),
        await factory.coordinator(district="Pune", status=Status.SUSPENDED),
    ]
    for viewer in denied:
        assert await reports.report_for(viewer.telegram_id, c.case_id) == Refusal(
            RefusalReason.NOT_YOURS
        )
    assert await reports.report_for(c.health_worker.telegram_id, 424242) == Refusal(
        RefusalReason.UNKNOWN_CASE
    )
    unreported = await consultation(factory)
    refused = await reports.report_for(unreported.health_worker.telegram_id, unreported.case_id)
    assert isinstance(refused, Refusal)
    assert refused.reason is RefusalReason.NOT_REPORTED

    async with db.transaction() as session:
        reads = (
            await session.scalars(select(AuditEvent).where(AuditEvent.action == "report.read"))
        ).all()
    assert sorted(e.actor_telegram_id or 0 for e in reads) == sorted(v.telegram_id for v in allowed)
    assert all(e.subject == f"case:{c.case_id}" for e in reads)
    assert all("findings" not in str(e.details) for e in reads)


async def test_report_view_carries_no_patient_identifiers(
    reports: ReportService, factory: Factory
) -> None:
    _, signed = await signed_case(reports, factory)
    names = set(ReportView.__dataclass_fields__)
    assert not names & {"patient_name", "patient_phone", "patient_abha", "health_worker_id"}
    with pytest.raises(AttributeError):
        signed.report.findings = "changed"  # type: ignore[misc]


async def test_two_processes_signing_at_once_sign_once(
    db: Database, clock: ManualClock, factory: Factory
) -> None:
    c = await consultation(factory)
    tid = c.specialist.telegram_id
    await write(ReportService(db, clock), tid, c.case_id)
    results = await asyncio.gather(
        ReportService(db, clock).sign(tid), ReportService(db, clock).sign(tid)
    )
    assert sum(isinstance(r, Signed) for r in results) == 1
    (refused,) = [r for r in results if isinstance(r, Refusal)]
    assert refused.reason in {RefusalReason.ALREADY_REPORTED, RefusalReason.NO_DRAFT}
    assert len(await reports_of(db, c.case_id)) == 1


@pytest.mark.parametrize(
    ("typed", "kept"),
    [
        ("दाहिने फेफड़े में निमोनिया।\n\nReview in 3 days 🙂", None),
        ("  <b>not markup</b> & {braces} %s \\n  ", None),
        ("line one\r\n\tindented", None),
        ("nul\x00 and bell\x07 dropped", "nul and bell dropped"),
    ],
)
async def test_free_text_is_kept_as_written(
    reports: ReportService, factory: Factory, typed: str, kept: str | None
) -> None:
    c = await consultation(factory)
    tid = c.specialist.telegram_id
    await reports.begin(tid, c.case_id)
    for _ in range(3):
        await reports.answer(tid, typed)
    await reports.choose(tid, Field.REFERRAL, "emergency")
    await reports.choose(tid, Field.FOLLOW_UP, "30")
    signed = await reports.sign(tid)
    assert isinstance(signed, Signed)
    expected = kept if kept is not None else typed.strip()
    assert (signed.report.findings, signed.report.impression, signed.report.advice) == (
        expected,
        expected,
        expected,
    )
    assert signed.report.emergency
    assert signed.report.follow_up_days == 30
    read = await reports.report_for(c.health_worker.telegram_id, c.case_id)
    assert read == signed.report


async def test_a_double_tap_on_write_report_begins_once(
    db: Database, clock: ManualClock, factory: Factory
) -> None:
    c = await consultation(factory)
    tid = c.specialist.telegram_id
    first, second = await asyncio.gather(
        ReportService(db, clock).begin(tid, c.case_id),
        ReportService(db, clock).begin(tid, c.case_id),
    )
    assert isinstance(first, ReportPrompt)
    assert isinstance(second, ReportPrompt)
    assert {first.resumed, second.resumed} == {False, True}
    assert first.step is second.step is Field.FINDINGS
