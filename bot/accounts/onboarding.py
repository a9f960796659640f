"""Registration after an invite: language, then the role's questions, then active or pending.

The dialogue is written to the database at every step, so a restart or a day's pause
resumes where the person stopped.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

from sqlalchemy import select, update

from bot.accounts.directory import UserView, user_view
from bot.accounts.invites import InviteProblem, InviteService, InviteView
from bot.clock import Clock
from bot.domain import SPECIALTIES, Role, Status
from bot.storage import audit
from bot.storage.database import Database
from bot.storage.models import Dialogue, Facility, Invite, User

FLOW = "onboarding"


class Step(StrEnum):
    LANGUAGE = "language"
    FULL_NAME = "full_name"
    QUALIFICATION = "qualification"
    REGISTRATION_NUMBER = "registration_number"
    SPECIALTIES = "specialties"
    FACILITY = "facility"
    DISTRICT = "district"


class Problem(StrEnum):
    """Why an answer was not accepted; the handler words it in the person's language."""

    BAD_NAME = "bad_name"
    BAD_QUALIFICATION = "bad_qualification"
    BAD_REGISTRATION = "bad_registration"
    BAD_PLACE = "bad_place"
    NO_SPECIALTY = "no_specialty"
    USE_BUTTONS = "use_buttons"


class AlreadyRegistered(Exception):
    def __init__(self, user: UserView) -> None:
        super().__init__("already registered")
        self.user = user


@dataclass(frozen=True)
class Prompt:
    """The next question to show."""

    step: Step
    language: str | None
    role: Role
    selected: tuple[str, ...] = ()
    problem: Problem | None = None


@dataclass(frozen=True)
class Completed:
    """Registration finished: the user is active at once, or pending approval."""

    user: UserView


@dataclass(frozen=True)
class InviteLost:
    """The invite was used up, revoked or expired while this person was answering."""

    problem: InviteProblem


Outcome = Prompt | Completed | InviteLost


_NAME = re.compile(r"^[^\W\d_][^\d_@#/\\<>{}]{1,99}$")
_REGISTRATION = re.compile(r"^(?=(?:.*\d){3})[A-Za-z0-9][A-Za-z0-9 ./-]{2,29}$")


def questions(role: Role, invite: dict[str, Any]) -> list[Step]:
    """The steps after the language for ``role``, skipping what the invite already says."""
    steps = [Step.FULL_NAME]
    if role is Role.SPECIALIST:
        steps += [Step.QUALIFICATION, Step.REGISTRATION_NUMBER]
        if not invite.get("specialty"):
            steps.append(Step.SPECIALTIES)
    if role is Role.HEALTH_WORKER and not invite.get("facility_id"):
        steps.append(Step.FACILITY)
    if role in (Role.HEALTH_WORKER, Role.COORDINATOR) and not invite.get("district"):
        steps.append(Step.DISTRICT)
    return steps


def validate(step: Step, text: str) -> tuple[str | None, Problem | None]:
    """Normalise an answer, or say what is wrong with it."""
    text = " ".join(text.split())
    checks = {
        Step.FULL_NAME: (_NAME.match(text) is not None, Problem.BAD_NAME),
        Step.QUALIFICATION: (2 <= len(text) <= 100, Problem.BAD_QUALIFICATION),
        Step.REGISTRATION_NUMBER: (_REGISTRATION.match(text) is not None, Problem.BAD_REGISTRATION),
        Step.FACILITY: (2 <= len(text) <= 100, Problem.BAD_PLACE),
        Step.DISTRICT: (_NAME.match(text) is not None, Problem.BAD_PLACE),
    }
    ok, problem = checks.get(step, (False, Problem.USE_BUTTONS))
    if not ok:
        return None, problem
    return (text.upper() if step is Step.REGISTRATION_NUMBER else text), None


