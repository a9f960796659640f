"""Capability links: one recipient, one case's study, explicit permissions, an expiry.

Token and hash
    A token is ``secrets.token_urlsafe(24)``: 192 random bits, 32 URL-safe characters, no
    identifier of any kind in it. The database stores only
    ``hex(HMAC-SHA256(keyring.derive(b"link-tokens"), token))`` (``links.token_hash``).
    The HMAC key derives from the *root* master key, so links survive ``keys rotate``;
    a copy of the database without the keys cannot turn a stored hash into a working
    link, nor test guesses offline. Resolving looks the hash up through its unique index
    and compares it again with :func:`hmac.compare_digest`; the index lookup leaks at most
    timing about *keyed* hashes, which tells an attacker nothing about other tokens.

Access rules (checked on every request, not only when issuing)
    The link must exist, not be revoked, not be expired; the action must be permitted
    (``view`` and ``frame`` need view, ``download`` needs download); the recipient must
    still be an active user entitled to the case: its health worker, its assigned
    specialist, a coordinator of its district, or an admin (the same rule as reading a
    report). A link to a case that was reassigned away is therefore dead even if
    :meth:`LinkService.revoke_for_case` was not called.

What the caller shows (no hint which): ``unknown`` → 404; ``expired``, ``revoked`` and
``closed`` (the case was closed or cancelled at least ``closed_grace`` ago, 7 days by
default: such links stop working even before ``links revoke-closed`` marks them) → the
same-looking 410 page ("this link is no longer valid", :attr:`Denied.status`);
``forbidden`` → 403; ``throttled`` → 429. Expired and revoked differ only in the audit.

Audit (``audit_events``, never patient data, never the token): every granted access
(``link.access``) and every denied attempt (``link.denied``) with the time, link id,
case id, recipient (user id, Telegram id as actor), operation (view, frame, download),
IP and user agent; issuing (``link.issue``) and revoking (``link.revoke``) with who and
why.

Mini App: once the web side has verified ``initData`` (:mod:`bot.security.webapp_auth`),
:meth:`LinkService.authorize_member` applies the same entitlement rule to the Telegram
user and audits the same way (``via="webapp"``); :meth:`LinkService.refuse_init_data`
audits a forged or stale ``initData`` and counts it towards the throttle.

Throttle: failures that look like guessing (``unknown``, ``expired``, ``revoked``, bad
``initData``) are counted per client address in Redis — per IPv4 address, per IPv6 /64
— and once ``failure_limit`` of them fall in ``failure_window`` seconds, *every* request
from that address is refused with ``throttled`` until the window ends, valid tokens
included (so guessing learns nothing). ``forbidden`` does not count. Only the first
throttled request of a window is audited, so a flood cannot fill the audit table. Many
users behind one carrier NAT share an address; 20 failures in 10 minutes (the default)
is far above what people mistyping produce.
"""

from __future__ import annotations

import hashlib
import hmac
import ipaddress
import re
import secrets
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum
from typing import Any, Literal

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from bot.accounts.access import may_see_case
from bot.clock import Clock
from bot.domain import CaseStatus, Role, Status
from bot.metrics import count_link_access
from bot.security.keys import KeyRing
from bot.storage import audit
from bot.storage.database import Database
from bot.storage.kv import KeyValue
from bot.storage.models import Case, Link, User

DEFAULT_TTL = timedelta(hours=24)
CLOSED_CASE_GRACE = timedelta(days=7)
"""Links to a case closed (or cancelled) this long ago stop working, revoked or not."""
MAX_TTL = timedelta(days=30)
TOKEN_BYTES = 24
"""192 bits of randomness (``token_urlsafe`` gives 32 characters)."""
HMAC_PURPOSE = b"link-tokens"
_TOKEN_RE = re.compile(r"[A-Za-z0-9_-]{16,128}")
_UA_LIMIT = 200
_REASON_LIMIT = 60
_TRACKED_FAILURES = frozenset({"unknown", "expired", "revoked"})

Action = Literal["view", "frame", "download"]
ACTIONS: frozenset[str] = frozenset({"view", "frame", "download"})


