"""The persistent, rate-limited outbox (no Telegram here: ``bot.handlers.sender`` sends)."""

from bot.outbox.budget import Grant, Scope, SendBudget, SendLimits
from bot.outbox.queue import (
    IDEMPOTENT_METHODS,
    Claimed,
    Due,
    Message,
    Outbox,
    OutboxStatus,
    Priority,
    Reconciled,
)

__all__ = [
    "IDEMPOTENT_METHODS",
    "Claimed",
    "Due",
    "Grant",
    "Message",
    "Outbox",
    "OutboxStatus",
    "Priority",
    "Reconciled",
    "Scope",
    "SendBudget",
    "SendLimits",
]