class Onboarding:
    def __init__(self, db: Database, clock: Clock, invites: InviteService) -> None:
        self.db = db
        self.clock = clock
        self.invites = invites

    async def begin(self, telegram_id: int, code: str) -> Prompt:
        """Start registering with ``code``; raises ``InviteError`` or ``AlreadyRegistered``."""
        async with self.db.transaction() as session:
            user = await session.scalar(select(User).where(User.telegram_id == telegram_id))
            if user is not None and user.status != Status.REJECTED:
                raise AlreadyRegistered(user_view(user))
        invite = await self.invites.check(code)
        data = {"invite": _invite_data(invite), "answers": {}, "selected": []}
        async with self.db.transaction() as session:
            dialogue = await self._dialogue(session, telegram_id)
            dialogue.flow, dialogue.step, dialogue.data = FLOW, Step.LANGUAGE, data
            return Prompt(Step.LANGUAGE, dialogue.language, invite.role)

    async def current(self, telegram_id: int) -> Prompt | None:
        """The question this person is on, if they are registering."""
        async with self.db.transaction() as session:
            dialogue = await session.get(Dialogue, telegram_id)
            if dialogue is None or dialogue.flow != FLOW or dialogue.step is None:
                return None
            return _prompt(dialogue)

    async def choose_language(self, telegram_id: int, language: str) -> Prompt | None:
        """Record the language; during registration, move on to the first question."""
        async with self.db.transaction() as session:
            dialogue = await self._dialogue(session, telegram_id)
            dialogue.language = language
            if dialogue.flow != FLOW:
                return None
            if dialogue.step == Step.LANGUAGE:
                dialogue.step = self._steps(dialogue)[0]
            return _prompt(dialogue)

    async def answer(self, telegram_id: int, text: str) -> Outcome | None:
        """Take a typed answer to the current question."""
        async with self.db.transaction() as session:
            dialogue = await session.get(Dialogue, telegram_id)
            if dialogue is None or dialogue.flow != FLOW or dialogue.step is None:
                return None
            step = Step(dialogue.step)
            if step in (Step.LANGUAGE, Step.SPECIALTIES):
                return _prompt(dialogue, Problem.USE_BUTTONS)
            value, problem = validate(step, text)
            if problem is not None:
                return _prompt(dialogue, problem)
            dialogue.data = {**dialogue.data, "answers": {**dialogue.data["answers"], step: value}}
            return await self._advance(session, dialogue, telegram_id)

    async def toggle_specialty(self, telegram_id: int, code: str) -> Prompt | None:
        async with self.db.transaction() as session:
            dialogue = await session.get(Dialogue, telegram_id)
            if dialogue is None or dialogue.step != Step.SPECIALTIES or code not in SPECIALTIES:
                return None
            selected = list(dialogue.data.get("selected", []))
            selected.remove(code) if code in selected else selected.append(code)
            dialogue.data = {**dialogue.data, "selected": selected}
            return _prompt(dialogue)

    async def finish_specialties(self, telegram_id: int) -> Outcome | None:
        async with self.db.transaction() as session:
            dialogue = await session.get(Dialogue, telegram_id)
            if dialogue is None or dialogue.step != Step.SPECIALTIES:
                return None
            if not dialogue.data.get("selected"):
                return _prompt(dialogue, Problem.NO_SPECIALTY)
            return await self._advance(session, dialogue, telegram_id)

    async def _advance(self, session: Any, dialogue: Dialogue, telegram_id: int) -> Outcome:
        steps = self._steps(dialogue)
        assert dialogue.step is not None, "only called during registration"
        position = steps.index(Step(dialogue.step))
        if position + 1 < len(steps):
            dialogue.step = steps[position + 1]
            return _prompt(dialogue)
        return await self._complete(session, dialogue, telegram_id)

    async def _complete(self, session: Any, dialogue: Dialogue, telegram_id: int) -> Outcome:
        now = self.clock.now()
        invite: dict[str, Any] = dialogue.data["invite"]
        answers: dict[str, str] = dialogue.data["answers"]
        claimed = await session.execute(
            update(Invite)
            .where(
                Invite.id == invite["id"],
                Invite.uses < Invite.max_uses,
                Invite.revoked.is_(False),
                Invite.expires_at > now,
            )
            .values(uses=Invite.uses + 1)
        )
        if claimed.rowcount != 1:
            dialogue.flow = dialogue.step = None
            return InviteLost(InviteProblem.EXHAUSTED)
        role = Role(invite["role"])
        district = invite.get("district") or answers.get(Step.DISTRICT)
        facility_id = invite.get("facility_id")
        if facility_id is None and answers.get(Step.FACILITY):
            facility = Facility(name=answers[Step.FACILITY], district=district or "")
            session.add(facility)
            await session.flush()
            facility_id = facility.id
        specialties = (
            [invite["specialty"]] if invite.get("specialty") else dialogue.data["selected"]
        )
        bound_health_worker = role is Role.HEALTH_WORKER and invite.get("facility_id") is not None
        active = bool(invite.get("preapproved")) or bound_health_worker
        user = await session.scalar(select(User).where(User.telegram_id == telegram_id))
        if user is None:
            user = User(telegram_id=telegram_id, created_at=now)
            session.add(user)
        user.role = role
        user.status = Status.ACTIVE if active else Status.PENDING
        user.language = dialogue.language or "en"
        user.full_name = answers[Step.FULL_NAME]
        user.qualification = answers.get(Step.QUALIFICATION)
        user.registration_number = answers.get(Step.REGISTRATION_NUMBER)
        user.specialties = specialties if role is Role.SPECIALIST else []
        user.district = district
        user.facility_id = facility_id
        user.invite_id = invite["id"]
        user.decided_at = user.decided_by = None
        dialogue.flow = dialogue.step = None
        dialogue.data = {}
        await session.flush()
        await session.refresh(user, ["facility"])
        audit.record(
            session,
            now,
            "user.register",
            actor=telegram_id,
            subject=f"user:{user.id}",
            role=role.value,
            invite=invite["id"],
            status=user.status,
        )
        return Completed(user_view(user))

    def _steps(self, dialogue: Dialogue) -> list[Step]:
        invite = dialogue.data["invite"]
        return questions(Role(invite["role"]), invite)

    async def _dialogue(self, session: Any, telegram_id: int) -> Dialogue:
        dialogue = await session.get(Dialogue, telegram_id)
        if dialogue is None:
            dialogue = Dialogue(telegram_id=telegram_id, data={}, updated_at=self.clock.now())
            session.add(dialogue)
        dialogue.updated_at = self.clock.now()
        return dialogue


def _prompt(dialogue: Dialogue, problem: Problem | None = None) -> Prompt:
    assert dialogue.step is not None, "only called during registration"
    return Prompt(
        step=Step(dialogue.step),
        language=dialogue.language,
        role=Role(dialogue.data["invite"]["role"]),
        selected=tuple(dialogue.data.get("selected", ())),
        problem=problem,
    )


def _invite_data(invite: InviteView) -> dict[str, Any]:
    return {
        "id": invite.id,
        "role": invite.role.value,
        "district": invite.district,
        "facility_id": invite.facility_id,
        "specialty": invite.specialty,
        "preapproved": invite.preapproved,
    }
