"""Who may list and revoke a case's links: coordinators of its district, administrators."""

from __future__ import annotations

from datetime import timedelta

from redis.asyncio import Redis

from bot.clock import ManualClock
from bot.domain import CaseStatus, Role
from bot.security.capability_links import Denied, DenyReason, LinkAccess, LinkService
from bot.security.keys import KeyRing
from bot.storage.database import Database
from bot.storage.kv import KeyValue
from bot.storage.models import Case
from tests.cases.conftest import Factory
from tests.security.test_capability_links import assigned_case, events, resolve


async def test_only_the_districts_coordinator_or_an_admin_manages_links(
    db: Database, clock: ManualClock, redis: Redis, factory: Factory
) -> None:
    links = LinkService(db, clock, KeyRing.generate(), KeyValue(redis))
    case_id, hw, spec = await assigned_case(factory, db)
    code = await links.case_code(case_id)
    assert code is not None
    issued = await links.issue(case_id, spec.id)
    local = await factory.coordinator(district="Pune")
    elsewhere = await factory.coordinator(district="Dharwad")
    admin = await factory.user(Role.ADMIN, district=None)

    assert await links.managed_case(local.telegram_id, code.lower()) == case_id
    assert await links.managed_case(admin.telegram_id, code) == case_id
    for outsider in (elsewhere, hw, spec):
        assert await links.managed_case(outsider.telegram_id, code) is None
        assert await links.revoke_as_manager(outsider.telegram_id, issued.link_id) is None
    assert await links.managed_case(local.telegram_id, "NOPE-000") is None
    assert await links.revoke_as_manager(local.telegram_id, 999_999) is None

    revoked = await links.revoke_as_manager(local.telegram_id, issued.link_id)
    assert revoked is not None and revoked.state == "revoked"
    assert revoked.recipient_name == spec.full_name
    again = await links.revoke_as_manager(admin.telegram_id, issued.link_id)
    assert again is not None and again.state == "revoked"  # already revoked: no second row
    rows = [e for e in await events(db) if e.action == "link.revoke"]
    assert len(rows) == 1 and rows[0].details["by_user_id"] == local.id


async def test_a_link_stops_working_once_its_case_has_been_closed_for_a_week(
    db: Database, clock: ManualClock, redis: Redis, factory: Factory
) -> None:
    links = LinkService(db, clock, KeyRing.generate(), KeyValue(redis))
    case_id, _, spec = await assigned_case(factory, db)
    issued = await links.issue(case_id, spec.id, ttl=timedelta(days=30))
    async with db.transaction() as session:
        case = await session.get(Case, case_id)
        assert case is not None
        case.status, case.closed_at = CaseStatus.CLOSED, clock.now()
    clock.advance(timedelta(days=6))
    assert isinstance(await resolve(links, issued.token), LinkAccess)
    clock.advance(timedelta(days=1))
    refused = await resolve(links, issued.token)
    assert refused == Denied(DenyReason.CLOSED) and refused.status == 410
    assert [e.details["reason"] for e in await events(db) if e.action == "link.denied"] == [
        "closed"
    ]
