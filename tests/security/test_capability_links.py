"""Capability links: issue, resolve, expiry, revocation, throttling, audit, hashes only."""

from __future__ import annotations

import hashlib
from dataclasses import replace
from datetime import timedelta

import pytest
from redis.asyncio import Redis
from sqlalchemy import select, update

from bot.accounts.directory import UserView
from bot.clock import ManualClock
from bot.domain import CaseStatus, Role, Status
from bot.sandbox.state import SandboxState
from bot.security.capability_links import (
    Denied,
    DenyReason,
    LinkAccess,
    LinkError,
    LinkService,
    MemberAccess,
    client_key,
)
from bot.security.keys import KeyRing
from bot.security.webapp_auth import InitDataError, verify_init_data
from bot.storage.database import Database
from bot.storage.kv import KeyValue
from bot.storage.models import AuditEvent, Case, Link, User
from tests.cases.conftest import Factory

IP = "203.0.113.7"
UA = "Mozilla/5.0 (Linux; Android 9) test"


@pytest.fixture
def keyring() -> KeyRing:
    return KeyRing.generate()


@pytest.fixture
def links(db: Database, clock: ManualClock, keyring: KeyRing, redis: Redis) -> LinkService:
    return LinkService(db, clock, keyring, KeyValue(redis))


async def assigned_case(factory: Factory, db: Database) -> tuple[int, UserView, UserView]:
    """A case accepted by a specialist: (case id, health worker, specialist)."""
    hw = await factory.health_worker()
    spec = await factory.specialist()
    case_id = await factory.case(hw, status=CaseStatus.ACCEPTED)
    await assign(db, case_id, spec.id)
    return case_id, hw, spec


async def assign(db: Database, case_id: int, specialist_id: int | None) -> None:
    async with db.transaction() as session:
        await session.execute(
            update(Case).where(Case.id == case_id).values(specialist_id=specialist_id)
        )


async def events(db: Database, prefix: str = "link.") -> list[AuditEvent]:
    async with db.sessions() as session:
        rows = await session.scalars(
            select(AuditEvent).where(AuditEvent.action.startswith(prefix)).order_by(AuditEvent.id)
        )
        return list(rows)


async def resolve(links: LinkService, token: str, action: str = "view", ip: str = IP):
    return await links.resolve(token, ip=ip, user_agent=UA, action=action)


async def test_issue_and_resolve_names_the_recipient(
    links: LinkService, factory: Factory, db: Database, clock: ManualClock
) -> None:
    case_id, _, spec = await assigned_case(factory, db)
    issued = await links.issue(case_id, spec.id)
    assert len(issued.token) >= 32  # 24 random bytes, base64url
    assert issued.expires_at == clock.now() + timedelta(hours=24)

    access = await resolve(links, issued.token)
    assert isinstance(access, LinkAccess)
    assert access.case_id == case_id and access.link_id == issued.link_id
    assert access.recipient_user_id == spec.id
    assert access.recipient_telegram_id == spec.telegram_id
    assert access.recipient_name == spec.full_name
    assert access.can_view and not access.can_download

    assert await resolve(links, issued.token, "frame") == replace(access, action="frame")
    denied = await resolve(links, issued.token, "download")
    assert denied == Denied(DenyReason.FORBIDDEN) and denied.status == 403


async def test_only_an_hmac_of_the_token_is_stored(
    links: LinkService, factory: Factory, db: Database, keyring: KeyRing
) -> None:
    case_id, _, spec = await assigned_case(factory, db)
    issued = await links.issue(case_id, spec.id, download=True)
    async with db.sessions() as session:
        row = await session.get(Link, issued.link_id)
        assert row is not None
        assert row.token_hash == links.token_hash(issued.token)
        assert len(row.token_hash) == 64 and issued.token not in row.token_hash
        # A plain SHA-256 of the token is not what is stored: the key matters.
        assert row.token_hash != hashlib.sha256(issued.token.encode()).hexdigest()
        audit_text = " ".join(repr(e.details) + (e.subject or "") for e in await events(db))
    assert issued.token not in audit_text
    # The same token under another key ring hashes differently.
    other = LinkService(db, links.clock, KeyRing.generate(), links.kv)
    assert other.token_hash(issued.token) != row.token_hash
    assert await resolve(other, issued.token) == Denied(DenyReason.UNKNOWN)


