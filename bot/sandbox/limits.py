"""Telegram limits, the error type the emulator raises, and flood control.

Every number is configurable through :class:`Limits` (constructor of the emulator or the
control API ``PATCH /control/limits``). Defaults follow the Bot API documentation.

Flood control counts only *sends* (``send*``, ``copyMessage``, ``forwardMessage``; an
album counts as one send). Each chat has a token bucket: private chats refill at
``private_rate`` per second with a burst of ``private_burst``; groups refill
``group_per_minute`` per minute with a burst of ``group_burst``; a global bucket refills at
``global_rate`` per second with a burst of ``global_burst``. Edits, chat actions and
callback answers are never limited. Over a limit the emulator answers HTTP 429 with
``parameters.retry_after`` = seconds until the next token, rounded up.

Each user message or button tap in a chat adds ``reply_credit`` tokens (default 1, capped
at the burst) to that chat's bucket: answering a person is never throttled just because a
scripted test user acts faster than any human could, while a bot that fires several
messages per user action, or broadcasts, still runs into 429s.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import asdict, dataclass, fields, replace
from typing import Any

MB = 1024 * 1024


class ApiError(Exception):
    """A Bot API error: becomes ``{"ok": false, "error_code": status, ...}`` with that status."""

    def __init__(
        self, status: int, description: str, parameters: dict[str, Any] | None = None
    ) -> None:
        super().__init__(description)
        self.status = status
        self.description = description
        self.parameters = parameters

    def payload(self) -> dict[str, Any]:
        """The JSON body Telegram sends for this error."""
        body: dict[str, Any] = {
            "ok": False,
            "error_code": self.status,
            "description": self.description,
        }
        if self.parameters:
            body["parameters"] = self.parameters
        return body


def bad_request(text: str) -> ApiError:
    """A 400 error with Telegram's ``Bad Request:`` prefix."""
    return ApiError(400, f"Bad Request: {text}")


def too_many_requests(retry_after: int) -> ApiError:
    """A 429 error with ``parameters.retry_after`` (PTB raises ``RetryAfter``)."""
    return ApiError(
        429,
        f"Too Many Requests: retry after {retry_after}",
        {"retry_after": retry_after},
    )


@dataclass(frozen=True)
class Limits:
    """All limits the emulator enforces; replace fields to tune them."""

    max_text_length: int = 4096
    max_caption_length: int = 1024
    max_callback_data_bytes: int = 64
    max_photo_bytes: int = 10 * MB
    max_photo_dimensions_sum: int = 10000
    max_photo_aspect_ratio: float = 20.0
    max_upload_bytes: int = 50 * MB
    max_download_bytes: int = 20 * MB
    media_group_min: int = 2
    media_group_max: int = 10
    max_commands: int = 100
    photo_long_side: int = 1280
    callback_answer_timeout: float = 15.0
    group_privacy: bool = True
    flood_enabled: bool = True
    private_rate: float = 1.0
    private_burst: int = 3
    group_per_minute: float = 20.0
    group_burst: int = 20
    global_rate: float = 30.0
    global_burst: int = 30
    reply_credit: float = 1.0

    def to_json(self) -> dict[str, Any]:
        """The limits as a JSON object."""
        return asdict(self)

    def updated(self, changes: dict[str, Any]) -> Limits:
        """A copy with ``changes`` applied; unknown names or wrong types raise ``ValueError``."""
        known = {f.name: f for f in fields(self)}
        clean: dict[str, Any] = {}
        for name, value in changes.items():
            if name not in known:
                raise ValueError(f"unknown limit {name!r}")
            current = getattr(self, name)
            if isinstance(current, bool):
                if not isinstance(value, bool):
                    raise ValueError(f"{name} must be true or false")
                clean[name] = value
            elif isinstance(current, int):
                if isinstance(value, bool) or not isinstance(value, int):
                    raise ValueError(f"{name} must be an integer")
                clean[name] = value
            else:
                if isinstance(value, bool) or not isinstance(value, int | float):
                    raise ValueError(f"{name} must be a number")
                clean[name] = float(value)
        return replace(self, **clean)


class TokenBucket:
    """A token bucket: ``capacity`` tokens, refilled at ``rate`` tokens per second."""

    def __init__(self, capacity: float, rate: float, now: float) -> None:
        self.capacity = capacity
        self.rate = rate
        self.tokens = capacity
        self.stamp = now

    def _refill(self, now: float) -> None:
        if now > self.stamp:
            self.tokens = min(self.capacity, self.tokens + (now - self.stamp) * self.rate)
        self.stamp = max(self.stamp, now)

    def wait_time(self, now: float) -> float:
        """Seconds until one token is available (0 when one is available now)."""
        self._refill(now)
        if self.tokens >= 1:
            return 0.0
        if self.rate <= 0:
            return math.inf
        return (1 - self.tokens) / self.rate

    def take(self, now: float) -> None:
        """Consume one token (call only after ``wait_time`` returned 0)."""
        self._refill(now)
        self.tokens -= 1


class FloodControl:
    """Per-chat and global send limits (see the module docstring)."""

    def __init__(self, limits: Limits, clock: Callable[[], float]) -> None:
        self.limits = limits
        self._clock = clock
        self._chats: dict[int, TokenBucket] = {}
        self._global: TokenBucket | None = None

    def configure(self, limits: Limits) -> None:
        """Apply new limits; buckets restart full."""
        self.limits = limits
        self._chats.clear()
        self._global = None

    def _bucket(self, chat_id: int, is_private: bool, now: float) -> TokenBucket:
        bucket = self._chats.get(chat_id)
        if bucket is None:
            limits = self.limits
            if is_private:
                bucket = TokenBucket(limits.private_burst, limits.private_rate, now)
            else:
                bucket = TokenBucket(limits.group_burst, limits.group_per_minute / 60.0, now)
            self._chats[chat_id] = bucket
        return bucket

    def credit(self, chat_id: int, is_private: bool) -> None:
        """A user wrote or tapped in ``chat_id``: the bot may answer (``reply_credit`` tokens)."""
        if not self.limits.flood_enabled or self.limits.reply_credit <= 0:
            return
        now = self._clock()
        bucket = self._bucket(chat_id, is_private, now)
        bucket.wait_time(now)  # refill first
        bucket.tokens = min(bucket.capacity, bucket.tokens + self.limits.reply_credit)

    def check(self, chat_id: int, is_private: bool) -> int:
        """Take a token for one send to ``chat_id``; return 0, or ``retry_after`` seconds."""
        limits = self.limits
        if not limits.flood_enabled:
            return 0
        now = self._clock()
        bucket = self._bucket(chat_id, is_private, now)
        if self._global is None:
            self._global = TokenBucket(limits.global_burst, limits.global_rate, now)
        wait = max(bucket.wait_time(now), self._global.wait_time(now))
        if wait > 0:
            return max(1, math.ceil(wait)) if math.isfinite(wait) else 3600
        bucket.take(now)
        self._global.take(now)
        return 0