class DenyReason(StrEnum):
    UNKNOWN = "unknown"  # no such token (mistyped, forged, truncated)
    EXPIRED = "expired"
    REVOKED = "revoked"
    CLOSED = "closed"  # the case was closed (or cancelled) long enough ago
    FORBIDDEN = "forbidden"  # action not permitted, or recipient no longer entitled
    THROTTLED = "throttled"  # too many failures from this address


_STATUS = {
    DenyReason.UNKNOWN: 404,
    DenyReason.EXPIRED: 410,
    DenyReason.REVOKED: 410,
    DenyReason.CLOSED: 410,
    DenyReason.FORBIDDEN: 403,
    DenyReason.THROTTLED: 429,
}


class LinkError(Exception):
    """A link cannot be issued (unknown case or recipient, recipient not entitled, bad TTL)."""


@dataclass(frozen=True)
class IssuedLink:
    """A new link; ``token`` exists only here — hand it to the recipient, never store it."""

    token: str
    link_id: int
    expires_at: datetime


@dataclass(frozen=True)
class LinkAccess:
    """A granted request: whose it is and what it may do."""

    link_id: int
    case_id: int
    case_code: str
    recipient_user_id: int
    recipient_telegram_id: int
    recipient_name: str
    action: str
    can_view: bool
    can_download: bool
    expires_at: datetime


@dataclass(frozen=True)
class Denied:
    """A refused request; show the page for :attr:`status` (410 for expired and revoked alike)."""

    reason: DenyReason

    @property
    def status(self) -> int:
        """HTTP status for the caller: 404 unknown, 410 expired/revoked, 403, 429."""
        return _STATUS[self.reason]


@dataclass(frozen=True)
class MemberAccess:
    """A granted Mini App request: a registered user entitled to the case (no link)."""

    case_id: int
    case_code: str
    user_id: int
    telegram_id: int
    name: str
    role: str
    action: str


@dataclass(frozen=True)
class LinkView:
    """One link of a case, for coordinators and ``sampark links list`` (no token, no hash)."""

    id: int
    case_id: int
    recipient_user_id: int
    recipient_name: str
    can_view: bool
    can_download: bool
    created_at: datetime
    expires_at: datetime
    revoked_at: datetime | None
    revoke_reason: str | None
    last_used_at: datetime | None
    state: str  # "active" | "expired" | "revoked"


def new_token() -> str:
    """A fresh random token (192 bits, URL-safe, no identifiers)."""
    return secrets.token_urlsafe(TOKEN_BYTES)


def client_key(ip: str | None) -> str:
    """The throttle bucket of a client address: the IPv4 address, or the IPv6 /64."""
    try:
        address = ipaddress.ip_address((ip or "").strip())
    except ValueError:
        return "unparsed"
    if isinstance(address, ipaddress.IPv6Address):
        if address.ipv4_mapped is not None:
            return str(address.ipv4_mapped)
        return str(ipaddress.IPv6Network((address, 64), strict=False))
    return str(address)


