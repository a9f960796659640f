"""SQLAlchemy models: the durable state of accounts, invites, dialogues and the audit trail."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    DateTime,
    ForeignKey,
    Index,
    Integer,
    MetaData,
    SmallInteger,
    String,
    Text,
    TypeDecorator,
    UniqueConstraint,
)
from sqlalchemy.engine import Dialect
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column, relationship

from bot.domain import Role, Status

NAMING = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


class UtcDateTime(TypeDecorator[datetime]):
    """Timezone-aware UTC datetimes on every backend (SQLite drops the offset)."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is not None and value.tzinfo is None:
            raise ValueError("naive datetime given; use the injected clock")
        return value.astimezone(UTC) if value is not None else None  # SQLite keeps no offset

    def process_result_value(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is not None and value.tzinfo is None:
            return value.replace(tzinfo=UTC)
        return value.astimezone(UTC) if value is not None else None


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING)
    type_annotation_map = {datetime: UtcDateTime(), dict[str, Any]: JSON()}  # noqa: RUF012


class Facility(Base):
    """A spoke: sub-centre, Health & Wellness Centre, PHC or imaging hub."""

    __tablename__ = "facilities"

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(200))
    district: Mapped[str] = mapped_column(String(100), index=True)
    kind: Mapped[str] = mapped_column(String(40), default="phc")


class User(Base):
    """A registered person; identified to the bot by their Telegram id."""

    __tablename__ = "users"

    id: Mapped[int] = mapped_column(primary_key=True)
    telegram_id: Mapped[int] = mapped_column(BigInteger, unique=True)
    role: Mapped[Role] = mapped_column(String(20))
    status: Mapped[Status] = mapped_column(String(20), index=True)
    language: Mapped[str] = mapped_column(String(8))
    full_name: Mapped[str] = mapped_column(String(200))
    qualification: Mapped[str | None] = mapped_column(String(200))
    registration_number: Mapped[str | None] = mapped_column(String(60))
    specialties: Mapped[list[str]] = mapped_column(JSON, default=list)
    district: Mapped[str | None] = mapped_column(String(100), index=True)
    facility_id: Mapped[int | None] = mapped_column(ForeignKey("facilities.id"))
    invite_id: Mapped[int | None] = mapped_column(Integer)
    reachable: Mapped[bool] = mapped_column(Boolean, default=True)
    created_at: Mapped[datetime]
    decided_at: Mapped[datetime | None]
    decided_by: Mapped[int | None] = mapped_column(ForeignKey("users.id"))

    facility: Mapped[Facility | None] = relationship(lazy="joined")


class Invite(Base):
    """A deep-link invitation bound to a role and optionally a district, facility, specialty."""

    __tablename__ = "invites"

    id: Mapped[int] = mapped_column(primary_key=True)
    code: Mapped[str] = mapped_column(String(64), unique=True)
    role: Mapped[Role] = mapped_column(String(20))
    district: Mapped[str | None] = mapped_column(String(100))
    facility_id: Mapped[int | None] = mapped_column(ForeignKey("facilities.id"))
    specialty: Mapped[str | None] = mapped_column(String(40))
    max_uses: Mapped[int] = mapped_column(Integer, default=1)
    uses: Mapped[int] = mapped_column(Integer, default=0)
    preapproved: Mapped[bool] = mapped_column(Boolean, default=False)
    expires_at: Mapped[datetime]
    revoked: Mapped[bool] = mapped_column(Boolean, default=False)
    created_by: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    created_at: Mapped[datetime]


class Dialogue(Base):
    """Where a person is in a multi-step conversation, written at every step.

    Also holds the language a not-yet-registered person picked.
    """

    __tablename__ = "dialogues"

    telegram_id: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    language: Mapped[str | None] = mapped_column(String(8))
    flow: Mapped[str | None] = mapped_column(String(40))
    step: Mapped[str | None] = mapped_column(String(40))
    data: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    updated_at: Mapped[datetime]


class AuditEvent(Base):
    """Who did what to whom; never holds patient data."""

    __tablename__ = "audit_events"

    id: Mapped[int] = mapped_column(primary_key=True)
    at: Mapped[datetime] = mapped_column(index=True)
    actor_telegram_id: Mapped[int | None] = mapped_column(BigInteger)
    action: Mapped[str] = mapped_column(String(60))
    subject: Mapped[str | None] = mapped_column(String(120))
    details: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    note: Mapped[str | None] = mapped_column(Text)


