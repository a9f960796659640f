"""The persistent outbox: one row per Bot API call the bot makes on its own initiative.

Life of a row: ``queued`` → (claimed with a lease) ``sending`` → ``sent`` | ``failed`` |
``blocked``; ``cancelled`` before sending; ``uncertain`` when a process died while the
call was in flight and the call is not safe to repeat (see :meth:`Outbox.reconcile`).

Claiming is a conditional UPDATE (``queued`` → ``sending`` with a fresh claim token and a
lease expiry), so any number of processes share one queue and each row is sent by one of
them. Every later transition is conditioned on the claim token, so a process that lost
its lease cannot overwrite another's result.
"""

from __future__ import annotations

import secrets
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from enum import IntEnum, StrEnum
from typing import Any

from sqlalchemy import delete, func, select, update
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.ext.asyncio import AsyncSession

from bot.clock import Clock
from bot.storage.database import Database
from bot.storage.models import OutboxMessage

#: Calls whose repetition has no further visible effect: resent after a crash.
IDEMPOTENT_METHODS = frozenset(
    {"editMessageText", "editMessageReplyMarkup", "editMessageCaption", "deleteMessage"}
)
ERROR_MAX = 300


class Priority(IntEnum):
    """Lower goes first."""

    CLINICAL = 0  # offers, escalations, reports, questions: a patient is waiting
    ALERT = 1  # approvals, alerts
    ROUTINE = 2  # broadcasts


class OutboxStatus(StrEnum):
    QUEUED = "queued"
    SENDING = "sending"
    SENT = "sent"
    FAILED = "failed"  # 400 or retries exhausted: recorded, not retried
    BLOCKED = "blocked"  # 403: the user blocked the bot; nothing more goes to them
    CANCELLED = "cancelled"
    UNCERTAIN = "uncertain"  # a crash while in flight: not repeated (at most once)


@dataclass(frozen=True)
class Message:
    """One call to make: ``params`` as JSON, files as ``{"blob": id, ...}`` references."""

    chat_id: int
    method: str
    params: dict[str, Any]
    priority: Priority = Priority.ROUTINE
    dedupe_key: str | None = None
    receipt: dict[str, Any] | None = None


@dataclass(frozen=True)
class Due:
    """A row that may be sent now (the first of its chat)."""

    id: int
    chat_id: int
    priority: int


@dataclass(frozen=True)
class Claimed:
    """A row this process holds a lease on."""

    id: int
    chat_id: int
    priority: int
    method: str
    params: dict[str, Any]
    attempts: int
    receipt: dict[str, Any] | None
    token: str


@dataclass(frozen=True)
class Reconciled:
    """What :meth:`Outbox.reconcile` did with rows whose lease ran out."""

    requeued: int = 0
    uncertain: list[dict[str, Any]] = field(default_factory=list)  # their receipts


def _error(text: str) -> str:
    return text[:ERROR_MAX]