async def test_tokens_are_random_and_carry_no_identifiers(
    links: LinkService, factory: Factory, db: Database
) -> None:
    case_id, _, spec = await assigned_case(factory, db)
    tokens = {(await links.issue(case_id, spec.id)).token for _ in range(20)}
    assert len(tokens) == 20
    async with db.sessions() as session:
        code = (await session.get(Case, case_id)).code  # type: ignore[union-attr]
    for token in tokens:
        assert code.replace("-", "") not in token
        assert str(spec.telegram_id) not in token


async def test_download_permission(links: LinkService, factory: Factory, db: Database) -> None:
    case_id, _, spec = await assigned_case(factory, db)
    both = await links.issue(case_id, spec.id, download=True)
    assert isinstance(await resolve(links, both.token, "download"), LinkAccess)
    only_download = await links.issue(case_id, spec.id, view=False, download=True)
    assert await resolve(links, only_download.token, "view") == Denied(DenyReason.FORBIDDEN)
    assert isinstance(await resolve(links, only_download.token, "download"), LinkAccess)
    with pytest.raises(LinkError):
        await links.issue(case_id, spec.id, view=False, download=False)
    with pytest.raises(ValueError, match="action"):
        await resolve(links, both.token, "delete")


async def test_expiry_with_the_clock(
    links: LinkService, factory: Factory, db: Database, clock: ManualClock
) -> None:
    case_id, _, spec = await assigned_case(factory, db)
    issued = await links.issue(case_id, spec.id, ttl=timedelta(hours=2))
    clock.advance(timedelta(hours=1, minutes=59))
    assert isinstance(await resolve(links, issued.token), LinkAccess)
    clock.advance(timedelta(minutes=1))
    denied = await resolve(links, issued.token)
    assert denied == Denied(DenyReason.EXPIRED) and denied.status == 410
    assert [v.state for v in await links.links_for_case(case_id)] == ["expired"]
    with pytest.raises(LinkError):
        await links.issue(case_id, spec.id, ttl=timedelta(0))
    with pytest.raises(LinkError):
        await links.issue(case_id, spec.id, ttl=timedelta(days=31))


async def test_revoke_by_id_and_by_token(
    links: LinkService, factory: Factory, db: Database, clock: ManualClock
) -> None:
    case_id, _, spec = await assigned_case(factory, db)
    coordinator = await factory.coordinator()
    first = await links.issue(case_id, spec.id)
    second = await links.issue(case_id, spec.id)
    assert await links.revoke(first.link_id, by_user_id=coordinator.id, reason="phone lost")
    assert not await links.revoke(first.link_id, by_user_id=coordinator.id, reason="again")
    assert await links.revoke(second.token, by_user_id=None, reason="operator")
    assert not await links.revoke("not-a-token", by_user_id=None, reason="x")
    assert not await links.revoke(999_999, by_user_id=None, reason="x")
    for issued in (first, second):
        denied = await resolve(links, issued.token)
        assert denied == Denied(DenyReason.REVOKED) and denied.status == 410
    views = await links.links_for_case(case_id)
    assert [(v.state, v.revoke_reason) for v in views] == [
        ("revoked", "phone lost"),
        ("revoked", "operator"),
    ]
    async with db.sessions() as session:
        row = await session.get(Link, first.link_id)
        assert row is not None and row.revoked_by == coordinator.id
        assert row.revoked_at == clock.now()
    revokes = [e for e in await events(db) if e.action == "link.revoke"]
    assert [e.details["reason"] for e in revokes] == ["phone lost", "operator"]
    assert revokes[0].details["by_user_id"] == coordinator.id


async def test_expired_and_revoked_look_alike_but_audit_differs(
    links: LinkService, factory: Factory, db: Database, clock: ManualClock
) -> None:
    case_id, _, spec = await assigned_case(factory, db)
    revoked = await links.issue(case_id, spec.id, ttl=timedelta(days=2))
    expired = await links.issue(case_id, spec.id, ttl=timedelta(hours=1))
    await links.revoke(revoked.link_id, by_user_id=None, reason="test")
    clock.advance(timedelta(hours=2))
    a, b = await resolve(links, revoked.token), await resolve(links, expired.token)
    assert isinstance(a, Denied) and isinstance(b, Denied)
    assert a.status == b.status == 410
    reasons = [e.details["reason"] for e in await events(db) if e.action == "link.denied"]
    assert reasons == ["revoked", "expired"]


