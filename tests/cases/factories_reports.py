"""Row factories for reports and questions, on top of ``tests.cases.conftest.Factory``."""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import func, select, update

from bot.accounts.directory import UserView
from bot.domain import CaseStatus, Role
from bot.storage.database import Database
from bot.storage.models import Attachment, AuditEvent, Case, CaseMessage, Report, User
from tests.cases.conftest import Factory


@dataclass(frozen=True)
class Consultation:
    """A case accepted by a specialist, with the people around it."""

    case_id: int
    health_worker: UserView
    specialist: UserView


async def consultation(
    factory: Factory,
    *,
    status: CaseStatus = CaseStatus.ACCEPTED,
    registration: str | None = "MMC-2015-12345",
    qualification: str | None = "MD (Radiodiagnosis)",
    name: str = "Dr Asha Kulkarni",
    district: str = "Pune",
) -> Consultation:
    """A case in ``status`` assigned to a fresh specialist with the given credentials."""
    worker = await factory.health_worker(district=district)
    specialist = await factory.specialist(name=name)
    async with factory.db.transaction() as session:
        await session.execute(
            update(User)
            .where(User.id == specialist.id)
            .values(registration_number=registration, qualification=qualification)
        )
    case_id = await factory.case(worker, status=status, district=district)
    await set_case(factory.db, case_id, specialist_id=specialist.id, status=status)
    return Consultation(case_id, worker, specialist)


async def set_case(db: Database, case_id: int, **values: object) -> None:
    async with db.transaction() as session:
        await session.execute(update(Case).where(Case.id == case_id).values(**values))


async def set_user(db: Database, user_id: int, **values: object) -> None:
    async with db.transaction() as session:
        await session.execute(update(User).where(User.id == user_id).values(**values))


async def case_row(db: Database, case_id: int) -> Case:
    async with db.transaction() as session:
        case = await session.get(Case, case_id)
        assert case is not None
        return case


async def reports_of(db: Database, case_id: int) -> list[Report]:
    async with db.transaction() as session:
        return list(await session.scalars(select(Report).where(Report.case_id == case_id)))


async def messages_of(db: Database, case_id: int) -> list[CaseMessage]:
    async with db.transaction() as session:
        return list(
            await session.scalars(
                select(CaseMessage).where(CaseMessage.case_id == case_id).order_by(CaseMessage.id)
            )
        )


async def audit_actions(db: Database) -> list[str]:
    async with db.transaction() as session:
        return list(await session.scalars(select(AuditEvent.action).order_by(AuditEvent.id)))


async def audit_count(db: Database) -> int:
    async with db.transaction() as session:
        return int(await session.scalar(select(func.count()).select_from(AuditEvent)) or 0)


async def attachment(db: Database, case_id: int, *, status: str = "ready") -> int:
    """A stored file of the case, as ``AttachmentService`` leaves it."""
    async with db.transaction() as session:
        row = Attachment(
            case_id=case_id,
            kind="photo",
            status=status,
            meta={},
            created_at=(await session.get(Case, case_id)).created_at,  # type: ignore[union-attr]
        )
        session.add(row)
        await session.flush()
        return row.id


async def admin(factory: Factory, **kw: object) -> UserView:
    return await factory.user(Role.ADMIN, **kw)  # type: ignore[arg-type]
