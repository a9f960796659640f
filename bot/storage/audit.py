"""The audit trail: one row per access or decision, never patient data."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from bot.storage.models import AuditEvent


def record(
    session: AsyncSession,
    at: datetime,
    action: str,
    *,
    actor: int | None = None,
    subject: str | None = None,
    **details: Any,
) -> None:
    """Add an audit event to the caller's transaction."""
    session.add(
        AuditEvent(at=at, actor_telegram_id=actor, action=action, subject=subject, details=details)
    )
