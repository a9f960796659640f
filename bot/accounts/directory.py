"""Who is who: registered people, their language, and approval decisions."""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

from sqlalchemy import or_, select, update

from bot.clock import Clock
from bot.domain import APPROVERS, Role, Status
from bot.storage import audit
from bot.storage.database import Database
from bot.storage.models import Dialogue, User


@dataclass(frozen=True)
class UserView:
    id: int
    telegram_id: int
    role: Role
    status: Status
    language: str
    full_name: str
    qualification: str | None
    registration_number: str | None
    specialties: tuple[str, ...]
    district: str | None
    facility_name: str | None
    facility_id: int | None = None
    reachable: bool = True

    @property
    def is_active(self) -> bool:
        return self.status is Status.ACTIVE

    @property
    def can_approve(self) -> bool:
        return self.is_active and self.role in APPROVERS


def user_view(user: User) -> UserView:
    return UserView(
        id=user.id,
        telegram_id=user.telegram_id,
        role=Role(user.role),
        status=Status(user.status),
        language=user.language,
        full_name=user.full_name,
        qualification=user.qualification,
        registration_number=user.registration_number,
        specialties=tuple(user.specialties or ()),
        district=user.district,
        facility_name=user.facility.name if user.facility else None,
        facility_id=user.facility_id,
        reachable=user.reachable,
    )


class Outcome(StrEnum):
    APPROVED = "approved"
    REJECTED = "rejected"
    ALREADY_DECIDED = "already_decided"
    NOT_ALLOWED = "not_allowed"
    UNKNOWN_USER = "unknown_user"


@dataclass(frozen=True)
class Decision:
    outcome: Outcome
    applicant: UserView | None = None


class Directory:
    def __init__(self, db: Database, clock: Clock) -> None:
        self.db = db
        self.clock = clock

    async def by_telegram(self, telegram_id: int) -> UserView | None:
        async with self.db.transaction() as session:
            user = await session.scalar(select(User).where(User.telegram_id == telegram_id))
            return user_view(user) if user else None

    async def by_id(self, user_id: int) -> UserView | None:
        async with self.db.transaction() as session:
            user = await session.get(User, user_id)
            return user_view(user) if user else None

    async def language_of(self, telegram_id: int) -> str | None:
        """The language this person chose, registered or not; None if never asked."""
        async with self.db.transaction() as session:
            language = await session.scalar(
                select(User.language).where(User.telegram_id == telegram_id)
            )
            if language:
                return language
            return await session.scalar(
                select(Dialogue.language).where(Dialogue.telegram_id == telegram_id)
            )

    async def set_language(self, telegram_id: int, language: str) -> None:
        """Remember ``language`` for a registered user or a visitor."""
        now = self.clock.now()
        async with self.db.transaction() as session:
            user = await session.scalar(select(User).where(User.telegram_id == telegram_id))
            if user is not None:
                user.language = language
            dialogue = await session.get(Dialogue, telegram_id)
            if dialogue is None:
                session.add(Dialogue(telegram_id=telegram_id, language=language, updated_at=now))
            else:
                dialogue.language = language
                dialogue.updated_at = now

    async def approvers_for(self, district: str | None) -> list[UserView]:
        """Active coordinators of ``district`` and all admins; every approver if none."""
        async with self.db.transaction() as session:
            query = select(User).where(User.status == Status.ACTIVE, User.role.in_(APPROVERS))
            local = (
                await session.scalars(
                    query.where(or_(User.district == district, User.role == Role.ADMIN))
                )
            ).all()
            if not any(u.role == Role.COORDINATOR for u in local):
                local = (await session.scalars(query)).all()
            return [user_view(u) for u in local]

    async def specialists_for(self, specialty: str | None) -> list[UserView]:
        """Active, reachable specialists of ``specialty`` (for assigning by hand)."""
        async with self.db.transaction() as session:
            rows = await session.scalars(
                select(User)
                .where(User.role == Role.SPECIALIST, User.status == Status.ACTIVE)
                .order_by(User.full_name)
            )
            return [
                user_view(u) for u in rows if u.reachable and specialty in (u.specialties or [])
            ]

    async def decide(self, approver_telegram_id: int, user_id: int, approve: bool) -> Decision:
        """Approve or reject a pending applicant; safe against stale and forged buttons."""
        now = self.clock.now()
        async with self.db.transaction() as session:
            approver = await session.scalar(
                select(User).where(User.telegram_id == approver_telegram_id)
            )
            if approver is None or not user_view(approver).can_approve:
                return Decision(Outcome.NOT_ALLOWED)
            applicant = await session.get(User, user_id)
            if applicant is None:
                return Decision(Outcome.UNKNOWN_USER)
            if applicant.role == Role.ADMIN and approver.role != Role.ADMIN:
                return Decision(Outcome.NOT_ALLOWED)
            # Conditional update: of two coordinators tapping at once, exactly one wins.
            won = await session.execute(
                update(User)
                .where(User.id == user_id, User.status == Status.PENDING)
                .values(
                    status=Status.ACTIVE if approve else Status.REJECTED,
                    decided_at=now,
                    decided_by=approver.id,
                )
            )
            await session.refresh(applicant)
            if won.rowcount != 1:  # type: ignore[attr-defined]
                return Decision(Outcome.ALREADY_DECIDED, user_view(applicant))
            audit.record(
                session,
                now,
                "user.approve" if approve else "user.reject",
                actor=approver_telegram_id,
                subject=f"user:{applicant.id}",
            )
            return Decision(Outcome.APPROVED if approve else Outcome.REJECTED, user_view(applicant))

    async def mark_unreachable(self, telegram_id: int) -> None:
        """Telegram said this person blocked the bot: stop sending to them."""
        async with self.db.transaction() as session:
            user = await session.scalar(select(User).where(User.telegram_id == telegram_id))
            if user is not None:
                user.reachable = False
