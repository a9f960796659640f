"""Where a person's next message goes after tapping "Ask a question" or "Answer"."""

from __future__ import annotations

from dataclasses import dataclass

from bot.clock import Clock
from bot.storage.database import Database
from bot.storage.models import Compose


@dataclass(frozen=True)
class ComposeTarget:
    case_id: int
    kind: str  # "question" (specialist → health worker) or "answer"


class ComposeService:
    def __init__(self, db: Database, clock: Clock) -> None:
        self.db = db
        self.clock = clock

    async def point(self, telegram_id: int, case_id: int, kind: str) -> None:
        """The next message of ``telegram_id`` belongs to ``case_id``."""
        async with self.db.transaction() as session:
            row = await session.get(Compose, telegram_id)
            if row is None:
                row = Compose(
                    telegram_id=telegram_id, case_id=case_id, kind=kind, created_at=self.clock.now()
                )
                session.add(row)
            row.case_id, row.kind, row.created_at = case_id, kind, self.clock.now()

    async def take(self, telegram_id: int) -> ComposeTarget | None:
        """The pending target, cleared so it applies to one message only."""
        async with self.db.transaction() as session:
            row = await session.get(Compose, telegram_id)
            if row is None:
                return None
            await session.delete(row)
            return ComposeTarget(row.case_id, row.kind)

    async def peek(self, telegram_id: int) -> ComposeTarget | None:
        async with self.db.transaction() as session:
            row = await session.get(Compose, telegram_id)
            return ComposeTarget(row.case_id, row.kind) if row else None