async def test_a_token_for_one_case_never_opens_another(
    links: LinkService, factory: Factory, db: Database
) -> None:
    case_a, _, spec = await assigned_case(factory, db)
    case_b, _, _ = await assigned_case(factory, db)
    await assign(db, case_b, spec.id)  # same specialist on both cases
    link_a = await links.issue(case_a, spec.id)
    link_b = await links.issue(case_b, spec.id)
    access_a = await resolve(links, link_a.token)
    access_b = await resolve(links, link_b.token)
    assert isinstance(access_a, LinkAccess) and access_a.case_id == case_a
    assert isinstance(access_b, LinkAccess) and access_b.case_id == case_b


async def test_links_are_per_recipient(links: LinkService, factory: Factory, db: Database) -> None:
    case_id, hw, spec = await assigned_case(factory, db)
    coordinator = await factory.coordinator()  # same district (Pune)
    outsider = await factory.specialist()
    far_coordinator = await factory.coordinator(district="Dharwad")
    for who in (spec, hw, coordinator):
        access = await resolve(links, (await links.issue(case_id, who.id)).token)
        assert isinstance(access, LinkAccess) and access.recipient_user_id == who.id
    for who in (outsider, far_coordinator):
        with pytest.raises(LinkError, match="may not see"):
            await links.issue(case_id, who.id)
    with pytest.raises(LinkError):
        await links.issue(case_id, 999_999)
    with pytest.raises(LinkError):
        await links.issue(999_999, spec.id)


async def test_reassignment_revokes_and_entitlement_is_rechecked(
    links: LinkService, factory: Factory, db: Database
) -> None:
    case_id, hw, old = await assigned_case(factory, db)
    new = await factory.specialist()
    old_link = await links.issue(case_id, old.id)
    hw_link = await links.issue(case_id, hw.id)
    kept_by_accident = await links.issue(case_id, old.id)

    await assign(db, case_id, new.id)
    # Even before revocation, the old specialist is no longer entitled.
    assert await resolve(links, kept_by_accident.token) == Denied(DenyReason.FORBIDDEN)
    new_link = await links.issue(case_id, new.id)
    assert await links.revoke_for_case(case_id, recipient=old.id, reason="reassigned") == 2
    assert isinstance(await resolve(links, hw_link.token), LinkAccess)
    assert await links.revoke_for_case(case_id, recipient=old.id, reason="again") == 0
    count = await links.revoke_for_case(case_id, except_recipient=new.id, reason="reset")
    assert count == 1  # the health worker's
    assert await resolve(links, old_link.token) == Denied(DenyReason.REVOKED)
    assert await resolve(links, hw_link.token) == Denied(DenyReason.REVOKED)
    assert isinstance(await resolve(links, new_link.token), LinkAccess)
    assert await links.revoke_for_case(case_id, reason="case withdrawn") == 1
    assert await resolve(links, new_link.token) == Denied(DenyReason.REVOKED)


async def test_suspended_recipient_is_refused(
    links: LinkService, factory: Factory, db: Database
) -> None:
    case_id, _, spec = await assigned_case(factory, db)
    issued = await links.issue(case_id, spec.id)
    async with db.transaction() as session:
        await session.execute(
            update(User).where(User.id == spec.id).values(status=Status.SUSPENDED)
        )
    assert await resolve(links, issued.token) == Denied(DenyReason.FORBIDDEN)


async def test_admin_may_receive_a_link(links: LinkService, factory: Factory, db: Database) -> None:
    case_id, _, _ = await assigned_case(factory, db)
    admin = await factory.user(Role.ADMIN, district=None)
    assert isinstance(
        await resolve(links, (await links.issue(case_id, admin.id)).token), LinkAccess
    )


async def test_revoke_closed_after_n_days(
    links: LinkService, factory: Factory, db: Database, clock: ManualClock
) -> None:
    open_case, _, spec = await assigned_case(factory, db)
    closed_case, _, _ = await assigned_case(factory, db)
    await assign(db, closed_case, spec.id)
    open_link = await links.issue(open_case, spec.id, ttl=timedelta(days=30))
    closed_link = await links.issue(closed_case, spec.id, ttl=timedelta(days=30))
    async with db.transaction() as session:
        await session.execute(
            update(Case)
            .where(Case.id == closed_case)
            .values(status=CaseStatus.CLOSED, closed_at=clock.now())
        )
    clock.advance(timedelta(days=6))
    assert await links.revoke_closed(7) == 0
    clock.advance(timedelta(days=1))
    assert await links.revoke_closed(7) == 1
    assert await links.revoke_closed(7) == 0  # idempotent
    assert await resolve(links, closed_link.token) == Denied(DenyReason.REVOKED)
    assert isinstance(await resolve(links, open_link.token), LinkAccess)
    with pytest.raises(ValueError, match="negative"):
        await links.revoke_closed(-1)


