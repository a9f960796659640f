"""Questions relayed both ways: status changes, refusals, files, the thread and its access."""

from __future__ import annotations

import asyncio
from datetime import timedelta

import pytest
from sqlalchemy import select

from bot.cases.questions import MessageView, QuestionService, Relay
from bot.cases.refusals import Refusal, RefusalReason
from bot.cases.reports import Field, ReportService, Signed
from bot.clock import ManualClock
from bot.domain import CaseStatus, Role, Status
from bot.storage.database import Database
from bot.storage.models import AuditEvent
from tests.cases.conftest import Factory
from tests.cases.factories_reports import (
    admin,
    attachment,
    audit_count,
    case_row,
    consultation,
    messages_of,
    set_case,
    set_user,
)


@pytest.fixture
def questions(db: Database, clock: ManualClock) -> QuestionService:
    return QuestionService(db, clock)


async def test_questions_both_ways_with_status_changes(
    questions: QuestionService, factory: Factory, db: Database, clock: ManualClock
) -> None:
    c = await consultation(factory)
    asked = await questions.ask(c.specialist.telegram_id, c.case_id, "  Any fever?  ")
    assert isinstance(asked, Relay)
    assert asked.recipient.telegram_id == c.health_worker.telegram_id
    assert asked.author_role is Role.SPECIALIST
    assert asked.text == "Any fever?"
    assert asked.case.status is CaseStatus.AWAITING_INFO
    assert (await case_row(db, c.case_id)).status == CaseStatus.AWAITING_INFO

    clock.advance(timedelta(minutes=1))
    more = await questions.ask(c.specialist.telegram_id, c.case_id, "And the weight?")
    assert isinstance(more, Relay)
    assert more.case.status is CaseStatus.AWAITING_INFO  # still waiting

    clock.advance(timedelta(minutes=10))
    answered = await questions.ask(c.health_worker.telegram_id, c.case_id, "38.5 °C, 52 kg")
    assert isinstance(answered, Relay)
    assert answered.recipient.telegram_id == c.specialist.telegram_id
    assert answered.author_role is Role.HEALTH_WORKER
    assert answered.case.status is CaseStatus.ACCEPTED
    assert (await case_row(db, c.case_id)).status == CaseStatus.ACCEPTED

    extra = await questions.ask(c.health_worker.telegram_id, c.case_id, "He also vomited")
    assert isinstance(extra, Relay)
    assert extra.case.status is CaseStatus.ACCEPTED  # unprompted information: no move

    rows = await messages_of(db, c.case_id)
    assert [m.text for m in rows] == [
        "Any fever?",
        "And the weight?",
        "38.5 °C, 52 kg",
        "He also vomited",
    ]
    assert [m.author_id for m in rows] == [c.specialist.id] * 2 + [c.health_worker.id] * 2
    async with db.transaction() as session:
        events = (
            await session.scalars(select(AuditEvent).where(AuditEvent.action == "case.question"))
        ).all()
    assert len(events) == 4
    assert all("fever" not in str(e.details) for e in events)  # no clinical text in the log


async def test_question_to_a_case_not_open_is_refused(
    questions: QuestionService, factory: Factory, db: Database
) -> None:
    for status in (
        CaseStatus.CLOSED,
        CaseStatus.REPORTED,
        CaseStatus.ACKNOWLEDGED,
        CaseStatus.CANCELLED,
        CaseStatus.OFFERED,
    ):
        c = await consultation(factory, status=status)
        for author in (c.specialist, c.health_worker):
            refused = await questions.ask(author.telegram_id, c.case_id, "hello?")
            assert isinstance(refused, Refusal)
            assert refused.reason is RefusalReason.NOT_OPEN
        assert (await case_row(db, c.case_id)).status == status
        assert await messages_of(db, c.case_id) == []


async def test_a_strangers_question_is_refused(
    questions: QuestionService, factory: Factory, db: Database
) -> None:
    c = await consultation(factory)
    strangers = [
        await factory.specialist(),
        await factory.health_worker(),
        await factory.coordinator(),
        await admin(factory),
    ]
    for stranger in strangers:
        refused = await questions.ask(stranger.telegram_id, c.case_id, "let me in")
        assert refused == Refusal(RefusalReason.NOT_YOURS)
    assert await questions.ask(123_456_789, c.case_id, "who am I") == Refusal(
        RefusalReason.NOT_YOURS
    )
    assert await questions.ask(c.specialist.telegram_id, 424242, "hello") == Refusal(
        RefusalReason.UNKNOWN_CASE
    )
    assert (await case_row(db, c.case_id)).status == CaseStatus.ACCEPTED
    assert await messages_of(db, c.case_id) == []


async def test_suspended_participant_and_previous_specialist_are_refused(
    questions: QuestionService, factory: Factory, db: Database
) -> None:
    c = await consultation(factory)
    successor = await factory.specialist()
    await set_case(db, c.case_id, specialist_id=successor.id)
    refused = await questions.ask(c.specialist.telegram_id, c.case_id, "still mine?")
    assert refused == Refusal(RefusalReason.NOT_YOURS)
    suspended = await consultation(factory)
    await set_user(db, suspended.health_worker.id, status=Status.SUSPENDED)
    refused = await questions.ask(suspended.health_worker.telegram_id, suspended.case_id, "answer")
    assert refused == Refusal(RefusalReason.NOT_YOURS)