class Case(Base):
    """A consultation. Patient identifiers are stored only as encrypted field tokens."""

    __tablename__ = "cases"

    id: Mapped[int] = mapped_column(primary_key=True)
    code: Mapped[str] = mapped_column(String(12), unique=True)
    status: Mapped[str] = mapped_column(String(20), index=True)
    health_worker_id: Mapped[int] = mapped_column(ForeignKey("users.id"), index=True)
    facility_id: Mapped[int | None] = mapped_column(ForeignKey("facilities.id"))
    district: Mapped[str | None] = mapped_column(String(100), index=True)
    specialty: Mapped[str | None] = mapped_column(String(40))
    urgency: Mapped[str | None] = mapped_column(String(20))
    draft_step: Mapped[str | None] = mapped_column(String(40))
    age_value: Mapped[int | None] = mapped_column(Integer)
    age_unit: Mapped[str | None] = mapped_column(String(8))
    sex: Mapped[str | None] = mapped_column(String(8))
    patient_name_enc: Mapped[str | None] = mapped_column(Text)
    patient_phone_enc: Mapped[str | None] = mapped_column(Text)
    patient_abha_enc: Mapped[str | None] = mapped_column(Text)
    complaint: Mapped[str | None] = mapped_column(Text)
    history: Mapped[str | None] = mapped_column(Text)
    vitals: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    consent_by: Mapped[str | None] = mapped_column(String(20))
    consent_at: Mapped[datetime | None]
    specialist_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"), index=True)
    escalation_level: Mapped[int] = mapped_column(Integer, default=0)
    created_at: Mapped[datetime]
    updated_at: Mapped[datetime]
    submitted_at: Mapped[datetime | None]
    accepted_at: Mapped[datetime | None]
    reported_at: Mapped[datetime | None]
    acknowledged_at: Mapped[datetime | None]
    closed_at: Mapped[datetime | None]


class Attachment(Base):
    """A file of a case; originals and previews live encrypted in the blob store."""

    __tablename__ = "attachments"

    id: Mapped[int] = mapped_column(primary_key=True)
    case_id: Mapped[int] = mapped_column(ForeignKey("cases.id"), index=True)
    kind: Mapped[str] = mapped_column(String(20))
    status: Mapped[str] = mapped_column(String(20))
    failure: Mapped[str | None] = mapped_column(String(40))
    telegram_file_unique_id: Mapped[str | None] = mapped_column(String(100))
    original_blob: Mapped[str | None] = mapped_column(String(64))
    preview_blob: Mapped[str | None] = mapped_column(String(64))
    preview_hd_blob: Mapped[str | None] = mapped_column(String(64))
    meta: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    created_at: Mapped[datetime]


class Shift(Base):
    """A specialist on call for a specialty: weekly (weekday set) or one-off (date set).

    Times are wall-clock in the roster's time zone (Asia/Kolkata); ``available`` False is
    an override that takes someone off call.
    """

    __tablename__ = "shifts"

    id: Mapped[int] = mapped_column(primary_key=True)
    specialist_id: Mapped[int] = mapped_column(ForeignKey("users.id"), index=True)
    specialty: Mapped[str] = mapped_column(String(40), index=True)
    weekday: Mapped[int | None] = mapped_column(Integer)
    on_date: Mapped[str | None] = mapped_column(String(10))
    start_minute: Mapped[int] = mapped_column(Integer)
    end_minute: Mapped[int] = mapped_column(Integer)
    available: Mapped[bool] = mapped_column(Boolean, default=True)


class Offer(Base):
    """A case offered to one specialist; the first accept wins."""

    __tablename__ = "offers"

    id: Mapped[int] = mapped_column(primary_key=True)
    case_id: Mapped[int] = mapped_column(ForeignKey("cases.id"), index=True)
    specialist_id: Mapped[int] = mapped_column(ForeignKey("users.id"), index=True)
    status: Mapped[str] = mapped_column(String(20))
    offered_at: Mapped[datetime]
    decided_at: Mapped[datetime | None]
    decline_reason: Mapped[str | None] = mapped_column(String(40))
    chat_id: Mapped[int | None] = mapped_column(BigInteger)
    message_id: Mapped[int | None] = mapped_column(BigInteger)


