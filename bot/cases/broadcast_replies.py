"""Replies to a broadcast, threaded back to the coordinator who sent it.

A recipient replies by answering the broadcast message itself (a Telegram reply), or by
tapping its "Reply" button and answering the prompt that follows (the prompt's message id
is kept on their recipient row). Each reply is stored (staff writing to staff: names are
fine, patients are not named here) and passed to the broadcast's author through the
outbox, tagged with the broadcast's short id and first words and the sender's name and
role, in the author's language.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum

from sqlalchemy import func, select, update

from bot.accounts.directory import UserView, user_view
from bot.clock import Clock
from bot.domain import ROLE_LABELS, Status
from bot.i18n import Catalogs
from bot.outbox import Message, Outbox, Priority
from bot.storage.database import Database
from bot.storage.models import Broadcast, BroadcastRecipient, BroadcastReply, OutboxMessage, User

MAX_REPLY = 2000
TITLE_CHARS = 40
#: Outbox dedupe keys of the broadcast messages themselves: ``broadcast:<id>:<user>[:r…]``.
BROADCAST_KEY = "broadcast:"


class Delivery(StrEnum):
    FORWARDED = "forwarded"  # queued for the author
    KEPT = "kept"  # stored; the author cannot be reached (sent from the CLI, left, blocked)


@dataclass(frozen=True)
class ReplyView:
    id: int
    broadcast_id: int
    name: str
    role_label: str
    facility: str | None
    text: str
    created_at: datetime


def title(texts: dict[str, str], language: str = "en") -> str:
    """A broadcast's first words (its title), in ``language`` if it has that text."""
    text = (texts.get(language) or texts.get("en") or "").strip()
    first = text.splitlines()[0] if text else ""
    if len(first) <= TITLE_CHARS:
        return first
    cut = first[:TITLE_CHARS].rsplit(" ", 1)[0] or first[:TITLE_CHARS]
    return cut.rstrip(" ,.;:") + "…"


def broadcast_id_of(dedupe_key: str | None) -> int | None:
    """The broadcast id in an outbox dedupe key ``broadcast:<id>:<user>[...]``."""
    if not dedupe_key or not dedupe_key.startswith(BROADCAST_KEY):
        return None
    parts = dedupe_key.split(":")
    return int(parts[1]) if len(parts) >= 3 and parts[1].isdigit() else None


class BroadcastReplies:
    """Find which broadcast a reply answers, store it, pass it on to the author."""

    def __init__(self, db: Database, clock: Clock, outbox: Outbox, catalogs: Catalogs) -> None:
        self.db = db
        self.clock = clock
        self.outbox = outbox
        self.catalogs = catalogs

    async def is_recipient(self, user_id: int, broadcast_id: int) -> bool:
        async with self.db.transaction() as session:
            found = await session.scalar(
                select(func.count())
                .select_from(BroadcastRecipient)
                .where(
                    BroadcastRecipient.broadcast_id == broadcast_id,
                    BroadcastRecipient.user_id == user_id,
                )
            )
            return bool(found)

    async def prompt_sent(self, user_id: int, broadcast_id: int, message_id: int) -> None:
        """Remember the "type your reply" prompt: an answer to it is a reply to the broadcast."""
        async with self.db.transaction() as session:
            await session.execute(
                update(BroadcastRecipient)
                .where(
                    BroadcastRecipient.broadcast_id == broadcast_id,
                    BroadcastRecipient.user_id == user_id,
                )
                .values(reply_prompt_id=message_id)
            )

    async def find(self, user: UserView, message_id: int) -> int | None:
        """The broadcast that the bot's message ``message_id`` in ``user``'s chat belongs to.

        Either the broadcast message itself (its outbox row, while kept) or the prompt
        after a Reply tap; None for any other message, or if ``user`` was no recipient.
        """
        async with self.db.transaction() as session:
            prompted = await session.scalar(
                select(BroadcastRecipient.broadcast_id)
                .where(
                    BroadcastRecipient.user_id == user.id,
                    BroadcastRecipient.reply_prompt_id == message_id,
                )
                .order_by(BroadcastRecipient.id.desc())
                .limit(1)
            )
            if prompted is not None:
                return int(prompted)
            key = await session.scalar(
                select(OutboxMessage.dedupe_key).where(
                    OutboxMessage.chat_id == user.telegram_id,
                    OutboxMessage.message_id == message_id,
                    OutboxMessage.dedupe_key.startswith(BROADCAST_KEY),
                )
            )
        bid = broadcast_id_of(key)
        if bid is None or not await self.is_recipient(user.id, bid):
            return None
        return bid

    async def record(self, broadcast_id: int, user: UserView, text: str) -> Delivery:
        """Store the reply and queue it for the author (one transaction)."""
        body = text.strip()[:MAX_REPLY]
        now = self.clock.now()
        async with self.db.transaction() as session:
            broadcast = await session.get(Broadcast, broadcast_id)
            if broadcast is None:
                raise ValueError("no such broadcast")
            reply = BroadcastReply(
                broadcast_id=broadcast_id, user_id=user.id, text=body, created_at=now
            )
            session.add(reply)
            await session.flush()
            author = await session.get(User, broadcast.author_id) if broadcast.author_id else None
            if author is None or author.status != Status.ACTIVE or not author.reachable:
                return Delivery.KEPT
            tr = self.catalogs.get(author.language)
            heading = tr._(
                "↩️ Reply to #{id} “{title}” from {name} ({role}):",
                id=broadcast_id,
                title=title(dict(broadcast.texts or {}), author.language),
                name=user.full_name,
                role=_who(tr._(ROLE_LABELS[user.role]), user.facility_name),
            )
            params = {
                "text": f"{heading}\n\n{body}",
                "reply_markup": {
                    "inline_keyboard": [
                        [
                            {
                                "text": tr._("All replies"),
                                "callback_data": f"bc:{broadcast_id}:replies:0",
                            }
                        ]
                    ]
                },
            }
            message = Message(
                author.telegram_id,
                "sendMessage",
                params,
                Priority.ALERT,
                dedupe_key=f"bcreply:{reply.id}",
            )
            await self.outbox.enqueue([message], session=session)
        self.outbox.notify(Priority.ALERT)
        return Delivery.FORWARDED

    async def count(self, broadcast_id: int) -> int:
        async with self.db.transaction() as session:
            return int(
                await session.scalar(
                    select(func.count())
                    .select_from(BroadcastReply)
                    .where(BroadcastReply.broadcast_id == broadcast_id)
                )
                or 0
            )

    async def latest(self, broadcast_id: int, limit: int = 10) -> list[ReplyView]:
        """The newest replies, oldest of them first (reading order)."""
        async with self.db.transaction() as session:
            rows = (
                await session.execute(
                    select(BroadcastReply, User)
                    .join(User, User.id == BroadcastReply.user_id)
                    .where(BroadcastReply.broadcast_id == broadcast_id)
                    .order_by(BroadcastReply.id.desc())
                    .limit(limit)
                )
            ).all()
            views = []
            for reply, author in rows:
                who = user_view(author)
                views.append(
                    ReplyView(
                        reply.id,
                        broadcast_id,
                        who.full_name,
                        ROLE_LABELS[who.role],
                        who.facility_name,
                        reply.text,
                        reply.created_at,
                    )
                )
        return views[::-1]


def _who(role: str, facility: str | None) -> str:
    return f"{role}, {facility}" if facility else role