async def test_every_access_and_denial_is_audited(
    links: LinkService, factory: Factory, db: Database, clock: ManualClock
) -> None:
    case_id, _, spec = await assigned_case(factory, db)
    issued = await links.issue(case_id, spec.id)
    await resolve(links, issued.token, "view")
    await resolve(links, issued.token, "frame")
    await resolve(links, issued.token, "download")
    await resolve(links, "A" * 32)
    await resolve(links, "")
    await resolve(links, "<script>" * 50)
    rows = await events(db)
    assert [(e.action, e.details.get("operation"), e.details.get("reason")) for e in rows] == [
        ("link.issue", None, None),
        ("link.access", "view", None),
        ("link.access", "frame", None),
        ("link.denied", "download", "forbidden"),
        ("link.denied", "view", "unknown"),
        ("link.denied", "view", "unknown"),
        ("link.denied", "view", "unknown"),
    ]
    for event in rows[1:4]:
        assert event.at == clock.now()
        assert event.subject == f"link:{issued.link_id}"
        assert event.actor_telegram_id == spec.telegram_id
        assert event.details["link_id"] == issued.link_id
        assert event.details["recipient_user_id"] == spec.id
        assert event.details["ip"] == IP and event.details["user_agent"] == UA
    for event in rows[4:]:
        assert event.subject is None and event.actor_telegram_id is None
        assert event.details["ip"] == IP and "link_id" not in event.details
    # No patient data: the complaint, age or sex never reach the audit.
    text = repr([(e.details, e.subject, e.note) for e in rows])
    assert "cough" not in text
    async with db.sessions() as session:
        row = await session.get(Link, issued.link_id)
        assert row is not None and row.last_used_at == clock.now()
    views = await links.links_for_case(case_id)
    assert views[0].last_used_at == clock.now() and views[0].recipient_name == spec.full_name


async def test_repeated_failures_from_one_address_are_throttled(
    db: Database, clock: ManualClock, keyring: KeyRing, redis: Redis, factory: Factory
) -> None:
    links = LinkService(db, clock, keyring, KeyValue(redis), failure_limit=5, failure_window=600)
    case_id, _, spec = await assigned_case(factory, db)
    good = await links.issue(case_id, spec.id)
    for n in range(5):
        assert await resolve(links, f"guess{n:027d}") == Denied(DenyReason.UNKNOWN)
    # Now everything from this address is refused, the valid token too (nothing learned).
    for _ in range(3):
        denied = await resolve(links, good.token)
        assert denied == Denied(DenyReason.THROTTLED) and denied.status == 429
    # Another address, and another /64 for IPv6, are unaffected.
    assert isinstance(await resolve(links, good.token, ip="198.51.100.1"), LinkAccess)
    # Only the first throttled request of the window is audited.
    throttled = [e for e in await events(db) if e.details.get("reason") == "throttled"]
    assert len(throttled) == 1 and throttled[0].details["ip"] == IP
    # Forbidden actions on a valid link do not count as guessing.
    for _ in range(10):
        await resolve(links, good.token, "download", ip="198.51.100.2")
    assert isinstance(await resolve(links, good.token, ip="198.51.100.2"), LinkAccess)


async def test_ipv6_throttled_per_slash_64(
    db: Database, clock: ManualClock, keyring: KeyRing, redis: Redis, factory: Factory
) -> None:
    links = LinkService(db, clock, keyring, KeyValue(redis), failure_limit=3)
    case_id, _, spec = await assigned_case(factory, db)
    good = await links.issue(case_id, spec.id)
    for n in range(3):
        await resolve(links, f"guess{n:027d}", ip=f"2001:db8:1:2::{n + 1}")
    assert await resolve(links, good.token, ip="2001:db8:1:2::ffff") == Denied(DenyReason.THROTTLED)
    assert isinstance(await resolve(links, good.token, ip="2001:db8:1:3::1"), LinkAccess)


def test_client_key() -> None:
    assert client_key("203.0.113.7") == "203.0.113.7"
    assert client_key("::ffff:203.0.113.7") == "203.0.113.7"
    assert client_key("2001:db8::1") == "2001:db8::/64"
    assert client_key(None) == client_key("garbage") == "unparsed"