class LinkService:
    """Issue, resolve, list and revoke capability links; every access is audited."""

    def __init__(
        self,
        db: Database,
        clock: Clock,
        keyring: KeyRing,
        kv: KeyValue,
        *,
        default_ttl: timedelta = DEFAULT_TTL,
        failure_limit: int = 20,
        failure_window: int = 600,
        closed_grace: timedelta = CLOSED_CASE_GRACE,
    ) -> None:
        self.db = db
        self.default_ttl = default_ttl
        self.clock = clock
        self.kv = kv
        self.failure_limit = failure_limit
        self.failure_window = failure_window
        self.closed_grace = closed_grace
        self._key = keyring.derive(HMAC_PURPOSE)

    def token_hash(self, token: str) -> str:
        """Hex HMAC-SHA256 of ``token`` under the link-token key (what the database holds)."""
        return hmac.new(self._key, token.encode("utf-8"), hashlib.sha256).hexdigest()

    # ------------------------------------------------------------------ issuing

    async def issue(
        self,
        case_id: int,
        recipient_user_id: int,
        *,
        view: bool = True,
        download: bool = False,
        ttl: timedelta | None = None,
        issued_by: int | None = None,
    ) -> IssuedLink:
        """A new link for one recipient to one case; the recipient must be entitled to it.

        ``ttl`` defaults to the service's ``default_ttl`` (24 hours unless configured).
        """
        ttl = self.default_ttl if ttl is None else ttl
        if not view and not download:
            raise LinkError("a link must permit view or download")
        if not timedelta(0) < ttl <= MAX_TTL:
            raise LinkError(f"a link lives between a second and {MAX_TTL.days} days")
        now = self.clock.now()
        token = new_token()
        async with self.db.transaction() as session:
            case = await session.get(Case, case_id)
            if case is None:
                raise LinkError(f"no case {case_id}")
            recipient = await session.get(User, recipient_user_id)
            if recipient is None:
                raise LinkError(f"no user {recipient_user_id}")
            if not may_see_case(recipient, case):
                raise LinkError(f"user {recipient_user_id} may not see case {case_id}")
            link = Link(
                token_hash=self.token_hash(token),
                case_id=case_id,
                recipient_user_id=recipient_user_id,
                can_view=view,
                can_download=download,
                issued_by=issued_by,
                created_at=now,
                expires_at=now + ttl,
            )
            session.add(link)
            await session.flush()
            audit.record(
                session,
                now,
                "link.issue",
                subject=f"link:{link.id}",
                link_id=link.id,
                case_id=case_id,
                recipient_user_id=recipient_user_id,
                issued_by=issued_by,
                view=view,
                download=download,
                expires_at=link.expires_at.isoformat(),
            )
            return IssuedLink(token=token, link_id=link.id, expires_at=link.expires_at)

    # ------------------------------------------------------------------ resolving

    async def resolve(
        self,
        token: str,
        *,
        ip: str | None,
        user_agent: str | None,
        action: str = "view",
        audit_grant: bool = True,
    ) -> LinkAccess | Denied:
        """Check one request carrying ``token``; audited whether granted or denied.

        ``audit_grant=False`` skips the ``link.access`` row (and ``last_used_at``) of a
        *granted* request, for callers that audit a burst of frame requests once
        themselves; denials are always audited.
        """
        if action not in ACTIONS:
            raise ValueError(f"unknown action {action!r}")
        bucket = client_key(ip)
        if await self._blocked(bucket):
            await self._audit_throttled(bucket, ip, user_agent, action)
            return Denied(DenyReason.THROTTLED)
        now = self.clock.now()
        digest = self.token_hash(token) if _TOKEN_RE.fullmatch(token or "") else None
        details: dict[str, Any] = {
            "operation": action,
            "ip": _printable(ip, 64),
            "user_agent": _printable(user_agent, _UA_LIMIT),
        }
        async with self.db.transaction() as session:
            link = await self._find(session, digest)
            if link is None:
                audit.record(session, now, "link.denied", reason="unknown", **details)
                outcome: LinkAccess | DenyReason = DenyReason.UNKNOWN
            else:
                case = await session.get(Case, link.case_id)
                recipient = await session.get(User, link.recipient_user_id)
                outcome = _judge(link, case, recipient, action, now, self.closed_grace)
                details |= {
                    "link_id": link.id,
                    "case_id": link.case_id,
                    "recipient_user_id": link.recipient_user_id,
                }
                actor = recipient.telegram_id if recipient is not None else None
                subject = f"link:{link.id}"
                if isinstance(outcome, LinkAccess):
                    if audit_grant:
                        link.last_used_at = now
                        audit.record(
                            session, now, "link.access", actor=actor, subject=subject, **details
                        )
                    count_link_access("granted")
                    return outcome
                audit.record(
                    session,
                    now,
                    "link.denied",
                    actor=actor,
                    subject=subject,
                    reason=outcome.value,
                    **details,
                )
        assert isinstance(outcome, DenyReason)
        if outcome.value in _TRACKED_FAILURES:
            await self._count_failure(bucket)
        count_link_access(outcome.value)
        return Denied(outcome)

    async def _find(self, session: AsyncSession, digest: str | None) -> Link | None:
        """The link whose stored hash equals ``digest`` (compared in constant time)."""
        if digest is None:
            return None
        link = await session.scalar(select(Link).where(Link.token_hash == digest))
        if link is None or not hmac.compare_digest(link.token_hash, digest):
            return None
        return link

    # ------------------------------------------------------------------ Mini App

    async def authorize_member(
        self,
        telegram_id: int,
        case_id: int,
        *,
        ip: str | None,
        user_agent: str | None,
        action: str = "view",
        audit_grant: bool = True,
    ) -> MemberAccess | Denied:
        """Whether the Telegram user of a *verified* Mini App ``initData`` may see a case.

        The same entitlement as links (health worker, assigned specialist, coordinator of
        the district, admin; active accounts), for view, frame and download alike; audited
        as ``link.access`` / ``link.denied`` with ``via="webapp"`` (``audit_grant`` as for
        :meth:`resolve`). An unknown case and a case the user may not see are both
        ``forbidden`` (no hint which).
        """
        if action not in ACTIONS:
            raise ValueError(f"unknown action {action!r}")
        bucket = client_key(ip)
        if await self._blocked(bucket):
            await self._audit_throttled(bucket, ip, user_agent, action)
            return Denied(DenyReason.THROTTLED)
        now = self.clock.now()
        details: dict[str, Any] = {
            "via": "webapp",
            "operation": action,
            "case_id": case_id,
            "ip": _printable(ip, 64),
            "user_agent": _printable(user_agent, _UA_LIMIT),
        }
        async with self.db.transaction() as session:
            case = await session.get(Case, case_id)
            user = await session.scalar(select(User).where(User.telegram_id == telegram_id))
            if case is None or user is None or not may_see_case(user, case):
                audit.record(
                    session,
                    now,
                    "link.denied",
                    actor=telegram_id,
                    subject=f"case:{case_id}",
                    reason=DenyReason.FORBIDDEN.value,
                    **details,
                )
                count_link_access(DenyReason.FORBIDDEN.value)
                return Denied(DenyReason.FORBIDDEN)
            if audit_grant:
                audit.record(
                    session,
                    now,
                    "link.access",
                    actor=telegram_id,
                    subject=f"case:{case_id}",
                    user_id=user.id,
                    **details,
                )
            count_link_access("granted")
            return MemberAccess(
                case_id=case.id,
                case_code=case.code,
                user_id=user.id,
                telegram_id=user.telegram_id,
                name=user.full_name,
                role=str(user.role),
                action=action,
            )

    async def refuse_init_data(
        self, reason: str, *, ip: str | None, user_agent: str | None
    ) -> Denied:
        """Audit a Mini App request whose ``initData`` failed verification, and count it
        towards the address's throttle (forging is guessing too); ``unknown`` (404)."""
        bucket = client_key(ip)
        if await self._blocked(bucket):
            await self._audit_throttled(bucket, ip, user_agent, "view")
            return Denied(DenyReason.THROTTLED)
        async with self.db.transaction() as session:
            audit.record(
                session,
                self.clock.now(),
                "link.denied",
                reason=DenyReason.UNKNOWN.value,
                via="webapp",
                init_data=reason[:40],
                ip=_printable(ip, 64),
                user_agent=_printable(user_agent, _UA_LIMIT),
            )
        await self._count_failure(bucket)
        count_link_access("bad_init_data")
        return Denied(DenyReason.UNKNOWN)

    # ------------------------------------------------------------------ revoking

    async def revoke(self, link: int | str, *, by_user_id: int | None, reason: str) -> bool:
        """Revoke one link by id or by token; False if unknown or already revoked."""
        now = self.clock.now()
        async with self.db.transaction() as session:
            if isinstance(link, int):
                row = await session.get(Link, link)
            else:
                valid = _TOKEN_RE.fullmatch(link)
                row = await self._find(session, self.token_hash(link) if valid else None)
            if row is None or row.revoked_at is not None:
                return False
            self._revoke(session, row, now, by_user_id, reason)
            return True

    async def revoke_for_case(
        self,
        case_id: int,
        *,
        except_recipient: int | None = None,
        recipient: int | None = None,
        reason: str,
    ) -> int:
        """Revoke live links of a case — only ``recipient``'s, or all but
        ``except_recipient``'s, or all; how many.

        When a case is reassigned away from a specialist: ``recipient=<old specialist>``
        (the health worker's and coordinators' links stay), or ``except_recipient=<new
        specialist>`` to cut off everyone else too.
        """
        now = self.clock.now()
        async with self.db.transaction() as session:
            query = select(Link).where(Link.case_id == case_id, Link.revoked_at.is_(None))
            if except_recipient is not None:
                query = query.where(Link.recipient_user_id != except_recipient)
            if recipient is not None:
                query = query.where(Link.recipient_user_id == recipient)
            rows = (await session.scalars(query.order_by(Link.id))).all()
            for row in rows:
                self._revoke(session, row, now, None, reason)
            return len(rows)

    async def revoke_closed(self, older_than_days: int) -> int:
        """Revoke live links of cases closed (or cancelled) at least ``older_than_days`` ago."""
        if older_than_days < 0:
            raise ValueError("older_than_days must not be negative")
        now = self.clock.now()
        cutoff = now - timedelta(days=older_than_days)
        ended = func.coalesce(Case.closed_at, Case.updated_at)
        async with self.db.transaction() as session:
            rows = (
                await session.scalars(
                    select(Link)
                    .join(Case, Case.id == Link.case_id)
                    .where(
                        Link.revoked_at.is_(None),
                        Link.expires_at > now,
                        Case.status.in_([CaseStatus.CLOSED, CaseStatus.CANCELLED]),
                        ended <= cutoff,
                    )
                    .order_by(Link.id)
                )
            ).all()
            for row in rows:
                self._revoke(session, row, now, None, f"case closed {older_than_days}d")
            return len(rows)

    def _revoke(
        self,
        session: AsyncSession,
        row: Link,
        now: datetime,
        by_user_id: int | None,
        reason: str,
    ) -> None:
        row.revoked_at = now
        row.revoked_by = by_user_id
        row.revoke_reason = (reason or "revoked")[:_REASON_LIMIT]
        audit.record(
            session,
            now,
            "link.revoke",
            subject=f"link:{row.id}",
            link_id=row.id,
            case_id=row.case_id,
            recipient_user_id=row.recipient_user_id,
            by_user_id=by_user_id,
            reason=row.revoke_reason,
        )

    # ------------------------------------------------------------------ managing

    async def managed_case(self, telegram_id: int, code: str) -> int | None:
        """The case ``code`` if this Telegram user may manage its links: an active
        coordinator of its district or an administrator; None otherwise (or unknown)."""
        async with self.db.sessions() as session:
            user = await session.scalar(select(User).where(User.telegram_id == telegram_id))
            case = await session.scalar(select(Case).where(Case.code == code.strip().upper()))
            if user is None or case is None or not _manages(user, case):
                return None
            return case.id

    async def revoke_as_manager(self, telegram_id: int, link_id: int) -> LinkView | None:
        """Revoke one link for a coordinator of its case's district (or an administrator);
        the link as it is now, or None when unknown or not theirs to revoke."""
        now = self.clock.now()
        async with self.db.transaction() as session:
            user = await session.scalar(select(User).where(User.telegram_id == telegram_id))
            row = await session.get(Link, link_id)
            case = await session.get(Case, row.case_id) if row is not None else None
            if user is None or row is None or case is None or not _manages(user, case):
                return None
            if row.revoked_at is None:
                self._revoke(session, row, now, user.id, "revoked by coordinator")
            name = await session.scalar(
                select(User.full_name).where(User.id == row.recipient_user_id)
            )
            return _view(row, name or "", now)

    # ------------------------------------------------------------------ reading

    async def links_for_case(self, case_id: int) -> list[LinkView]:
        """Every link of a case, oldest first, with its state now."""
        now = self.clock.now()
        async with self.db.sessions() as session:
            rows: Sequence[tuple[Link, str]] = (
                await session.execute(
                    select(Link, User.full_name)
                    .join(User, User.id == Link.recipient_user_id)
                    .where(Link.case_id == case_id)
                    .order_by(Link.id)
                )
            ).all()
        return [_view(link, name, now) for link, name in rows]

    async def case_code(self, case_id: int) -> str | None:
        """The code of a case (as shown to people), or None."""
        async with self.db.sessions() as session:
            found: str | None = await session.scalar(select(Case.code).where(Case.id == case_id))
            return found

    async def case_id_for_code(self, code: str) -> int | None:
        """The id of the case with this code (as shown to people), or None."""
        async with self.db.sessions() as session:
            found: int | None = await session.scalar(
                select(Case.id).where(Case.code == code.strip().upper())
            )
            return found

    # ------------------------------------------------------------------ throttle

    def _redis_key(self, bucket: str, kind: str) -> str:
        return f"{self.kv.prefix}links:{kind}:{bucket}"

    async def _blocked(self, bucket: str) -> bool:
        hits = await self.kv.redis.get(self._redis_key(bucket, "fail"))
        return hits is not None and int(hits) >= self.failure_limit

    async def _count_failure(self, bucket: str) -> None:
        key = self._redis_key(bucket, "fail")
        async with self.kv.redis.pipeline(transaction=True) as pipe:
            pipe.incr(key)
            pipe.expire(key, self.failure_window, nx=True)
            await pipe.execute()

    async def _audit_throttled(
        self, bucket: str, ip: str | None, user_agent: str | None, action: str
    ) -> None:
        """Audit the first throttled request of each window only (a flood stays small)."""
        count_link_access(DenyReason.THROTTLED.value)
        first = await self.kv.redis.set(
            self._redis_key(bucket, "audited"), b"1", nx=True, ex=self.failure_window
        )
        if not first:
            return
        now = self.clock.now()
        async with self.db.transaction() as session:
            audit.record(
                session,
                now,
                "link.denied",
                reason=DenyReason.THROTTLED.value,
                operation=action,
                ip=_printable(ip, 64),
                user_agent=_printable(user_agent, _UA_LIMIT),
                throttle_bucket=bucket,
            )


