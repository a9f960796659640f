"""Broadcasts and alerts: a message to a segment of users, one outbox row per person.

A broadcast is composed as a ``draft`` (its ``step`` is the composing dialogue's position),
then sent now or ``scheduled`` through a durable timer of kind ``BROADCAST`` (claimed once
across processes, so it fires once even after a restart). Sending writes one
``broadcast_recipients`` row per person (unique per broadcast and user: someone in two
segments gets one message) and enqueues one outbox row with the dedupe key
``broadcast:<id>:<user>``, so sending again is a no-op. Delivery counts are read from
the outbox rows' statuses. Alerts go with priority ALERT and carry a "Seen" button; every
message carries a "Reply" button (replies: ``bot.cases.broadcast_replies``). An attached
photo or PDF is sent by its Telegram file id (a broadcast holds no patient data) with the
text as its caption. The author's report message keeps itself current
(``bot.cases.broadcast_report``).
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Mapping, Sequence
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import func, select, update

from bot.accounts.directory import UserView, user_view
from bot.cases.broadcast_replies import BroadcastReplies
from bot.cases.broadcast_report import TIMER_KIND, LiveReports, refresh_payload
from bot.cases.broadcast_views import (
    MAX_CAPTION,
    BroadcastError,
    BroadcastStatus,
    BroadcastView,
    DeliveryReport,
    Kind,
)
from bot.cases.escalation import Timers
from bot.clock import Clock
from bot.domain import Status
from bot.i18n import LANGUAGE_NAMES, N_, Catalogs, Translator
from bot.outbox import Message, Outbox, OutboxStatus, Priority
from bot.storage.database import Database
from bot.storage.models import (
    Broadcast,
    BroadcastRecipient,
    BroadcastReply,
    OutboxMessage,
    Timer,
    User,
)

log = logging.getLogger(__name__)

#: The timer kind of a scheduled broadcast (payload ``{"broadcast_id": id}``, no case).
BROADCAST = TIMER_KIND
FALLBACK_LANGUAGE = "en"
SEGMENT_KEYS = ("roles", "districts", "facilities", "specialties", "languages")
MAX_TEXT = 3500
ATTACHMENT_TYPES = ("photo", "document")

ALERT_HEADING = N_("⚠️ ALERT")
SEEN_BUTTON = N_("Seen ✓")
REPLY_BUTTON = N_("↩️ Reply")


def normalise_segment(segment: Mapping[str, Iterable[Any]] | None) -> dict[str, list[Any]]:
    """Only known criteria, as sorted unique lists (facilities as ints)."""
    out: dict[str, list[Any]] = {}
    for key in SEGMENT_KEYS:
        values = list((segment or {}).get(key) or ())
        if key == "facilities":
            out[key] = sorted({int(v) for v in values})
        else:
            out[key] = sorted({str(v) for v in values if str(v)})
    return out


def matches(user: UserView, segment: Mapping[str, Sequence[Any]]) -> bool:
    """Whether ``user`` meets ALL of ``segment``'s criteria (an empty one matches anyone)."""
    roles = segment.get("roles") or ()
    districts = segment.get("districts") or ()
    facilities = segment.get("facilities") or ()
    specialties = segment.get("specialties") or ()
    languages = segment.get("languages") or ()
    return (
        (not roles or user.role.value in roles)
        and (not districts or user.district in districts)
        and (not facilities or user.facility_id in facilities)
        and (not specialties or any(s in specialties for s in user.specialties))
        and (not languages or user.language in languages)
    )


def _view(row: Broadcast) -> BroadcastView:
    return BroadcastView(
        id=row.id,
        author_id=row.author_id,
        kind=Kind(row.kind),
        segment=normalise_segment(row.segment),
        texts={str(k): str(v) for k, v in (row.texts or {}).items()},
        status=BroadcastStatus(row.status),
        step=row.step,
        scheduled_at=row.scheduled_at,
        weekly=row.weekday is not None,
        created_at=row.created_at,
        sent_at=row.sent_at,
        attachment={str(k): str(v) for k, v in row.attachment.items()} if row.attachment else None,
    )


def _checked(language: str, text: str) -> str:
    """A text for a known language, trimmed to ``MAX_TEXT``."""
    if language not in LANGUAGE_NAMES:
        raise BroadcastError(f"unknown language {language!r}")
    return text.strip()[:MAX_TEXT]


