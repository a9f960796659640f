"""The specialist's structured report: written step by step, signed, acknowledged, read.

The report being written is a dialogue (flow ``report``) saved at every answer, so a
restart resumes where the specialist stopped. Signing re-checks everything under the
case lock: only the case's assigned specialist, only while the case is accepted or
awaiting information, only with a registration number (Telemedicine Practice Guidelines
2020), only once. The specialist's free text is kept exactly as written (trimmed).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from typing import Any, Protocol

from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession

from bot.accounts.access import may_see_case
from bot.accounts.directory import UserView, user_view
from bot.cases import states
from bot.cases.refusals import Refusal, RefusalReason, free_text, lock_case
from bot.cases.views import CaseView, case_view
from bot.clock import Clock
from bot.domain import CaseStatus, Referral, Role, Status
from bot.storage import audit
from bot.storage.database import Database
from bot.storage.models import Case, Dialogue, Report, User

FLOW = "report"
MAX_TEXT = 2000
#: Follow-up intervals offered as buttons; ``None`` is "no follow-up".
FOLLOW_UP_CHOICES: dict[str, int | None] = {"none": None, "3": 3, "7": 7, "14": 14, "30": 30}


class Field(StrEnum):
    """The report's questions in order; ``PREVIEW`` once all are answered."""

    FINDINGS = "findings"
    IMPRESSION = "impression"
    ADVICE = "advice"
    REFERRAL = "referral"
    FOLLOW_UP = "follow_up"
    PREVIEW = "preview"


ORDER = (Field.FINDINGS, Field.IMPRESSION, Field.ADVICE, Field.REFERRAL, Field.FOLLOW_UP)
#: Fields answered by typing; the others by buttons.
TYPED = frozenset({Field.FINDINGS, Field.IMPRESSION, Field.ADVICE})


@dataclass(frozen=True)
class ReportView:
    """A signed report as shown to the health worker: no patient identifiers."""

    id: int
    case_id: int
    case_code: str
    findings: str
    impression: str
    advice: str
    referral: Referral
    follow_up_days: int | None
    signed_name: str
    signed_qualification: str | None
    signed_registration: str
    signed_at: datetime
    acknowledged_at: datetime | None

    @property
    def emergency(self) -> bool:
        """An emergency referral: highlighted, and must be acknowledged."""
        return self.referral is Referral.EMERGENCY


@dataclass(frozen=True)
class ReportDraft:
    """The report being written and the signature it will carry."""

    case: CaseView
    findings: str | None
    impression: str | None
    advice: str | None
    referral: Referral | None
    follow_up_days: int | None
    signed_name: str
    signed_qualification: str | None
    signed_registration: str | None
    complete: bool  # every field answered: ready to sign


@dataclass(frozen=True)
class ReportPrompt:
    """The question to show next, with what was wrong with the last answer, if anything.

    ``replaced`` is the code of another case whose unfinished report ``begin`` discarded.
    """

    step: Field
    draft: ReportDraft
    problem: str | None = None
    resumed: bool = False
    replaced: str | None = None

    @property
    def case(self) -> CaseView:
        return self.draft.case


@dataclass(frozen=True)
class Signed:
    report: ReportView
    case: CaseView
    health_worker: UserView


@dataclass(frozen=True)
class Acknowledged:
    case: CaseView
    report: ReportView
    specialist: UserView


def report_view(report: Report, case: Case) -> ReportView:
    return ReportView(
        id=report.id,
        case_id=case.id,
        case_code=case.code,
        findings=report.findings,
        impression=report.impression,
        advice=report.advice,
        referral=Referral(report.referral),
        follow_up_days=report.follow_up_days,
        signed_name=report.signed_name,
        signed_qualification=report.signed_qualification,
        signed_registration=report.signed_registration,
        signed_at=report.signed_at,
        acknowledged_at=report.acknowledged_at,
    )