def _printable(text: str | None, limit: int) -> str:
    """Client-supplied text for the audit: control characters dropped, at most ``limit``."""
    return "".join(ch for ch in (text or "")[: limit * 2] if ch.isprintable())[:limit]


def _manages(user: User, case: Case) -> bool:
    """Coordinators manage their district's links, administrators every link."""
    if user.status != Status.ACTIVE:
        return False
    if user.role == Role.ADMIN:
        return True
    return (
        user.role == Role.COORDINATOR
        and user.district is not None
        and (user.district == case.district)
    )


def _judge(
    link: Link,
    case: Case | None,
    recipient: User | None,
    action: str,
    now: datetime,
    closed_grace: timedelta,
) -> LinkAccess | DenyReason:
    """The decision for a known link: the access, or why not."""
    if link.revoked_at is not None:
        return DenyReason.REVOKED
    if now >= link.expires_at:
        return DenyReason.EXPIRED
    if case is not None and case.status in (CaseStatus.CLOSED, CaseStatus.CANCELLED):
        ended = case.closed_at or case.updated_at
        if ended is not None and now - ended >= closed_grace:
            return DenyReason.CLOSED
    if case is None or recipient is None or not may_see_case(recipient, case):
        return DenyReason.FORBIDDEN
    allowed = link.can_download if action == "download" else link.can_view
    if not allowed:
        return DenyReason.FORBIDDEN
    return LinkAccess(
        link_id=link.id,
        case_id=case.id,
        case_code=case.code,
        recipient_user_id=recipient.id,
        recipient_telegram_id=recipient.telegram_id,
        recipient_name=recipient.full_name,
        action=action,
        can_view=link.can_view,
        can_download=link.can_download,
        expires_at=link.expires_at,
    )


def _view(link: Link, name: str, now: datetime) -> LinkView:
    if link.revoked_at is not None:
        state = "revoked"
    elif now >= link.expires_at:
        state = "expired"
    else:
        state = "active"
    return LinkView(
        id=link.id,
        case_id=link.case_id,
        recipient_user_id=link.recipient_user_id,
        recipient_name=name,
        can_view=link.can_view,
        can_download=link.can_download,
        created_at=link.created_at,
        expires_at=link.expires_at,
        revoked_at=link.revoked_at,
        revoke_reason=link.revoke_reason,
        last_used_at=link.last_used_at,
        state=state,
    )
