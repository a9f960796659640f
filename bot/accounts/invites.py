"""Invites: deep-link codes bound to a role and optionally a district, facility, specialty."""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from datetime import timedelta
from enum import StrEnum

from sqlalchemy import select, update

from bot.clock import Clock
from bot.domain import SPECIALTIES, Role
from bot.storage import audit
from bot.storage.database import Database
from bot.storage.models import Facility, Invite

#: Unambiguous alphabet for codes people may have to read out (no 0/O, 1/I/L).
CODE_ALPHABET = "23456789ABCDEFGHJKMNPQRSTUVWXYZ"
CODE_LENGTH = 12  # ~59 bits: unguessable, and still short enough for a deep link


class InviteProblem(StrEnum):
    UNKNOWN = "unknown"
    EXPIRED = "expired"
    EXHAUSTED = "exhausted"
    REVOKED = "revoked"


class InviteError(Exception):
    def __init__(self, problem: InviteProblem) -> None:
        super().__init__(problem.value)
        self.problem = problem


@dataclass(frozen=True)
class InviteView:
    """What callers need to know about an invite."""

    id: int
    code: str
    role: Role
    district: str | None
    facility_id: int | None
    facility_name: str | None
    specialty: str | None
    max_uses: int
    uses: int
    preapproved: bool


def deep_link(bot_username: str, code: str) -> str:
    return f"https://t.me/{bot_username}?start={code}"


def parse_ttl(text: str) -> timedelta:
    """``7d``, ``12h``, ``30m`` or a number of hours → a positive ``timedelta``."""
    units = {"d": "days", "h": "hours", "m": "minutes"}
    text = text.strip().lower()
    unit = units.get(text[-1:], "hours")
    number = text[:-1] if text[-1:] in units else text
    if not number.isdigit() or int(number) <= 0:
        raise ValueError(f"not a duration: {text!r} (use e.g. 7d, 12h, 30m)")
    return timedelta(**{unit: int(number)})


class InviteService:
    def __init__(self, db: Database, clock: Clock) -> None:
        self.db = db
        self.clock = clock

    async def create(
        self,
        role: Role,
        *,
        district: str | None = None,
        facility_id: int | None = None,
        specialty: str | None = None,
        uses: int = 1,
        ttl: timedelta = timedelta(days=7),
        preapproved: bool = False,
        created_by: int | None = None,
        actor_telegram_id: int | None = None,
    ) -> InviteView:
        """Create an invite; a facility given here sets the district too."""
        if specialty is not None and specialty not in SPECIALTIES:
            raise ValueError(f"unknown specialty {specialty!r}: one of {', '.join(SPECIALTIES)}")
        if uses < 1:
            raise ValueError("uses must be at least 1")
        now = self.clock.now()
        async with self.db.transaction() as session:
            facility = await session.get(Facility, facility_id) if facility_id else None
            if facility_id and facility is None:
                raise ValueError(f"no facility {facility_id}")
            invite = Invite(
                code="".join(secrets.choice(CODE_ALPHABET) for _ in range(CODE_LENGTH)),
                role=role,
                district=facility.district if facility else district,
                facility_id=facility_id,
                specialty=specialty,
                max_uses=uses,
                uses=0,
                preapproved=preapproved,
                expires_at=now + ttl,
                created_by=created_by,
                created_at=now,
            )
            session.add(invite)
            await session.flush()
            audit.record(
                session,
                now,
                "invite.create",
                actor=actor_telegram_id,
                subject=f"invite:{invite.id}",
                role=role.value,
                uses=uses,
            )
            return _view(invite, facility)

    async def check(self, code: str) -> InviteView:
        """The invite behind ``code`` if it can still be redeemed, else ``InviteError``."""
        async with self.db.transaction() as session:
            invite = await session.scalar(select(Invite).where(Invite.code == code.strip().upper()))
            if invite is None:
                raise InviteError(InviteProblem.UNKNOWN)
            self._raise_if_unusable(invite)
            facility = (
                await session.get(Facility, invite.facility_id) if invite.facility_id else None
            )
            return _view(invite, facility)

    async def revoke(self, code: str) -> bool:
        async with self.db.transaction() as session:
            result = await session.execute(
                update(Invite).where(Invite.code == code.strip().upper()).values(revoked=True)
            )
            return bool(result.rowcount)  # type: ignore[attr-defined]

    def _raise_if_unusable(self, invite: Invite) -> None:
        if invite.revoked:
            raise InviteError(InviteProblem.REVOKED)
        if invite.expires_at <= self.clock.now():
            raise InviteError(InviteProblem.EXPIRED)
        if invite.uses >= invite.max_uses:
            raise InviteError(InviteProblem.EXHAUSTED)


def _view(invite: Invite, facility: Facility | None) -> InviteView:
    return InviteView(
        id=invite.id,
        code=invite.code,
        role=Role(invite.role),
        district=invite.district,
        facility_id=invite.facility_id,
        facility_name=facility.name if facility else None,
        specialty=invite.specialty,
        max_uses=invite.max_uses,
        uses=invite.uses,
        preapproved=invite.preapproved,
    )