def _empty_data(case_id: int) -> dict[str, Any]:
    return {
        "case_id": case_id,
        "findings": None,
        "impression": None,
        "advice": None,
        "referral": None,
        "follow_up_days": None,
        "complete": False,
    }


class ReportHooks(Protocol):
    """What must change in the same transaction as a signature or an acknowledgement."""

    async def signed(self, session: AsyncSession, case_id: int) -> None: ...

    async def acknowledged(self, session: AsyncSession, case_id: int) -> None: ...


class ReportService:
    def __init__(self, db: Database, clock: Clock, hooks: ReportHooks | None = None) -> None:
        self.db = db
        self.clock = clock
        self.hooks = hooks

    # ------------------------------------------------------------------ writing

    async def begin(self, specialist_telegram_id: int, case_id: int) -> ReportPrompt | Refusal:
        """Start (or resume) the report on ``case_id``; refused unless it may be signed.

        Under the case lock, so a double tap on "Write report" resumes instead of racing.
        """
        now = self.clock.now()
        async with self.db.transaction() as session:
            await lock_case(session, case_id)
            case = await session.get(Case, case_id, populate_existing=True)
            user = await _user(session, specialist_telegram_id)
            refusal = await self._check_reportable(session, user, case)
            if refusal is not None:
                self._refused(session, "report.begin", specialist_telegram_id, case_id, refusal)
                return refusal
            assert user is not None
            assert case is not None
            dialogue = await session.get(Dialogue, specialist_telegram_id)
            if dialogue is None:
                dialogue = Dialogue(telegram_id=specialist_telegram_id, data={}, updated_at=now)
                session.add(dialogue)
            if dialogue.flow == FLOW and (dialogue.data or {}).get("case_id") == case_id:
                return self._prompt(dialogue, case, user, resumed=True)
            replaced = None
            if dialogue.flow == FLOW and dialogue.data.get("case_id") is not None:
                replaced = await session.scalar(
                    select(Case.code).where(Case.id == dialogue.data["case_id"])
                )
            dialogue.flow, dialogue.step = FLOW, Field.FINDINGS
            dialogue.data = _empty_data(case_id)
            dialogue.updated_at = now
            audit.record(session, now, "report.begin", actor=user.telegram_id, subject=_s(case))
            return self._prompt(dialogue, case, user, replaced=replaced)

    async def current(self, specialist_telegram_id: int) -> ReportPrompt | None:
        """The question the specialist is on, if writing a report (after a restart too)."""
        async with self.db.transaction() as session:
            found = await self._open(session, specialist_telegram_id)
            if found is None:
                return None
            dialogue, case, user = found
            return self._prompt(dialogue, case, user, resumed=True)

    async def answer(self, specialist_telegram_id: int, text: str) -> ReportPrompt | None:
        """Typed text for findings, impression or advice; None if no report is open."""
        async with self.db.transaction() as session:
            found = await self._open(session, specialist_telegram_id)
            if found is None:
                return None
            dialogue, case, user = found
            step = Field(dialogue.step or Field.FINDINGS)
            if step not in TYPED:
                return self._prompt(dialogue, case, user, problem="use_buttons")
            try:
                value = free_text(text, MAX_TEXT)
            except ValueError as exc:
                return self._prompt(dialogue, case, user, problem=str(exc))
            self._set(dialogue, step, step.value, value)
            return self._prompt(dialogue, case, user)

    async def choose(
        self, specialist_telegram_id: int, field: Field | str, value: str
    ) -> ReportPrompt | None:
        """A button for referral or follow-up; None when stale (another step is current)."""
        async with self.db.transaction() as session:
            found = await self._open(session, specialist_telegram_id)
            if found is None:
                return None
            dialogue, case, user = found
            if dialogue.step != field:
                return None
            if field == Field.REFERRAL and value in {r.value for r in Referral}:
                self._set(dialogue, Field.REFERRAL, "referral", value)
            elif field == Field.FOLLOW_UP and value in FOLLOW_UP_CHOICES:
                self._set(dialogue, Field.FOLLOW_UP, "follow_up_days", FOLLOW_UP_CHOICES[value])
            else:
                return None
            return self._prompt(dialogue, case, user)

    async def edit(self, specialist_telegram_id: int, field: Field | str) -> ReportPrompt | None:
        """From the preview, go back to one field; after it the preview comes again."""
        async with self.db.transaction() as session:
            found = await self._open(session, specialist_telegram_id)
            if found is None or field not in ORDER:
                return None
            dialogue, case, user = found
            if dialogue.step != Field.PREVIEW:
                return None
            dialogue.step = Field(field)
            dialogue.updated_at = self.clock.now()
            return self._prompt(dialogue, case, user)

    async def preview(self, specialist_telegram_id: int) -> ReportDraft | None:
        """Everything to show before signing; None if no report is open."""
        async with self.db.transaction() as session:
            found = await self._open(session, specialist_telegram_id)
            if found is None:
                return None
            dialogue, case, user = found
            return _draft(dialogue, case, user)

    async def discard(self, specialist_telegram_id: int) -> CaseView | None:
        """Drop the report being written; the case is unchanged. None if there was none."""
        async with self.db.transaction() as session:
            dialogue = await session.get(Dialogue, specialist_telegram_id)
            if dialogue is None or dialogue.flow != FLOW:
                return None
            case = await session.get(Case, (dialogue.data or {}).get("case_id", -1))
            _clear(dialogue, self.clock.now())
            audit.record(
                session,
                self.clock.now(),
                "report.discard",
                actor=specialist_telegram_id,
                subject=_s(case) if case else None,
            )
            return case_view(case) if case else None

    async def sign(self, specialist_telegram_id: int) -> Signed | Refusal:
        """Sign the finished report: the Report row, the case REPORTED, audit events."""
        now = self.clock.now()
        async with self.db.transaction() as session:
            dialogue = await session.get(Dialogue, specialist_telegram_id)
            if dialogue is None or dialogue.flow != FLOW:
                return Refusal(RefusalReason.NO_DRAFT)
            data = dict(dialogue.data or {})
            case_id = int(data.get("case_id", -1))
            await lock_case(session, case_id)
            case = await session.get(Case, case_id, populate_existing=True)
            user = await _user(session, specialist_telegram_id)
            refusal = await self._check_reportable(session, user, case)
            if refusal is not None:
                self._refused(session, "report.sign", specialist_telegram_id, case_id, refusal)
                if refusal.reason is not RefusalReason.NO_REGISTRATION:
                    _clear(dialogue, now)  # stale for good: nobody may sign it any more
                return refusal
            assert user is not None
            assert case is not None
            if dialogue.step != Field.PREVIEW:
                return Refusal(RefusalReason.INCOMPLETE, case.code)
            states.check(case.status, CaseStatus.REPORTED)
            moved = await session.execute(
                update(Case)
                .where(
                    Case.id == case.id,
                    Case.specialist_id == user.id,
                    Case.status.in_(states.OPEN_FOR_SPECIALIST),
                )
                .values(status=CaseStatus.REPORTED, reported_at=now, updated_at=now)
                .execution_options(synchronize_session=False)
            )
            if moved.rowcount != 1:  # type: ignore[attr-defined]  # locked: cannot happen
                return Refusal(RefusalReason.NOT_OPEN, case.code)
            report = Report(
                case_id=case.id,
                specialist_id=user.id,
                findings=data["findings"],
                impression=data["impression"],
                advice=data["advice"],
                referral=Referral(data["referral"]).value,
                follow_up_days=data.get("follow_up_days"),
                signed_name=user.full_name,
                signed_qualification=user.qualification,
                signed_registration=user.registration_number or "",
                signed_at=now,
            )
            session.add(report)
            _clear(dialogue, now)
            await session.flush()
            await session.refresh(case)
            if self.hooks is not None:
                await self.hooks.signed(session, case.id)
            worker = await session.get(User, case.health_worker_id)
            assert worker is not None
            audit.record(
                session,
                now,
                "report.sign",
                actor=specialist_telegram_id,
                subject=_s(case),
                report=report.id,
            )
            audit.record(
                session,
                now,
                "case.reported",
                actor=specialist_telegram_id,
                subject=_s(case),
            )
            return Signed(report_view(report, case), case_view(case), user_view(worker))

    # ------------------------------------------------------------------ after signing

    async def acknowledge(
        self, health_worker_telegram_id: int, case_id: int
    ) -> Acknowledged | Refusal:
        """The health worker confirms they received the report; once."""
        now = self.clock.now()
        async with self.db.transaction() as session:
            if not await lock_case(session, case_id):
                return Refusal(RefusalReason.UNKNOWN_CASE)
            case = await session.get(Case, case_id, populate_existing=True)
            assert case is not None
            user = await _user(session, health_worker_telegram_id)
            refusal: Refusal | None = None
            report = await _report_of(session, case.id)
            if user is None or user.id != case.health_worker_id:
                refusal = Refusal(RefusalReason.NOT_YOURS)
            elif report is None:
                refusal = Refusal(RefusalReason.NOT_REPORTED, case.code)
            elif report.acknowledged_at is not None or case.status == CaseStatus.ACKNOWLEDGED:
                refusal = Refusal(RefusalReason.ALREADY_ACKNOWLEDGED, case.code)
            elif case.status != CaseStatus.REPORTED:
                refusal = Refusal(RefusalReason.NOT_OPEN, case.code)
            if refusal is not None:
                self._refused(
                    session, "report.acknowledge", health_worker_telegram_id, case_id, refusal
                )
                return refusal
            assert report is not None
            states.check(case.status, CaseStatus.ACKNOWLEDGED)
            moved = await session.execute(
                update(Case)
                .where(Case.id == case.id, Case.status == CaseStatus.REPORTED)
                .values(status=CaseStatus.ACKNOWLEDGED, acknowledged_at=now, updated_at=now)
                .execution_options(synchronize_session=False)
            )
            if moved.rowcount != 1:  # type: ignore[attr-defined]  # locked: cannot happen
                return Refusal(RefusalReason.ALREADY_ACKNOWLEDGED, case.code)
            await session.execute(
                update(Report)
                .where(Report.id == report.id, Report.acknowledged_at.is_(None))
                .values(acknowledged_at=now)
                .execution_options(synchronize_session=False)
            )
            await session.refresh(case)
            await session.refresh(report)
            if self.hooks is not None:
                await self.hooks.acknowledged(session, case.id)
            specialist = await session.get(User, report.specialist_id)
            assert specialist is not None
            audit.record(
                session,
                now,
                "report.acknowledge",
                actor=health_worker_telegram_id,
                subject=_s(case),
            )
            return Acknowledged(case_view(case), report_view(report, case), user_view(specialist))

    async def report_for(self, viewer_telegram_id: int, case_id: int) -> ReportView | Refusal:
        """The signed report, for the case's health worker, its specialist, a coordinator of
        its district or an admin; every read is audited."""
        now = self.clock.now()
        async with self.db.transaction() as session:
            case = await session.get(Case, case_id)
            if case is None:
                return Refusal(RefusalReason.UNKNOWN_CASE)
            user = await _user(session, viewer_telegram_id)
            report = await _report_of(session, case.id)
            if user is None or not may_see_case(
                user, case, specialist_id=report.specialist_id if report else None
            ):
                refusal = Refusal(RefusalReason.NOT_YOURS)
                self._refused(session, "report.read", viewer_telegram_id, case_id, refusal)
                return refusal
            if report is None:
                return Refusal(RefusalReason.NOT_REPORTED, case.code)
            audit.record(session, now, "report.read", actor=viewer_telegram_id, subject=_s(case))
            return report_view(report, case)

    # ------------------------------------------------------------------ internals

    @staticmethod
    async def _check_reportable(
        session: AsyncSession, user: User | None, case: Case | None
    ) -> Refusal | None:
        if case is None:
            return Refusal(RefusalReason.UNKNOWN_CASE)
        if user is None or user.role != Role.SPECIALIST or user.id != case.specialist_id:
            return Refusal(RefusalReason.NOT_YOURS)
        if await _report_of(session, case.id) is not None:
            return Refusal(RefusalReason.ALREADY_REPORTED, case.code)
        if case.status not in states.OPEN_FOR_SPECIALIST:
            return Refusal(RefusalReason.NOT_OPEN, case.code)
        if not (user.registration_number or "").strip():
            return Refusal(RefusalReason.NO_REGISTRATION, case.code)
        return None

    async def _open(
        self, session: AsyncSession, telegram_id: int
    ) -> tuple[Dialogue, Case, User] | None:
        """The open report dialogue with its case and author, or None."""
        dialogue = await session.get(Dialogue, telegram_id)
        if dialogue is None or dialogue.flow != FLOW:
            return None
        case = await session.get(Case, (dialogue.data or {}).get("case_id", -1))
        user = await _user(session, telegram_id)
        if case is None or user is None:
            return None
        return dialogue, case, user

    def _set(self, dialogue: Dialogue, step: Field, key: str, value: Any) -> None:
        """Store one answer and move on: to the next field, or back to the preview."""
        data = {**dialogue.data, key: value}
        position = ORDER.index(step)
        if data.get("complete") or position + 1 == len(ORDER):
            data["complete"] = True
            dialogue.step = Field.PREVIEW
        else:
            dialogue.step = ORDER[position + 1]
        dialogue.data = data
        dialogue.updated_at = self.clock.now()

    def _prompt(
        self,
        dialogue: Dialogue,
        case: Case,
        user: User,
        *,
        problem: str | None = None,
        resumed: bool = False,
        replaced: str | None = None,
    ) -> ReportPrompt:
        return ReportPrompt(
            step=Field(dialogue.step or Field.FINDINGS),
            draft=_draft(dialogue, case, user),
            problem=problem,
            resumed=resumed,
            replaced=replaced,
        )

    def _refused(
        self, session: AsyncSession, action: str, actor: int, case_id: int, refusal: Refusal
    ) -> None:
        audit.record(
            session,
            self.clock.now(),
            f"{action}.refused",
            actor=actor,
            subject=f"case:{case_id}",
            reason=refusal.reason.value,
        )


def _draft(dialogue: Dialogue, case: Case, user: User) -> ReportDraft:
    data = dialogue.data or {}
    return ReportDraft(
        case=case_view(case),
        findings=data.get("findings"),
        impression=data.get("impression"),
        advice=data.get("advice"),
        referral=Referral(data["referral"]) if data.get("referral") else None,
        follow_up_days=data.get("follow_up_days"),
        signed_name=user.full_name,
        signed_qualification=user.qualification,
        signed_registration=user.registration_number,
        complete=dialogue.step == Field.PREVIEW,
    )


def _clear(dialogue: Dialogue, now: datetime) -> None:
    """End the report flow; the row stays (it also holds the chosen language)."""
    dialogue.flow = dialogue.step = None
    dialogue.data = {}
    dialogue.updated_at = now


async def _user(session: AsyncSession, telegram_id: int) -> User | None:
    """The active user with this Telegram id, or None."""
    user = await session.scalar(select(User).where(User.telegram_id == telegram_id))
    return user if user is not None and user.status == Status.ACTIVE else None


async def _report_of(session: AsyncSession, case_id: int) -> Report | None:
    return await session.scalar(select(Report).where(Report.case_id == case_id))


def _s(case: Case) -> str:
    return f"case:{case.id}"