class Timer(Base):
    """A durable timer (escalation): fires once, whichever process claims it first."""

    __tablename__ = "timers"

    id: Mapped[int] = mapped_column(primary_key=True)
    kind: Mapped[str] = mapped_column(String(40))
    case_id: Mapped[int | None] = mapped_column(ForeignKey("cases.id"), index=True)
    due_at: Mapped[datetime] = mapped_column(index=True)
    payload: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    fired_at: Mapped[datetime | None]
    cancelled: Mapped[bool] = mapped_column(Boolean, default=False)


class CaseMessage(Base):
    """A question or answer relayed between health worker and specialist."""

    __tablename__ = "case_messages"

    id: Mapped[int] = mapped_column(primary_key=True)
    case_id: Mapped[int] = mapped_column(ForeignKey("cases.id"), index=True)
    author_id: Mapped[int] = mapped_column(ForeignKey("users.id"))
    text: Mapped[str | None] = mapped_column(Text)
    attachment_id: Mapped[int | None] = mapped_column(ForeignKey("attachments.id"))
    created_at: Mapped[datetime]


class Report(Base):
    """The specialist's signed, structured report."""

    __tablename__ = "reports"

    id: Mapped[int] = mapped_column(primary_key=True)
    case_id: Mapped[int] = mapped_column(ForeignKey("cases.id"), unique=True)
    specialist_id: Mapped[int] = mapped_column(ForeignKey("users.id"))
    findings: Mapped[str] = mapped_column(Text)
    impression: Mapped[str] = mapped_column(Text)
    advice: Mapped[str] = mapped_column(Text)
    referral: Mapped[str] = mapped_column(String(20))
    follow_up_days: Mapped[int | None] = mapped_column(Integer)
    signed_name: Mapped[str] = mapped_column(String(200))
    signed_qualification: Mapped[str | None] = mapped_column(String(200))
    signed_registration: Mapped[str] = mapped_column(String(60))
    signed_at: Mapped[datetime]
    acknowledged_at: Mapped[datetime | None]


class Compose(Base):
    """Which case a person's next message belongs to (after tapping "Ask" or "Answer")."""

    __tablename__ = "compose"

    telegram_id: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    case_id: Mapped[int] = mapped_column(ForeignKey("cases.id"))
    kind: Mapped[str] = mapped_column(String(20))
    created_at: Mapped[datetime]


