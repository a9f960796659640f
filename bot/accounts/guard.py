"""Update hygiene shared by every process: each update handled once, strangers throttled."""

from __future__ import annotations

from bot.storage.kv import KeyValue

#: Telegram may redeliver an update after a crash before the offset was confirmed.
UPDATE_MEMORY_SECONDS = 24 * 3600


class UpdateGuard:
    def __init__(self, kv: KeyValue, stranger_limit: int = 20, window_seconds: int = 60) -> None:
        self.kv = kv
        self.stranger_limit = stranger_limit
        self.window_seconds = window_seconds

    async def first_delivery(self, bot_id: int, update_id: int) -> bool:
        """True unless this update was already handled by any process."""
        return await self.kv.claim_once(f"update:{bot_id}:{update_id}", UPDATE_MEMORY_SECONDS)

    async def stranger_may_speak(self, telegram_id: int) -> bool:
        """Unregistered people get answers, but not unlimited ones."""
        return await self.kv.within_limit(
            f"stranger:{telegram_id}", self.stranger_limit, self.window_seconds
        )
