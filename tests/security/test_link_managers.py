"""Who may list and revoke a case's links: coordinators of its district, administrators."""

from __future__ import annotations

from redis.asyncio import Redis

from bot.clock import ManualClock
from bot.domain import Role
from bot.security.capability_links import LinkService
from bot.security.keys import KeyRing
from bot.storage.database import Database
from bot.storage.kv import KeyValue
from tests.cases.conftest import Factory
from tests.security.test_capability_links import assigned_case, events


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