def dedupe_key(broadcast_id: int, user_id: int) -> str:
    return f"broadcast:{broadcast_id}:{user_id}"


class BroadcastService:
    """Compose, send, schedule, cancel and report broadcasts; no Telegram here."""

    def __init__(
        self, db: Database, clock: Clock, outbox: Outbox, timers: Timers, catalogs: Catalogs
    ) -> None:
        self.db = db
        self.clock = clock
        self.outbox = outbox
        self.timers = timers
        self.catalogs = catalogs
        self.replies = BroadcastReplies(db, clock, outbox, catalogs)
        self.live = LiveReports(db, outbox, catalogs, self._current)

    async def _current(self, broadcast_id: int) -> tuple[BroadcastView | None, DeliveryReport]:
        report = await self.report(broadcast_id)
        return await self.get(broadcast_id), report

    # -- composing --------------------------------------------------------------------

    async def create(
        self,
        author_id: int | None,
        kind: Kind = Kind.BROADCAST,
        *,
        segment: Mapping[str, Iterable[Any]] | None = None,
        texts: Mapping[str, str] | None = None,
        step: str | None = None,
    ) -> int:
        """A new draft; returns its id. ``texts``: ``{language code: text}``."""
        texts = {language: _checked(language, body) for language, body in (texts or {}).items()}
        async with self.db.transaction() as session:
            row = Broadcast(
                author_id=author_id,
                kind=Kind(kind).value,
                segment=normalise_segment(segment),
                texts=texts,
                status=BroadcastStatus.DRAFT.value,
                step=step,
                created_at=self.clock.now(),
            )
            session.add(row)
            await session.flush()
            return row.id

    async def get(self, broadcast_id: int) -> BroadcastView | None:
        async with self.db.transaction() as session:
            row = await session.get(Broadcast, broadcast_id)
            return _view(row) if row else None

    async def draft_of(self, author_id: int) -> BroadcastView | None:
        """The author's newest draft, if any (the dialogue in progress)."""
        async with self.db.transaction() as session:
            row = await session.scalar(
                select(Broadcast)
                .where(
                    Broadcast.author_id == author_id,
                    Broadcast.status == BroadcastStatus.DRAFT.value,
                )
                .order_by(Broadcast.id.desc())
                .limit(1)
            )
            return _view(row) if row else None

    async def update_draft(
        self,
        broadcast_id: int,
        *,
        kind: Kind | None = None,
        segment: Mapping[str, Iterable[Any]] | None = None,
        text: tuple[str, str] | None = None,
        attachment: Mapping[str, str] | None = None,
        step: str | None = None,
    ) -> BroadcastView:
        """Change a draft: kind, segment, one language's text, attachment, dialogue step."""
        async with self.db.transaction() as session:
            row = await session.get(Broadcast, broadcast_id)
            if row is None or row.status != BroadcastStatus.DRAFT.value:
                raise BroadcastError("not a draft")
            if kind is not None:
                row.kind = Kind(kind).value
            if segment is not None:
                row.segment = normalise_segment(segment)
            if text is not None:
                language, body = text
                texts = dict(row.texts or {})
                texts[language] = _checked(language, body)
                row.texts = texts
            if attachment is not None:
                if attachment.get("type") not in ATTACHMENT_TYPES or not attachment.get("file_id"):
                    raise BroadcastError("bad attachment")
                row.attachment = dict(attachment)
            row.step = step
            await session.flush()
            return _view(row)

    async def recent(self, author_id: int | None = None, limit: int = 10) -> list[BroadcastView]:
        """The newest non-draft broadcasts (of ``author_id``), newest first."""
        async with self.db.transaction() as session:
            query = select(Broadcast).where(Broadcast.status != BroadcastStatus.DRAFT.value)
            if author_id is not None:
                query = query.where(Broadcast.author_id == author_id)
            rows = await session.scalars(query.order_by(Broadcast.id.desc()).limit(limit))
            return [_view(r) for r in rows]

    # -- segment ----------------------------------------------------------------------

    async def resolve(self, segment: Mapping[str, Iterable[Any]]) -> list[UserView]:
        """Active, reachable users matching every criterion of ``segment``, by id."""
        wanted = normalise_segment(segment)
        async with self.db.transaction() as session:
            query = select(User).where(User.status == Status.ACTIVE, User.reachable.is_(True))
            if wanted["roles"]:
                query = query.where(User.role.in_(wanted["roles"]))
            if wanted["districts"]:
                query = query.where(User.district.in_(wanted["districts"]))
            if wanted["facilities"]:
                query = query.where(User.facility_id.in_(wanted["facilities"]))
            if wanted["languages"]:
                query = query.where(User.language.in_(wanted["languages"]))
            users = [user_view(u) for u in await session.scalars(query.order_by(User.id))]
        return [u for u in users if matches(u, wanted)]

    # -- sending ----------------------------------------------------------------------

    def render(self, broadcast: BroadcastView, language: str) -> tuple[str, str, dict[str, Any]]:
        """The language used (English if none), the Bot API method and its params."""
        text = broadcast.texts.get(language) or broadcast.texts[FALLBACK_LANGUAGE]
        used = language if broadcast.texts.get(language) else FALLBACK_LANGUAGE
        tr = self.catalogs.get(language)
        if broadcast.is_alert:
            text = f"{tr._(ALERT_HEADING)}\n\n{text}"
        params: dict[str, Any] = {"reply_markup": recipient_markup(tr, broadcast)}
        method = "sendMessage"
        attachment = broadcast.attachment
        if attachment:
            method = "sendPhoto" if attachment["type"] == "photo" else "sendDocument"
            params[attachment["type"]] = {"file_id": attachment["file_id"]}
            params["caption"] = text[:MAX_CAPTION]
        else:
            params["text"] = text
        return used, method, params

    async def set_report_message(self, broadcast_id: int, chat_id: int, message_id: int) -> None:
        """The author's report message: from now on it follows the counts by itself.

        A new message (not the one already followed) of a broadcast still sending, or of an
        alert, starts a chain of ``BROADCAST_REPORT`` timers (see ``broadcast_report``);
        a chain ends when its message is no longer the report message.
        """
        async with self.db.transaction() as session:
            row = await session.get(Broadcast, broadcast_id)
            if row is None or (row.report_chat_id, row.report_message_id) == (chat_id, message_id):
                return
            row.report_chat_id = chat_id
            row.report_message_id = message_id
            if row.status == BroadcastStatus.SENDING.value or row.kind == Kind.ALERT.value:
                payload = refresh_payload(broadcast_id, message_id)
                Timers.add(session, BROADCAST, None, self.clock.now(), payload)

    async def send(self, broadcast_id: int) -> int:
        """Queue one message per recipient; returns how many were new (re-sending: 0).

        Recipient rows and their outbox rows commit together; recipients already recorded
        keep their row and the outbox dedupe key makes a second call enqueue nothing twice.
        """
        now = self.clock.now()
        async with self.db.transaction() as session:
            row = await session.get(Broadcast, broadcast_id)
            if row is None:
                raise BroadcastError("no such broadcast")
            view = _view(row)
            if view.status is BroadcastStatus.CANCELLED:
                raise BroadcastError("cancelled")
            if not view.texts.get(FALLBACK_LANGUAGE):
                raise BroadcastError("English text required")
            if view.caption_too_long():
                raise BroadcastError("text too long for a caption")
        users = await self.resolve(view.segment)
        messages: list[Message] = []
        async with self.db.transaction() as session:
            row = await session.get(Broadcast, broadcast_id)
            assert row is not None
            known = {
                int(uid): lang
                for uid, lang in await session.execute(
                    select(BroadcastRecipient.user_id, BroadcastRecipient.language).where(
                        BroadcastRecipient.broadcast_id == broadcast_id
                    )
                )
            }
            for user in users:
                language, method, params = self.render(view, user.language)
                key = dedupe_key(broadcast_id, user.id)
                if user.id not in known:
                    session.add(
                        BroadcastRecipient(
                            broadcast_id=broadcast_id,
                            user_id=user.id,
                            dedupe_key=key,
                            language=language,
                            queued_at=now,
                        )
                    )
                priority = Priority.ALERT if view.is_alert else Priority.ROUTINE
                messages.append(Message(user.telegram_id, method, params, priority, dedupe_key=key))
            row.status = BroadcastStatus.SENDING.value
            row.step = None
            row.sent_at = row.sent_at or now
            # in the same transaction: every recipient row has its outbox row
            added = await self.outbox.enqueue(messages, session=session)
            if added and row.report_chat_id is not None and row.report_message_id is not None:
                # scheduled from the dialogue: its report message follows the sending
                payload = refresh_payload(broadcast_id, row.report_message_id)
                Timers.add(session, BROADCAST, None, now, payload)
        if added:
            self.outbox.notify(min(m.priority for m in messages))
        log.info("broadcast queued", extra={"broadcast_id": broadcast_id, "queued": added})
        return added

    # -- scheduling -------------------------------------------------------------------

    async def schedule(self, broadcast_id: int, at: datetime, *, weekly: bool = False) -> int:
        """Send at ``at`` (aware) through a durable timer; ``weekly`` repeats every 7 days.

        Returns the timer's id. Each weekly occurrence is sent as a copy of this broadcast
        (its own recipients and report).
        """
        if at.tzinfo is None:
            raise BroadcastError("naive datetime")
        async with self.db.transaction() as session:
            row = await session.get(Broadcast, broadcast_id)
            if row is None or row.status not in (
                BroadcastStatus.DRAFT.value,
                BroadcastStatus.SCHEDULED.value,
            ):
                raise BroadcastError("cannot schedule")
            if not (row.texts or {}).get(FALLBACK_LANGUAGE):
                raise BroadcastError("English text required")
            if weekly:  # as given (India time from the dialogue)
                row.weekday = at.weekday()
                row.at_minute = at.hour * 60 + at.minute
            at = at.astimezone(UTC)
            row.status = BroadcastStatus.SCHEDULED.value
            row.step = None
            row.scheduled_at = at
            timer = Timers.add(session, BROADCAST, None, at, {"broadcast_id": broadcast_id})
            await session.flush()
            return timer.id

    async def fire(self, timer_id: int, case_id: int | None, now: datetime) -> bool:
        """The escalator's handler for ``BROADCAST`` timers: claim once, then send.

        Refresh timers of a report message (``"report"`` in the payload) go to ``live``.
        """
        async with self.db.transaction() as session:
            pending = await session.get(Timer, timer_id)
            payload = dict(pending.payload or {}) if pending is not None else {}
        if "report" in payload:
            return await self.live.fire(timer_id, payload, now)
        async with self.db.transaction() as session:
            timer = await Timers.claim_in(session, timer_id, now)
            if timer is None:
                return False
            broadcast_id = int((timer.payload or {}).get("broadcast_id", 0))
            row = await session.get(Broadcast, broadcast_id)
            if row is None or row.status != BroadcastStatus.SCHEDULED.value:
                return True  # cancelled meanwhile: nothing to send
            target = broadcast_id
            if row.weekday is not None:  # a weekly one: send a copy, come back in 7 days
                copy = Broadcast(
                    author_id=row.author_id,
                    kind=row.kind,
                    segment=row.segment,
                    texts=row.texts,
                    attachment=row.attachment,
                    status=BroadcastStatus.DRAFT.value,
                    created_at=now,
                )
                session.add(copy)
                await session.flush()
                target = copy.id
                next_at = timer.due_at + timedelta(days=7)
                row.scheduled_at = next_at
                Timers.add(session, BROADCAST, None, next_at, {"broadcast_id": broadcast_id})
        await self.send(target)
        return True

    # -- cancelling -------------------------------------------------------------------

    async def cancel(self, broadcast_id: int) -> int:
        """Stop a scheduled or running broadcast; returns how many queued rows were dropped."""
        async with self.db.transaction() as session:
            row = await session.get(Broadcast, broadcast_id)
            if row is None:
                raise BroadcastError("no such broadcast")
            row.status = BroadcastStatus.CANCELLED.value
            row.step = None
        return await self.outbox.cancel(f"broadcast:{broadcast_id}:")

    # -- reporting --------------------------------------------------------------------

    async def report(self, broadcast_id: int) -> DeliveryReport:
        """Queued, sent, blocked, failed (and seen) counts; marks a finished one ``done``."""
        async with self.db.transaction() as session:
            rows = (
                await session.execute(
                    select(
                        BroadcastRecipient.language,
                        BroadcastRecipient.seen_at,
                        OutboxMessage.status,
                    )
                    .outerjoin(
                        OutboxMessage, OutboxMessage.dedupe_key == BroadcastRecipient.dedupe_key
                    )
                    .where(BroadcastRecipient.broadcast_id == broadcast_id)
                )
            ).all()
            counts = {"queued": 0, "sent": 0, "blocked": 0, "failed": 0, "cancelled": 0}
            languages: dict[str, int] = {}
            seen = 0
            for language, seen_at, status in rows:
                languages[language] = languages.get(language, 0) + 1
                seen += seen_at is not None
                if status in (OutboxStatus.QUEUED.value, OutboxStatus.SENDING.value):
                    counts["queued"] += 1
                elif status in (OutboxStatus.FAILED.value, OutboxStatus.UNCERTAIN.value):
                    counts["failed"] += 1
                elif status in counts:
                    counts[status] += 1
                else:  # no outbox row any more: purged after it settled (sent long ago)
                    counts["sent"] += 1
            row = await session.get(Broadcast, broadcast_id)
            if (
                row is not None
                and row.status == BroadcastStatus.SENDING.value
                and not counts["queued"]
            ):
                row.status = BroadcastStatus.DONE.value
            replies = await session.scalar(
                select(func.count())
                .select_from(BroadcastReply)
                .where(BroadcastReply.broadcast_id == broadcast_id)
            )
        return DeliveryReport(
            broadcast_id,
            len(rows),
            seen=seen,
            by_language=languages,
            replies=int(replies or 0),
            **counts,
        )

    # -- alerts -----------------------------------------------------------------------

    async def mark_seen(self, user_id: int, broadcast_id: int) -> bool:
        """Record that ``user_id`` saw the alert; False if they were not a recipient."""
        async with self.db.transaction() as session:
            result = await session.execute(
                update(BroadcastRecipient)
                .where(
                    BroadcastRecipient.broadcast_id == broadcast_id,
                    BroadcastRecipient.user_id == user_id,
                    BroadcastRecipient.seen_at.is_(None),
                )
                .values(seen_at=self.clock.now())
            )
            if result.rowcount:  # type: ignore[attr-defined]
                return True
            known = await session.scalar(
                select(func.count())
                .select_from(BroadcastRecipient)
                .where(
                    BroadcastRecipient.broadcast_id == broadcast_id,
                    BroadcastRecipient.user_id == user_id,
                )
            )
            return bool(known)

    async def unseen(self, broadcast_id: int) -> list[UserView]:
        """Recipients who have not tapped "Seen" yet."""
        async with self.db.transaction() as session:
            users = await session.scalars(
                select(User)
                .join(BroadcastRecipient, BroadcastRecipient.user_id == User.id)
                .where(
                    BroadcastRecipient.broadcast_id == broadcast_id,
                    BroadcastRecipient.seen_at.is_(None),
                )
                .order_by(User.id)
            )
            return [user_view(u) for u in users]

    async def resend_unseen(self, broadcast_id: int) -> int:
        """Send the alert again to those who have not seen it (still reachable ones)."""
        view = await self.get(broadcast_id)
        if view is None or not view.is_alert:
            raise BroadcastError("not an alert")
        if view.status is BroadcastStatus.CANCELLED:
            raise BroadcastError("cancelled")
        stamp = int(self.clock.now().timestamp())
        messages = []
        for user in await self.unseen(broadcast_id):
            if not user.is_active or not user.reachable:
                continue
            _, method, params = self.render(view, user.language)
            key = f"{dedupe_key(broadcast_id, user.id)}:r{stamp}"
            messages.append(
                Message(user.telegram_id, method, params, Priority.ALERT, dedupe_key=key)
            )
        return await self.outbox.enqueue(messages)


def recipient_markup(
    tr: Translator, broadcast: BroadcastView, *, seen: bool = False
) -> dict[str, Any]:
    """The buttons under a broadcast: "Seen" (an alert not yet seen) and "Reply"."""
    rows = []
    if broadcast.is_alert and not seen:
        rows.append([{"text": tr._(SEEN_BUTTON), "callback_data": f"seen:{broadcast.id}"}])
    rows.append([{"text": tr._(REPLY_BUTTON), "callback_data": f"bcr:{broadcast.id}"}])
    return {"inline_keyboard": rows}
