"""Download tickets: a short-lived, single-use URL for the Mini App's zip download.

A Mini App request is authenticated by a header, which a plain navigation cannot carry,
so the page asks for a ticket (with its ``initData``) and then simply navigates to
``/d/{ticket}``: the phone's browser streams the zip to disk instead of holding it in a
Blob.

A ticket is ``secrets.token_urlsafe(24)`` (192 random bits). Redis holds only
``sha256(ticket)`` as the key, with the case id, the Telegram user and the expiry as the
value; the key outlives the expiry (``RETAIN_SECONDS``) so an expired or used ticket is
told apart from one that never existed (410 against 404). Consuming is one atomic
``SET key used XX KEEPTTL GET``: two concurrent uses cannot both win. The ticket itself
is never stored or logged; refusals are audited (``link.denied``, ``via="ticket"``),
the granted download by the caller like any other download.
"""

from __future__ import annotations

import hashlib
import json
import re
import secrets
from dataclasses import dataclass
from enum import StrEnum

from bot.clock import Clock
from bot.storage import audit
from bot.storage.database import Database
from bot.storage.kv import KeyValue

TICKET_BYTES = 24
"""192 bits of randomness."""
TICKET_SECONDS = 60
RETAIN_SECONDS = 3600
"""How long a used or expired ticket is still known (410 rather than 404)."""
_USED = b"used"
_TICKET_RE = re.compile(r"[A-Za-z0-9_-]{16,128}")
_UA_LIMIT = 200


class TicketRefusal(StrEnum):
    UNKNOWN = "unknown"
    USED = "used"
    EXPIRED = "expired"

    @property
    def status(self) -> int:
        return 404 if self is TicketRefusal.UNKNOWN else 410


@dataclass(frozen=True)
class Ticket:
    """What a consumed ticket was bound to."""

    case_id: int
    telegram_id: int


class DownloadTickets:
    """Issue and consume download tickets."""

    def __init__(self, kv: KeyValue, clock: Clock, db: Database) -> None:
        self.kv = kv
        self.clock = clock
        self.db = db

    def _key(self, ticket: str) -> str:
        digest = hashlib.sha256(ticket.encode("utf-8")).hexdigest()
        return f"{self.kv.prefix}dlticket:{digest}"

    async def issue(self, case_id: int, telegram_id: int) -> str:
        """A fresh ticket for this case and user, valid ``TICKET_SECONDS`` and once."""
        ticket = secrets.token_urlsafe(TICKET_BYTES)
        expires = self.clock.now().timestamp() + TICKET_SECONDS
        value = json.dumps({"c": case_id, "u": telegram_id, "e": expires}).encode()
        await self.kv.redis.set(self._key(ticket), value, ex=RETAIN_SECONDS)
        return ticket

    async def consume(
        self, ticket: str, *, ip: str | None, user_agent: str | None
    ) -> Ticket | TicketRefusal:
        """Use ``ticket`` up (atomically); what it was for, or why it is refused (audited)."""
        old: object = None
        if _TICKET_RE.fullmatch(ticket or ""):
            old = await self.kv.redis.set(self._key(ticket), _USED, xx=True, keepttl=True, get=True)
        refusal = TicketRefusal.UNKNOWN
        if old == _USED:
            refusal = TicketRefusal.USED
        elif isinstance(old, bytes):
            data = json.loads(old)
            if self.clock.now().timestamp() <= float(data["e"]):
                return Ticket(case_id=int(data["c"]), telegram_id=int(data["u"]))
            refusal = TicketRefusal.EXPIRED
        await self._refused(refusal, ip, user_agent)
        return refusal

    async def _refused(self, reason: TicketRefusal, ip: str | None, user_agent: str | None) -> None:
        async with self.db.transaction() as session:
            audit.record(
                session,
                self.clock.now(),
                "link.denied",
                reason=f"ticket_{reason.value}",
                via="ticket",
                operation="download",
                ip=_printable(ip, 64),
                user_agent=_printable(user_agent, _UA_LIMIT),
            )


def _printable(text: str | None, limit: int) -> str:
    return "".join(ch for ch in (text or "")[: limit * 2] if ch.isprintable())[:limit]
