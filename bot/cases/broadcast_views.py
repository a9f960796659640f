"""What a broadcast looks like to its readers: kinds, states, the view and its report."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum
from typing import Any

MAX_CAPTION = 1024  # Telegram's limit for the text under a photo or file


class Kind(StrEnum):
    BROADCAST = "broadcast"
    ALERT = "alert"


class BroadcastStatus(StrEnum):
    DRAFT = "draft"
    SCHEDULED = "scheduled"
    SENDING = "sending"
    DONE = "done"
    CANCELLED = "cancelled"


class BroadcastError(ValueError):
    """A broadcast that cannot be sent as asked (no English text, wrong status…)."""


@dataclass(frozen=True)
class BroadcastView:
    id: int
    author_id: int | None
    kind: Kind
    segment: dict[str, list[Any]]
    texts: dict[str, str]
    status: BroadcastStatus
    step: str | None
    scheduled_at: datetime | None
    weekly: bool
    created_at: datetime
    sent_at: datetime | None = None
    attachment: dict[str, str] | None = None

    @property
    def is_alert(self) -> bool:
        return self.kind is Kind.ALERT

    def caption_too_long(self) -> bool:
        """With a photo or file every text must fit Telegram's caption limit."""
        return self.attachment is not None and any(
            len(t) > MAX_CAPTION for t in self.texts.values()
        )


@dataclass(frozen=True)
class DeliveryReport:
    """Per-recipient delivery states of one broadcast (from the outbox rows)."""

    broadcast_id: int
    recipients: int
    queued: int = 0
    sent: int = 0
    blocked: int = 0
    failed: int = 0
    cancelled: int = 0
    seen: int = 0
    by_language: dict[str, int] = field(default_factory=dict)
    replies: int = 0
