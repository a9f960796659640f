"""Facilities: the spokes (sub-centres, PHCs, imaging hubs) that health workers belong to."""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import select

from bot.storage.database import Database
from bot.storage.models import Facility


@dataclass(frozen=True)
class FacilityView:
    id: int
    name: str
    district: str


class FacilityService:
    def __init__(self, db: Database) -> None:
        self.db = db

    async def add(self, name: str, district: str) -> FacilityView:
        """The facility of this name in ``district``, created if new."""
        name, district = " ".join(name.split()), " ".join(district.split())
        if not name or not district:
            raise ValueError("a facility needs a name and a district")
        async with self.db.transaction() as session:
            facility = await session.scalar(
                select(Facility).where(Facility.name == name, Facility.district == district)
            )
            if facility is None:
                facility = Facility(name=name, district=district)
                session.add(facility)
                await session.flush()
            return FacilityView(facility.id, facility.name, facility.district)

    async def get(self, facility_id: int) -> FacilityView | None:
        async with self.db.transaction() as session:
            facility = await session.get(Facility, facility_id)
            return FacilityView(facility.id, facility.name, facility.district) if facility else None

    async def in_district(self, district: str | None) -> list[FacilityView]:
        async with self.db.transaction() as session:
            rows = await session.scalars(
                select(Facility).where(Facility.district == district).order_by(Facility.name)
            )
            return [FacilityView(f.id, f.name, f.district) for f in rows]