async def test_mini_app_member_access(
    links: LinkService, factory: Factory, db: Database, clock: ManualClock
) -> None:
    case_id, hw, spec = await assigned_case(factory, db)
    outsider = await factory.specialist()
    access = await links.authorize_member(
        spec.telegram_id, case_id, ip=IP, user_agent=UA, action="frame"
    )
    assert isinstance(access, MemberAccess)
    assert (access.case_id, access.user_id, access.name, access.role) == (
        case_id,
        spec.id,
        spec.full_name,
        "specialist",
    )
    assert isinstance(
        await links.authorize_member(hw.telegram_id, case_id, ip=IP, user_agent=UA), MemberAccess
    )
    for telegram_id, target in (
        (outsider.telegram_id, case_id),
        (spec.telegram_id, 999_999),
        (1, case_id),
    ):
        denied = await links.authorize_member(telegram_id, target, ip=IP, user_agent=UA)
        assert denied == Denied(DenyReason.FORBIDDEN)
    rows = await events(db)
    assert [(e.action, e.actor_telegram_id, e.details["via"]) for e in rows] == [
        ("link.access", spec.telegram_id, "webapp"),
        ("link.access", hw.telegram_id, "webapp"),
        ("link.denied", outsider.telegram_id, "webapp"),
        ("link.denied", spec.telegram_id, "webapp"),
        ("link.denied", 1, "webapp"),
    ]
    assert rows[0].details["operation"] == "frame" and rows[0].details["ip"] == IP
    with pytest.raises(ValueError, match="action"):
        await links.authorize_member(spec.telegram_id, case_id, ip=IP, user_agent=UA, action="x")


async def test_forged_init_data_counts_towards_the_throttle(
    db: Database, clock: ManualClock, keyring: KeyRing, redis: Redis, factory: Factory
) -> None:
    links = LinkService(db, clock, keyring, KeyValue(redis), failure_limit=3)
    case_id, _, spec = await assigned_case(factory, db)
    for _ in range(3):
        denied = await links.refuse_init_data("bad_signature", ip=IP, user_agent=UA)
        assert denied == Denied(DenyReason.UNKNOWN)
    assert await links.authorize_member(spec.telegram_id, case_id, ip=IP, user_agent=UA) == Denied(
        DenyReason.THROTTLED
    )
    assert await links.refuse_init_data("stale", ip=IP, user_agent=UA) == Denied(
        DenyReason.THROTTLED
    )
    rows = await events(db)
    assert [e.details.get("init_data") for e in rows[:3]] == ["bad_signature"] * 3
    assert rows[3].details["reason"] == "throttled" and len(rows) == 4


async def test_configured_default_ttl(
    db: Database, clock: ManualClock, keyring: KeyRing, redis: Redis, factory: Factory
) -> None:
    links = LinkService(db, clock, keyring, KeyValue(redis), default_ttl=timedelta(hours=6))
    case_id, _, spec = await assigned_case(factory, db)
    assert (await links.issue(case_id, spec.id)).expires_at == clock.now() + timedelta(hours=6)


async def test_mini_app_flow_with_the_emulators_init_data(
    links: LinkService, factory: Factory, db: Database, clock: ManualClock
) -> None:
    """initData signed by the emulator, verified, then the user's entitlement checked."""
    case_id, _, spec = await assigned_case(factory, db)
    token = "123456:AAE-test"
    state = SandboxState(token=token, bot_id=123456, clock=lambda: clock.now().timestamp())
    state.create_user({"id": spec.telegram_id, "first_name": "Asha"})
    raw = state.web_app_init_data(spec.telegram_id, start_param=f"case{case_id}")
    user = verify_init_data(raw, token, now=clock.now())
    access = await links.authorize_member(user.id, case_id, ip=IP, user_agent=UA)
    assert isinstance(access, MemberAccess) and access.user_id == spec.id

    clock.advance(timedelta(hours=2))
    with pytest.raises(InitDataError) as err:
        verify_init_data(raw, token, now=clock.now())
    denied = await links.refuse_init_data(err.value.reason, ip=IP, user_agent=UA)
    assert denied.status == 404
    last = (await events(db))[-1]
    assert (last.action, last.details["init_data"]) == ("link.denied", "stale")


async def test_client_text_is_cleaned_for_the_audit(links: LinkService, db: Database) -> None:
    await links.resolve("A" * 32, ip="203.0.113.9\x00", user_agent="evil\x00\r\nUA" + "x" * 500)
    (event,) = await events(db)
    assert event.details["ip"] == "203.0.113.9"
    assert (
        event.details["user_agent"].startswith("evilUAx")
        and len(event.details["user_agent"]) == 200
    )