class OutboxMessage(Base):
    """One Bot API call the bot makes on its own initiative, sent by the outbox sender.

    ``params`` is the call as JSON; files are referenced by blob id (never raw bytes).
    ``receipt`` says where to record the sent message's reference (e.g. an offer's card).
    """

    __tablename__ = "outbox"
    __table_args__ = (
        Index("ix_outbox_due", "status", "priority", "id"),
        Index("ix_outbox_chat_status", "chat_id", "status"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    chat_id: Mapped[int] = mapped_column(BigInteger)
    priority: Mapped[int] = mapped_column(SmallInteger)
    method: Mapped[str] = mapped_column(String(40))
    params: Mapped[dict[str, Any]] = mapped_column(JSON)
    dedupe_key: Mapped[str | None] = mapped_column(String(200), unique=True)
    status: Mapped[str] = mapped_column(String(20))
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    next_attempt_at: Mapped[datetime]
    lease_until: Mapped[datetime | None]
    claim_token: Mapped[str | None] = mapped_column(String(32))
    message_id: Mapped[int | None] = mapped_column(BigInteger)
    error: Mapped[str | None] = mapped_column(String(300))
    receipt: Mapped[dict[str, Any] | None] = mapped_column(JSON)
    created_at: Mapped[datetime]
    sent_at: Mapped[datetime | None]


class Link(Base):
    """A capability link: one recipient, one case's study, explicit permissions, an expiry.

    Only an HMAC of the token is stored (``token_hash``, hex); the token itself is shown
    once, when the link is issued, and never written anywhere.
    """

    __tablename__ = "links"

    id: Mapped[int] = mapped_column(primary_key=True)
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    case_id: Mapped[int] = mapped_column(ForeignKey("cases.id"), index=True)
    recipient_user_id: Mapped[int] = mapped_column(ForeignKey("users.id"), index=True)
    can_view: Mapped[bool] = mapped_column(Boolean, default=True)
    can_download: Mapped[bool] = mapped_column(Boolean, default=False)
    issued_by: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    created_at: Mapped[datetime]
    expires_at: Mapped[datetime] = mapped_column(index=True)
    revoked_at: Mapped[datetime | None]
    revoked_by: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    revoke_reason: Mapped[str | None] = mapped_column(String(60))
    last_used_at: Mapped[datetime | None]


class Broadcast(Base):
    """A message to a segment of users (``kind`` broadcast or alert), composed by ``author``.

    ``segment``: ``{"roles": [...], "districts": [...], "facilities": [...],
    "specialties": [...], "languages": [...]}`` (an empty list matches anyone);
    ``texts``: ``{language: text}`` with English required. ``step`` is the composing
    dialogue's position while the broadcast is a draft.
    """

    __tablename__ = "broadcasts"

    id: Mapped[int] = mapped_column(primary_key=True)
    author_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    kind: Mapped[str] = mapped_column(String(20))
    segment: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    texts: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    status: Mapped[str] = mapped_column(String(20), index=True)
    step: Mapped[str | None] = mapped_column(String(20))
    scheduled_at: Mapped[datetime | None]
    weekday: Mapped[int | None] = mapped_column(SmallInteger)
    at_minute: Mapped[int | None] = mapped_column(SmallInteger)
    created_at: Mapped[datetime]
    sent_at: Mapped[datetime | None]
    #: ``{"type": "photo"|"document", "file_id": ..., "name"?: ...}`` (a Telegram file id)
    attachment: Mapped[dict[str, Any] | None] = mapped_column(JSON)
    #: the author's self-updating delivery report message
    report_chat_id: Mapped[int | None] = mapped_column(BigInteger)
    report_message_id: Mapped[int | None] = mapped_column(BigInteger)


class BroadcastRecipient(Base):
    """One recipient of a broadcast: one row (and one outbox message) per person."""

    __tablename__ = "broadcast_recipients"
    __table_args__ = (UniqueConstraint("broadcast_id", "user_id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    broadcast_id: Mapped[int] = mapped_column(ForeignKey("broadcasts.id"), index=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id"))
    dedupe_key: Mapped[str] = mapped_column(String(200))
    language: Mapped[str] = mapped_column(String(8))
    queued_at: Mapped[datetime]
    seen_at: Mapped[datetime | None]
    #: the "type your reply" prompt sent after a Reply tap (a reply to it is a reply here)
    reply_prompt_id: Mapped[int | None] = mapped_column(BigInteger)


class BroadcastReply(Base):
    """A recipient's reply to a broadcast, passed on to its author (staff, not patients)."""

    __tablename__ = "broadcast_replies"

    id: Mapped[int] = mapped_column(primary_key=True)
    broadcast_id: Mapped[int] = mapped_column(ForeignKey("broadcasts.id"), index=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id"))
    text: Mapped[str] = mapped_column(Text)
    created_at: Mapped[datetime]


class Upload(Base):
    """A resumable upload of one large file into a health worker's draft (an upload link).

    Only an HMAC of the link's token is stored (``token_hash``), as for capability links.
    ``received`` is how many bytes arrived (the tus ``Upload-Offset``); the bytes themselves
    are encrypted segments in the blob store (:class:`UploadSegment`). No file name is
    kept: it may hold a patient's name.
    """

    __tablename__ = "uploads"

    id: Mapped[int] = mapped_column(primary_key=True)
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    case_id: Mapped[int] = mapped_column(ForeignKey("cases.id"), index=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id"), index=True)
    chat_id: Mapped[int] = mapped_column(BigInteger)
    status_message_id: Mapped[int | None] = mapped_column(BigInteger)
    state: Mapped[str] = mapped_column(String(20), index=True)
    length: Mapped[int | None] = mapped_column(BigInteger)
    received: Mapped[int] = mapped_column(BigInteger, default=0)
    reported: Mapped[int] = mapped_column(SmallInteger, default=0)
    attachment_id: Mapped[int | None] = mapped_column(ForeignKey("attachments.id"))
    result: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    created_at: Mapped[datetime]
    expires_at: Mapped[datetime] = mapped_column(index=True)
    finished_at: Mapped[datetime | None]


class UploadSegment(Base):
    """One received chunk of an upload: ``size`` bytes at ``start``, encrypted in a blob."""

    __tablename__ = "upload_segments"
    __table_args__ = (UniqueConstraint("upload_id", "start"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    upload_id: Mapped[int] = mapped_column(ForeignKey("uploads.id"), index=True)
    start: Mapped[int] = mapped_column(BigInteger)
    size: Mapped[int] = mapped_column(Integer)
    blob_id: Mapped[str] = mapped_column(String(64))
