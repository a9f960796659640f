"""The health worker's case form: one question at a time, saved at every answer.

A draft is a ``cases`` row in status ``draft`` with ``draft_step`` saying where the health
worker stopped, so a restart, a lost signal or a day's pause resumes there. Patient
identifiers (name, phone, ABHA) are encrypted before they reach the database and are
never shown again in any chat.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

from sqlalchemy import func, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from bot.accounts.directory import Directory, UserView
from bot.cases import answers, states
from bot.cases.codes import new_code
from bot.cases.escalation import ROUTE, Timers
from bot.cases.views import CaseView, case_view
from bot.clock import Clock
from bot.domain import SPECIALTIES, CaseStatus, Role, Urgency
from bot.security.fields import FieldCipher
from bot.storage import audit
from bot.storage.database import Database
from bot.storage.models import Attachment, Case, User

MAX_COMPLAINT = 500
MAX_HISTORY = 3000


class Step(StrEnum):
    AGE = "age"
    SEX = "sex"
    IDENTIFIERS = "identifiers"
    NAME = "name"
    PHONE = "phone"
    ABHA = "abha"
    COMPLAINT = "complaint"
    HISTORY = "history"
    VITALS = "vitals"
    TEMPERATURE = "temperature"
    PULSE = "pulse"
    BLOOD_PRESSURE = "blood_pressure"
    SPO2 = "spo2"
    SPECIALTY = "specialty"
    URGENCY = "urgency"
    ATTACHMENTS = "attachments"
    REVIEW = "review"
    CONSENT = "consent"


ORDER = list(Step)
#: Optional groups: choosing "skip" on the first step jumps past the whole group.
GROUPS = {
    Step.IDENTIFIERS: [Step.NAME, Step.PHONE, Step.ABHA],
    Step.VITALS: [Step.TEMPERATURE, Step.PULSE, Step.BLOOD_PRESSURE, Step.SPO2],
}
#: Steps that may be left out with a "Skip" button.
SKIPPABLE = frozenset(
    {
        Step.NAME,
        Step.PHONE,
        Step.ABHA,
        Step.HISTORY,
        Step.TEMPERATURE,
        Step.PULSE,
        Step.BLOOD_PRESSURE,
        Step.SPO2,
    }
)
#: Steps answered by typing (the rest by buttons, or files).
TYPED = frozenset(
    {
        Step.AGE,
        Step.NAME,
        Step.PHONE,
        Step.ABHA,
        Step.COMPLAINT,
        Step.HISTORY,
        Step.TEMPERATURE,
        Step.PULSE,
        Step.BLOOD_PRESSURE,
        Step.SPO2,
    }
)
SEXES = ("female", "male", "other")
#: Buttons that only move on: history and attachments "done", review "looks right".
CONTINUE = frozenset({(Step.HISTORY, "done"), (Step.ATTACHMENTS, "done"), (Step.REVIEW, "ok")})
CONSENTS = ("patient", "guardian")
VITAL_PARSERS: dict[Step, Any] = {
    Step.TEMPERATURE: answers.parse_temperature,
    Step.PULSE: answers.parse_pulse,
    Step.BLOOD_PRESSURE: answers.parse_blood_pressure,
    Step.SPO2: answers.parse_spo2,
}
IDENTIFIER_PARSERS: dict[Step, tuple[str, Any]] = {
    Step.NAME: ("name", lambda text: answers.clean_text(text, 100)),
    Step.PHONE: ("phone", answers.parse_phone),
    Step.ABHA: ("abha", answers.parse_abha),
}


@dataclass(frozen=True)
class DraftPrompt:
    """The question to show next (with what was wrong with the last answer, if anything)."""

    step: Step
    case: CaseView
    problem: str | None = None
    attachments: int = 0
    identifiers: tuple[str, ...] = ()
    minor: bool = False
    collected: bool = False  # a history message was added; the question stays open


@dataclass(frozen=True)
class ExistingDraft:
    """``/new`` while a draft is open: continue it or start again."""

    case: CaseView
    step: Step


@dataclass(frozen=True)
class Submitted:
    case: CaseView


@dataclass(frozen=True)
class DraftState:
    """Everything the handler needs about an open draft."""

    case_id: int
    code: str
    step: Step
    extra: dict[str, Any] = field(default_factory=dict)


class NotAHealthWorker(Exception):
    """Only active health workers submit cases."""


class DraftService:
    def __init__(self, db: Database, clock: Clock, directory: Directory, fields: FieldCipher):
        self.db = db
        self.clock = clock
        self.directory = directory
        self.fields = fields

    # ------------------------------------------------------------------ lifecycle

    async def start(self, telegram_id: int) -> DraftPrompt | ExistingDraft:
        """Open a new draft, or report the one already open."""
        worker = await self._worker(telegram_id)
        async with self.db.transaction() as session:
            draft = await self._open_draft(session, worker.id)
            if draft is not None:
                return ExistingDraft(case_view(draft), Step(draft.draft_step or Step.AGE))
            draft = await self._create(session, worker)
            return await self._prompt(session, draft)

    async def restart(self, telegram_id: int) -> DraftPrompt:
        """Discard the open draft (if any) and start a new one."""
        worker = await self._worker(telegram_id)
        async with self.db.transaction() as session:
            old = await self._open_draft(session, worker.id)
            if old is not None:
                self._move(old, CaseStatus.CANCELLED)
                audit.record(
                    session,
                    self.clock.now(),
                    "case.discard",
                    actor=telegram_id,
                    subject=f"case:{old.id}",
                )
            draft = await self._create(session, worker)
            return await self._prompt(session, draft)

    async def resume(self, telegram_id: int) -> DraftPrompt | None:
        """The open draft's current question."""
        async with self.db.transaction() as session:
            draft = await self._draft_of(session, telegram_id)
            return await self._prompt(session, draft) if draft else None

    async def cancel(self, telegram_id: int) -> CaseView | None:
        """Discard the open draft; None if there was none."""
        async with self.db.transaction() as session:
            draft = await self._draft_of(session, telegram_id)
            if draft is None:
                return None
            self._move(draft, CaseStatus.CANCELLED)
            audit.record(
                session,
                self.clock.now(),
                "case.discard",
                actor=telegram_id,
                subject=f"case:{draft.id}",
            )
            return case_view(draft)

    async def state(self, telegram_id: int) -> DraftState | None:
        """The open draft's id, code and step (for attachments and routing of messages)."""
        async with self.db.transaction() as session:
            draft = await self._draft_of(session, telegram_id)
            if draft is None:
                return None
            return DraftState(draft.id, draft.code, Step(draft.draft_step or Step.AGE))

    # ------------------------------------------------------------------ answers

    async def answer(self, telegram_id: int, text: str) -> DraftPrompt | None:
        """A typed answer to the current question; None if no draft is open."""
        async with self.db.transaction() as session:
            draft = await self._draft_of(session, telegram_id)
            if draft is None:
                return None
            step = Step(draft.draft_step or Step.AGE)
            if step not in TYPED:
                return await self._prompt(session, draft, "use_buttons")
            try:
                self._apply_text(draft, step, text)
            except ValueError as exc:
                return await self._prompt(session, draft, str(exc))
            if step is not Step.HISTORY:  # history collects several messages until "Done"
                self._advance(draft, step)
            draft.updated_at = self.clock.now()
            return await self._prompt(session, draft, collected=step is Step.HISTORY)

    async def choose(self, telegram_id: int, step: Step, value: str) -> DraftPrompt | None:
        """A button for ``step``; None when the button is stale (another step is current)."""
        async with self.db.transaction() as session:
            draft = await self._draft_of(session, telegram_id)
            if draft is None or draft.draft_step != step:
                return None
            problem = self._apply_choice(draft, step, value)
            if problem == "stale":
                return None
            if problem is None and step is not Step.CONSENT:
                draft.updated_at = self.clock.now()
            return await self._prompt(session, draft, problem)

    async def note_voice(self, telegram_id: int) -> None:
        """A voice note became part of the history (the attachment is stored separately)."""
        async with self.db.transaction() as session:
            draft = await self._draft_of(session, telegram_id)
            if draft is not None and draft.draft_step == Step.HISTORY:
                draft.updated_at = self.clock.now()

    async def submit(self, telegram_id: int, consent_by: str) -> Submitted | DraftPrompt | None:
        """Record consent and submit: the case gets its status and the health worker its code."""
        now = self.clock.now()
        async with self.db.transaction() as session:
            draft = await self._draft_of(session, telegram_id)
            if draft is None or draft.draft_step != Step.CONSENT:
                return None
            age = answers.Age(draft.age_value or 0, draft.age_unit or "y")
            if consent_by not in CONSENTS or (age.is_minor and consent_by != "guardian"):
                return await self._prompt(session, draft, "guardian_needed")
            won = await session.execute(
                update(Case)
                .where(Case.id == draft.id, Case.status == CaseStatus.DRAFT)
                .values(
                    status=CaseStatus.SUBMITTED,
                    draft_step=None,
                    consent_by=consent_by,
                    consent_at=now,
                    submitted_at=now,
                    updated_at=now,
                )
            )
            if won.rowcount != 1:  # type: ignore[attr-defined]
                return None
            await session.refresh(draft)
            # Durable hand-over to routing: if the process dies before ``route`` runs,
            # the escalator routes the case; ``route`` cancels this timer when it runs.
            Timers.add(session, ROUTE, draft.id, now)
            audit.record(
                session,
                now,
                "case.submit",
                actor=telegram_id,
                subject=f"case:{draft.id}",
                consent_by=consent_by,
            )
            return Submitted(case_view(draft))

    # ------------------------------------------------------------------ internals

    async def _worker(self, telegram_id: int) -> UserView:
        user = await self.directory.by_telegram(telegram_id)
        if user is None or not user.is_active or user.role is not Role.HEALTH_WORKER:
            raise NotAHealthWorker
        return user

    async def _create(self, session: AsyncSession, worker: UserView) -> Case:
        now = self.clock.now()
        while True:
            code = new_code()
            if not await session.scalar(select(Case.id).where(Case.code == code)):
                break
        draft = Case(
            code=code,
            status=CaseStatus.DRAFT,
            draft_step=Step.AGE,
            health_worker_id=worker.id,
            district=worker.district,
            facility_id=worker.facility_id,
            vitals={},
            created_at=now,
            updated_at=now,
        )
        session.add(draft)
        await session.flush()
        audit.record(session, now, "case.draft", actor=None, subject=f"case:{draft.id}")
        return draft

    async def _open_draft(self, session: AsyncSession, worker_id: int) -> Case | None:
        return await session.scalar(
            select(Case)
            .where(Case.health_worker_id == worker_id, Case.status == CaseStatus.DRAFT)
            .order_by(Case.id.desc())
            .limit(1)
        )

    async def _draft_of(self, session: AsyncSession, telegram_id: int) -> Case | None:
        worker_id = await session.scalar(select(User.id).where(User.telegram_id == telegram_id))
        return await self._open_draft(session, worker_id) if worker_id else None

    def _move(self, case: Case, target: CaseStatus) -> None:
        states.check(case.status, target)
        case.status = target
        case.draft_step = None
        case.updated_at = self.clock.now()

    def _advance(self, draft: Case, step: Step, *, skip_group: bool = False) -> None:
        following = ORDER[ORDER.index(step) + 1 :]
        if skip_group:
            following = [s for s in following if s not in GROUPS.get(step, [])]
        draft.draft_step = following[0] if following else Step.CONSENT

    def _apply_text(self, draft: Case, step: Step, text: str) -> None:
        if step is Step.AGE:
            age = answers.parse_age(text)
            draft.age_value, draft.age_unit = age.value, age.unit
        elif step in IDENTIFIER_PARSERS:
            column, parse = IDENTIFIER_PARSERS[step]
            value = parse(text)
            token = self.fields.encrypt(
                value, purpose=f"case.patient_{column}", context=draft.code.encode()
            )
            setattr(draft, f"patient_{column}_enc", token)
        elif step is Step.COMPLAINT:
            draft.complaint = answers.clean_text(text, MAX_COMPLAINT)
        elif step is Step.HISTORY:
            added = answers.clean_text(text, MAX_HISTORY)
            combined = f"{draft.history}\n{added}" if draft.history else added
            if len(combined) > MAX_HISTORY:
                raise ValueError("too_long")
            draft.history = combined
        elif step in VITAL_PARSERS:
            draft.vitals = {**(draft.vitals or {}), step.value: VITAL_PARSERS[step](text)}

    def _apply_choice(self, draft: Case, step: Step, value: str) -> str | None:
        """Apply a button; returns a problem code, ``"stale"`` for nonsense, or None."""
        if value == "skip" and step in SKIPPABLE | GROUPS.keys():
            self._advance(draft, step, skip_group=step in GROUPS)
        elif value == "add" and step in GROUPS:
            self._advance(draft, step)
        elif step is Step.SEX and value in SEXES:
            draft.sex = value
            self._advance(draft, step)
        elif (step, value) in CONTINUE:
            self._advance(draft, step)
        elif step is Step.SPECIALTY and value in SPECIALTIES:
            draft.specialty = value
            self._advance(draft, step)
        elif step is Step.URGENCY and value in {u.value for u in Urgency}:
            draft.urgency = value
            self._advance(draft, step)
        elif step is Step.CONSENT and value == "no":
            return "consent_needed"
        else:
            return "stale"
        return None

    async def _prompt(
        self,
        session: AsyncSession,
        draft: Case,
        problem: str | None = None,
        *,
        collected: bool = False,
    ) -> DraftPrompt:
        count = await session.scalar(
            select(func.count())
            .select_from(Attachment)
            .where(Attachment.case_id == draft.id, Attachment.status == "ready")
        )
        identifiers = tuple(
            name for name in ("name", "phone", "abha") if getattr(draft, f"patient_{name}_enc")
        )
        minor = answers.Age(draft.age_value or 0, draft.age_unit or "y").is_minor
        return DraftPrompt(
            step=Step(draft.draft_step or Step.AGE),
            case=case_view(draft),
            problem=problem,
            attachments=int(count or 0),
            identifiers=identifiers,
            minor=minor,
            collected=collected,
        )