async def test_empty_and_too_long_text_is_refused(
    questions: QuestionService, factory: Factory, db: Database
) -> None:
    c = await consultation(factory)
    assert await questions.ask(c.specialist.telegram_id, c.case_id, " \n ") == Refusal(
        RefusalReason.EMPTY
    )
    assert await questions.ask(c.specialist.telegram_id, c.case_id, "x" * 2001) == Refusal(
        RefusalReason.TOO_LONG
    )
    assert (await case_row(db, c.case_id)).status == CaseStatus.ACCEPTED


async def test_a_file_in_an_answer_is_relayed_once(
    questions: QuestionService, factory: Factory, db: Database
) -> None:
    c = await consultation(factory, status=CaseStatus.AWAITING_INFO)
    file_id = await attachment(db, c.case_id)
    relayed = await questions.attach(c.health_worker.telegram_id, c.case_id, file_id)
    assert isinstance(relayed, Relay)
    assert relayed.attachment_id == file_id
    assert relayed.text is None
    assert relayed.recipient.id == c.specialist.id
    assert relayed.author_role is Role.HEALTH_WORKER
    assert relayed.case.status is CaseStatus.ACCEPTED
    again = await questions.attach(c.health_worker.telegram_id, c.case_id, file_id)
    assert isinstance(again, Refusal)
    assert again.reason is RefusalReason.ALREADY_RELAYED

    other = await consultation(factory)
    foreign = await attachment(db, other.case_id)
    failed = await attachment(db, c.case_id, status="failed")
    for bad in (foreign, failed, 987_654):
        refused = await questions.attach(c.health_worker.telegram_id, c.case_id, bad)
        assert isinstance(refused, Refusal)
        assert refused.reason is RefusalReason.UNKNOWN_ATTACHMENT
    stranger = await factory.health_worker()
    assert await questions.attach(stranger.telegram_id, c.case_id, failed) == Refusal(
        RefusalReason.NOT_YOURS
    )
    assert [m.attachment_id for m in await messages_of(db, c.case_id)] == [file_id]


async def test_thread_in_order_by_role_and_with_access_checks(
    questions: QuestionService, factory: Factory, db: Database, clock: ManualClock
) -> None:
    c = await consultation(factory)
    await questions.ask(c.specialist.telegram_id, c.case_id, "Any fever?")
    clock.advance(timedelta(minutes=5))
    await questions.ask(c.health_worker.telegram_id, c.case_id, "Yes, two days")

    thread = await questions.thread(c.specialist.telegram_id, c.case_id)
    assert isinstance(thread, list)
    assert [(m.author_role, m.text, m.mine) for m in thread] == [
        (Role.SPECIALIST, "Any fever?", True),
        (Role.HEALTH_WORKER, "Yes, two days", False),
    ]
    code = (await case_row(db, c.case_id)).code
    assert all(isinstance(m, MessageView) and m.case_code == code for m in thread)
    fields = set(MessageView.__dataclass_fields__)
    assert not fields & {"author_id", "telegram_id", "author_name"}

    allowed = [
        c.health_worker,
        await factory.coordinator(district="Pune"),
        await admin(factory, district=None),
    ]
    for viewer in allowed:
        seen = await questions.thread(viewer.telegram_id, c.case_id)
        assert isinstance(seen, list)
        assert len(seen) == 2
    denied = [
        await factory.coordinator(district="Nashik"),
        await factory.specialist(),
        await factory.health_worker(),
    ]
    before = await audit_count(db)
    for viewer in denied:
        assert await questions.thread(viewer.telegram_id, c.case_id) == Refusal(
            RefusalReason.NOT_YOURS
        )
    assert await audit_count(db) == before + len(denied)  # refusals are logged too
    assert await questions.thread(c.health_worker.telegram_id, 424242) == Refusal(
        RefusalReason.UNKNOWN_CASE
    )
    async with db.transaction() as session:
        reads = (
            await session.scalars(select(AuditEvent).where(AuditEvent.action == "case.thread"))
        ).all()
    assert len(reads) == 1 + len(allowed)


async def test_answer_racing_the_signature_leaves_a_consistent_case(
    db: Database, clock: ManualClock, factory: Factory
) -> None:
    """The health worker answers while the specialist signs: either order, one outcome."""
    c = await consultation(factory, status=CaseStatus.AWAITING_INFO)
    reports = ReportService(db, clock)
    tid = c.specialist.telegram_id
    await reports.begin(tid, c.case_id)
    for text in ("findings", "impression", "advice"):
        await reports.answer(tid, text)
    await reports.choose(tid, Field.REFERRAL, "none")
    await reports.choose(tid, Field.FOLLOW_UP, "none")
    answer, signed = await asyncio.gather(
        QuestionService(db, clock).ask(c.health_worker.telegram_id, c.case_id, "no fever"),
        ReportService(db, clock).sign(tid),
    )
    assert isinstance(signed, Signed)
    assert (await case_row(db, c.case_id)).status == CaseStatus.REPORTED
    if isinstance(answer, Refusal):
        assert answer.reason is RefusalReason.NOT_OPEN
        assert await messages_of(db, c.case_id) == []
    else:
        assert [m.text for m in await messages_of(db, c.case_id)] == ["no fever"]


async def test_question_text_is_kept_as_written(
    questions: QuestionService, factory: Factory, db: Database
) -> None:
    c = await consultation(factory)
    typed = "  क्या बुखार है?\nTemp?\x00 🙂 "
    asked = await questions.ask(c.specialist.telegram_id, c.case_id, typed)
    assert isinstance(asked, Relay)
    assert asked.text == "क्या बुखार है?\nTemp? 🙂"
    assert [m.text for m in await messages_of(db, c.case_id)] == [asked.text]
    only_controls = await questions.ask(c.specialist.telegram_id, c.case_id, "\x00\x01 ")
    assert only_controls == Refusal(RefusalReason.EMPTY)