class Outbox:
    """Enqueue, claim and settle outbox rows; no Telegram here (the sender does that)."""

    def __init__(self, db: Database, clock: Clock, *, lease: timedelta = timedelta(minutes=2)):
        self.db = db
        self.clock = clock
        self.lease = lease
        self._listeners: list[Callable[[int], None]] = []

    def subscribe(self, listener: Callable[[int], None]) -> None:
        """Call ``listener(best_priority)`` after rows were enqueued in this process."""
        self._listeners.append(listener)

    def notify(self, priority: Priority | int) -> None:
        """Wake this process's listeners after rows were enqueued in a caller's transaction."""
        for listener in self._listeners:
            listener(int(priority))

    # -- enqueue ----------------------------------------------------------------------

    async def enqueue(
        self, messages: Sequence[Message], *, session: AsyncSession | None = None
    ) -> int:
        """Queue ``messages``; a known ``dedupe_key`` is a no-op. Returns how many were new.

        With ``session`` the rows join the caller's transaction (they commit with the
        change that caused them); listeners then hear nothing until the next poll.
        """
        if not messages:
            return 0
        if session is not None:
            return await self._insert(session, messages)
        async with self.db.transaction() as own:
            added = await self._insert(own, messages)
        if added:
            best = min(int(m.priority) for m in messages)
            for listener in self._listeners:
                listener(best)
        return added

    async def _insert(self, session: AsyncSession, messages: Sequence[Message]) -> int:
        now = self.clock.now()
        rows = [
            {
                "chat_id": m.chat_id,
                "priority": int(m.priority),
                "method": m.method,
                "params": m.params,
                "dedupe_key": m.dedupe_key,
                "status": OutboxStatus.QUEUED.value,
                "attempts": 0,
                "next_attempt_at": now,
                "receipt": m.receipt,
                "created_at": now,
            }
            for m in messages
        ]
        insert = pg_insert if session.get_bind().dialect.name == "postgresql" else sqlite_insert
        added = 0
        for row in rows:  # one statement per row: rowcount tells duplicates apart
            stmt = insert(OutboxMessage).values(**row)
            stmt = stmt.on_conflict_do_nothing(index_elements=["dedupe_key"])
            result = await session.execute(stmt)
            added += max(result.rowcount or 0, 0)  # type: ignore[attr-defined]
        return added

    # -- claim ------------------------------------------------------------------------

    async def due(self, limit: int, *, skip_chats: Iterable[int] = ()) -> list[Due]:
        """The next rows to send, best priority first, at most one per chat.

        A chat with a row being sent is left out, so one chat's messages keep their order.
        """
        now = self.clock.now()
        busy = select(OutboxMessage.chat_id).where(
            OutboxMessage.status == OutboxStatus.SENDING.value
        )
        query = (
            select(OutboxMessage.id, OutboxMessage.chat_id, OutboxMessage.priority)
            .where(
                OutboxMessage.status == OutboxStatus.QUEUED.value,
                OutboxMessage.next_attempt_at <= now,
                OutboxMessage.chat_id.not_in(busy),
            )
            .order_by(OutboxMessage.priority, OutboxMessage.id)
            .limit(limit)
        )
        skip = list(skip_chats)
        if skip:
            query = query.where(OutboxMessage.chat_id.not_in(skip))
        async with self.db.transaction() as session:
            rows = (await session.execute(query)).all()
        seen: set[int] = set()
        out: list[Due] = []
        for row_id, chat_id, priority in rows:
            if chat_id not in seen:
                seen.add(chat_id)
                out.append(Due(row_id, chat_id, priority))
        return out

    async def claim(self, row_id: int) -> Claimed | None:
        """Take a lease on a queued row (None if another process took it first)."""
        now = self.clock.now()
        token = secrets.token_hex(8)
        async with self.db.transaction() as session:
            result = await session.execute(
                update(OutboxMessage)
                .where(
                    OutboxMessage.id == row_id,
                    OutboxMessage.status == OutboxStatus.QUEUED.value,
                )
                .values(
                    status=OutboxStatus.SENDING.value,
                    lease_until=now + self.lease,
                    claim_token=token,
                    attempts=OutboxMessage.attempts + 1,
                )
                .execution_options(synchronize_session=False)
            )
            if not result.rowcount:  # type: ignore[attr-defined]
                return None
            row = await session.get(OutboxMessage, row_id, populate_existing=True)
            assert row is not None
            return Claimed(
                row.id,
                row.chat_id,
                row.priority,
                row.method,
                dict(row.params),
                row.attempts,
                dict(row.receipt) if row.receipt else None,
                token,
            )

    # -- settle -----------------------------------------------------------------------

    async def _settle(
        self, claimed: Claimed, status: OutboxStatus, **values: Any
    ) -> dict[str, Any] | None:
        """Move a claimed row on; returns its receipt, or None if the lease was lost."""
        async with self.db.transaction() as session:
            result = await session.execute(
                update(OutboxMessage)
                .where(
                    OutboxMessage.id == claimed.id,
                    OutboxMessage.claim_token == claimed.token,
                    OutboxMessage.status.in_(
                        [OutboxStatus.SENDING.value, OutboxStatus.UNCERTAIN.value]
                    ),
                )
                .values(status=status.value, lease_until=None, **values)
                .execution_options(synchronize_session=False)
            )
            if not result.rowcount:  # type: ignore[attr-defined]
                return None
        return claimed.receipt or {}

    async def sent(self, claimed: Claimed, message_id: int | None) -> dict[str, Any] | None:
        """The call succeeded; returns the receipt to act on ({} if none)."""
        return await self._settle(
            claimed,
            OutboxStatus.SENT,
            message_id=message_id,
            sent_at=self.clock.now(),
            error=None,
        )

    async def failed(self, claimed: Claimed, error: str) -> dict[str, Any] | None:
        """A permanent failure (400, retries exhausted): recorded, never retried."""
        return await self._settle(claimed, OutboxStatus.FAILED, error=_error(error))

    async def uncertain(self, claimed: Claimed, error: str) -> dict[str, Any] | None:
        """The call may or may not have reached Telegram (e.g. a read timeout): not repeated."""
        return await self._settle(claimed, OutboxStatus.UNCERTAIN, error=_error(error))

    async def retry(self, claimed: Claimed, error: str, delay: timedelta) -> None:
        """Back to the queue after ``delay``; the chat's later rows wait too (order kept)."""
        at = self.clock.now() + delay
        settled = await self._settle(
            claimed, OutboxStatus.QUEUED, error=_error(error), next_attempt_at=at
        )
        if settled is not None:
            await self._hold_chat(claimed, at)

    async def release(self, claimed: Claimed, error: str) -> None:
        """Back to the queue at once, the attempt not counted (e.g. a 429 for this chat)."""
        await self._settle(
            claimed,
            OutboxStatus.QUEUED,
            error=_error(error),
            attempts=OutboxMessage.attempts - 1,
        )

    async def _hold_chat(self, claimed: Claimed, at: datetime) -> None:
        async with self.db.transaction() as session:
            await session.execute(
                update(OutboxMessage)
                .where(
                    OutboxMessage.chat_id == claimed.chat_id,
                    OutboxMessage.status == OutboxStatus.QUEUED.value,
                    OutboxMessage.id > claimed.id,
                    OutboxMessage.next_attempt_at < at,
                )
                .values(next_attempt_at=at)
                .execution_options(synchronize_session=False)
            )

    async def blocked(self, claimed: Claimed, error: str) -> list[dict[str, Any]]:
        """403: this row and every queued row for the chat become ``blocked``.

        Returns the receipts of all of them, so their owners learn nothing was delivered.
        """
        receipt = await self._settle(claimed, OutboxStatus.BLOCKED, error=_error(error))
        receipts = [receipt] if receipt else []
        async with self.db.transaction() as session:
            rows = (
                await session.scalars(
                    select(OutboxMessage).where(
                        OutboxMessage.chat_id == claimed.chat_id,
                        OutboxMessage.status == OutboxStatus.QUEUED.value,
                    )
                )
            ).all()
            for row in rows:
                row.status = OutboxStatus.BLOCKED.value
                row.error = _error(error)
                if row.receipt:
                    receipts.append(dict(row.receipt))
        return receipts

    async def cancel(self, dedupe_prefix: str) -> int:
        """Cancel queued rows whose dedupe key starts with ``dedupe_prefix``."""
        async with self.db.transaction() as session:
            result = await session.execute(
                update(OutboxMessage)
                .where(
                    OutboxMessage.status == OutboxStatus.QUEUED.value,
                    OutboxMessage.dedupe_key.startswith(dedupe_prefix, autoescape=True),
                )
                .values(status=OutboxStatus.CANCELLED.value)
                .execution_options(synchronize_session=False)
            )
            return int(result.rowcount or 0)  # type: ignore[attr-defined]

    # -- after a crash ----------------------------------------------------------------

    async def reconcile(self, *, in_flight: Iterable[int] = ()) -> Reconciled:
        """Rows still ``sending`` after their lease: their process died mid-call.

        Telegram offers no way to ask whether a message was delivered, so a send whose
        outcome is unknown is never repeated: it becomes ``uncertain`` (at most once) and
        its receipt is returned so its owner can treat it as undelivered. Idempotent calls
        (edits, deletes) are queued again. ``in_flight`` are this process's own rows.
        """
        now = self.clock.now()
        mine = set(in_flight)
        requeued = 0
        uncertain: list[dict[str, Any]] = []
        async with self.db.transaction() as session:
            rows = (
                await session.scalars(
                    select(OutboxMessage).where(
                        OutboxMessage.status == OutboxStatus.SENDING.value,
                        OutboxMessage.lease_until < now,
                    )
                )
            ).all()
            for row in rows:
                if row.id in mine:
                    continue
                row.lease_until = None
                if row.method in IDEMPOTENT_METHODS:
                    row.status = OutboxStatus.QUEUED.value
                    row.next_attempt_at = now
                    requeued += 1
                else:
                    row.status = OutboxStatus.UNCERTAIN.value
                    row.error = "outcome unknown: the sending process stopped mid-call"
                    uncertain.append(dict(row.receipt or {}))
        return Reconciled(requeued, [r for r in uncertain if r])

    async def purge(self, older_than: timedelta) -> int:
        """Delete settled rows created more than ``older_than`` ago; returns how many."""
        settled = [
            s.value for s in OutboxStatus if s not in (OutboxStatus.QUEUED, OutboxStatus.SENDING)
        ]
        async with self.db.transaction() as session:
            result = await session.execute(
                delete(OutboxMessage)
                .where(
                    OutboxMessage.status.in_(settled),
                    OutboxMessage.created_at < self.clock.now() - older_than,
                )
                .execution_options(synchronize_session=False)
            )
            return int(result.rowcount or 0)  # type: ignore[attr-defined]

    # -- reading ----------------------------------------------------------------------

    async def counts(self) -> dict[str, int]:
        """How many rows are in each status."""
        async with self.db.transaction() as session:
            rows = await session.execute(
                select(OutboxMessage.status, func.count()).group_by(OutboxMessage.status)
            )
            return {status: int(n) for status, n in rows.all()}

    async def pending(self) -> int:
        """Rows not settled yet (queued or sending)."""
        counts = await self.counts()
        return counts.get(OutboxStatus.QUEUED.value, 0) + counts.get(OutboxStatus.SENDING.value, 0)
