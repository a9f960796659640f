"""Fixtures for the case services: a database, a recording notifier, row factories."""

from __future__ import annotations

import itertools
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Any

import pytest

from bot.accounts.directory import UserView, user_view
from bot.cases.codes import new_code
from bot.cases.ports import EscalationReason, MessageRef, WithdrawReason
from bot.cases.views import CaseView
from bot.clock import ManualClock
from bot.config import Settings
from bot.domain import CaseStatus, Role, Status
from bot.storage.database import Database
from bot.storage.models import Case, User

_ids = itertools.count(1000)


@dataclass
class FakeNotifier:
    """A ``CaseNotifier`` that records every call and hands out message refs."""

    calls: list[tuple[str, Any]] = field(default_factory=list)
    undeliverable: set[int] = field(default_factory=set)  # telegram ids that never get offers
    _message_ids: itertools.count[int] = field(default_factory=lambda: itertools.count(1))

    async def offer(self, case: CaseView, specialist: UserView) -> MessageRef | None:
        self.calls.append(("offer", (case.id, specialist.id)))
        if specialist.telegram_id in self.undeliverable:
            return None
        return MessageRef(specialist.telegram_id, next(self._message_ids))

    async def offer_withdrawn(
        self, case: CaseView, specialist: UserView, ref: MessageRef, reason: WithdrawReason
    ) -> None:
        self.calls.append(("withdrawn", (case.id, specialist.id, ref, reason)))

    async def case_accepted(
        self, case: CaseView, specialist: UserView, health_worker: UserView
    ) -> None:
        self.calls.append(("accepted", (case.id, specialist.id, health_worker.id)))

    async def escalated(
        self, case: CaseView, coordinators: list[UserView], reason: EscalationReason
    ) -> None:
        self.calls.append(("escalated", (case.id, tuple(c.id for c in coordinators), reason)))

    async def nobody_on_call(self, case: CaseView, health_worker: UserView) -> None:
        self.calls.append(("nobody_on_call", (case.id, health_worker.id)))

    def of(self, kind: str) -> list[Any]:
        return [args for name, args in self.calls if name == kind]


@pytest.fixture
async def db(settings: Settings) -> AsyncIterator[Database]:
    settings.data_dir.mkdir(parents=True, exist_ok=True)
    database = Database(settings.effective_database_url)
    await database.prepare()
    yield database
    await database.dispose()


@pytest.fixture
def notifier() -> FakeNotifier:
    return FakeNotifier()


class Factory:
    """Creates users and cases directly in the database."""

    def __init__(self, db: Database, clock: ManualClock) -> None:
        self.db = db
        self.clock = clock

    async def user(
        self,
        role: Role,
        *,
        name: str | None = None,
        language: str = "en",
        specialties: tuple[str, ...] = (),
        district: str | None = "Pune",
        status: Status = Status.ACTIVE,
        reachable: bool = True,
    ) -> UserView:
        telegram_id = next(_ids)
        async with self.db.transaction() as session:
            user = User(
                telegram_id=telegram_id,
                role=role,
                status=status,
                language=language,
                full_name=name or f"{role} {telegram_id}",
                specialties=list(specialties),
                district=district,
                reachable=reachable,
                created_at=self.clock.now(),
                registration_number="MMC-1" if role == Role.SPECIALIST else None,
            )
            session.add(user)
            await session.flush()
            await session.refresh(user)
            return user_view(user)

    async def specialist(self, specialty: str = "radiology", **kw: Any) -> UserView:
        return await self.user(Role.SPECIALIST, specialties=(specialty,), **kw)

    async def health_worker(self, **kw: Any) -> UserView:
        return await self.user(Role.HEALTH_WORKER, **kw)

    async def coordinator(self, **kw: Any) -> UserView:
        return await self.user(Role.COORDINATOR, **kw)

    async def case(
        self,
        health_worker: UserView,
        *,
        specialty: str = "radiology",
        urgency: str = "routine",
        status: CaseStatus = CaseStatus.SUBMITTED,
        district: str | None = "Pune",
    ) -> int:
        now = self.clock.now()
        async with self.db.transaction() as session:
            case = Case(
                code=new_code(),
                status=status,
                health_worker_id=health_worker.id,
                district=district,
                specialty=specialty,
                urgency=urgency,
                age_value=42,
                age_unit="y",
                sex="f",
                complaint="cough for three weeks",
                vitals={},
                created_at=now,
                updated_at=now,
                submitted_at=now,
            )
            session.add(case)
            await session.flush()
            return case.id


@pytest.fixture
def factory(db: Database, clock: ManualClock) -> Factory:
    return Factory(db, clock)
