"""The outbox sender: takes due rows in priority order and makes their Bot API calls.

Limits come from a budget shared in Redis (``bot.outbox.budget``): the token's global
rate, 1 message/s per private chat, 20/min per group. A 429 pauses only its chat. 5xx and
network errors are retried with exponential backoff and jitter; 403 marks the user
unreachable and blocks the chat's rows; 400 fails the row for good.

At most once: a row is ``sending`` (with a lease) before its call starts and settled after
it returns. A process that dies in between leaves the row ``sending``; when the lease runs
out, ``Outbox.reconcile`` requeues idempotent edits and marks sends ``uncertain`` (never
resent). A read timeout on a send is ``uncertain`` too: Telegram may have delivered it.
Files are rendered at send time from their blob id (previews watermarked for the
recipient, deterministic from the row), so rows never hold raw bytes.
"""

from __future__ import annotations

import asyncio
import logging
import random
import time
import warnings
from collections.abc import Awaitable, Callable, Coroutine, Mapping
from contextvars import ContextVar
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, Protocol

from telegram import Bot, InlineKeyboardMarkup, InputMediaPhoto, Message
from telegram.error import (
    BadRequest,
    Forbidden,
    NetworkError,
    RetryAfter,
    TelegramError,
    TimedOut,
)
from telegram.ext import BaseRateLimiter

from bot.cases.attachments import AttachmentService
from bot.cases.ports import MessageRef
from bot.clock import Clock
from bot.imaging.watermark import Watermark
from bot.outbox import IDEMPOTENT_METHODS, Claimed, Outbox, Scope, SendBudget

log = logging.getLogger(__name__)

#: Calls Telegram counts against the flood limits.
SEND_ENDPOINTS = frozenset(
    {
        "sendMessage",
        "sendPhoto",
        "sendMediaGroup",
        "sendVoice",
        "sendDocument",
        "sendAudio",
        "sendVideo",
        "sendAnimation",
        "sendSticker",
        "sendLocation",
        "sendContact",
        "sendVenue",
        "sendPoll",
        "sendDice",
        "sendVideoNote",
        "copyMessage",
        "forwardMessage",
    }
)
#: Set inside the sender's own calls, so the tap below does not count them twice.
_FROM_OUTBOX: ContextVar[bool] = ContextVar("from_outbox", default=False)

#: ``receipt["kind"]`` → what to do once the row is settled (ref None: not delivered).
ReceiptHandler = Callable[[dict[str, Any], MessageRef | None], Awaitable[None]]


class FileLoader(Protocol):
    async def __call__(self, ref: dict[str, Any]) -> bytes | str:
        """The bytes of ``{"blob": id, "watermark"?: {...}}``, or the id of ``{"file_id": id}``."""
        ...


def attachment_files(attachments: AttachmentService) -> FileLoader:
    """Files from the encrypted store; previews watermarked for their recipient at send time."""

    async def load(ref: dict[str, Any]) -> bytes | str:
        if ref.get("file_id"):  # a file Telegram already has (a broadcast's attachment)
            return str(ref["file_id"])
        mark = ref.get("watermark")
        if mark:
            watermark = Watermark(
                mark["case_code"], mark["recipient"], datetime.fromisoformat(mark["when"])
            )
            return await attachments.watermarked(ref["blob"], watermark)
        return await attachments.blobs.aget(ref["blob"])

    return load


def watermark_ref(blob_id: str, case_code: str, recipient: str, when: datetime) -> dict[str, Any]:
    """A file reference rendered with a per-recipient watermark when sent."""
    return {
        "blob": blob_id,
        "watermark": {"case_code": case_code, "recipient": recipient, "when": when.isoformat()},
    }


@dataclass(frozen=True)
class SenderOptions:
    max_attempts: int = 6  # first try + retries for 5xx / network errors
    batch: int = 64  # rows looked at per round
    concurrency: int = 16  # calls in flight
    round_seconds: float = 0.5  # look again at the queue at least this often
    idle_seconds: float = 0.25  # poll interval when nothing is due (other processes' rows)
    reconcile_seconds: float = 15.0
    purge_seconds: float = 3600.0  # how often settled rows past the retention are deleted
    retention: timedelta = timedelta(days=30)  # settled rows are deleted after this
    backoff_base: float = 2.0
    backoff_cap: float = 300.0


def _retry_after(exc: RetryAfter) -> float:
    """``retry_after`` in seconds, whichever type this PTB version hands out."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        value = exc.retry_after
    return value.total_seconds() if isinstance(value, timedelta) else float(value)


class OutboxSender:
    """One per process; any number of processes may share the queue and the budget."""

    def __init__(
        self,
        outbox: Outbox,
        budget: SendBudget,
        bot: Bot,
        *,
        files: FileLoader,
        receipts: Mapping[str, ReceiptHandler],
        on_blocked: Callable[[int], Awaitable[object]],
        clock: Clock,
        options: SenderOptions | None = None,
        rng: Callable[[], float] = random.random,
    ) -> None:
        self.outbox = outbox
        self.budget = budget
        self.bot = bot
        self.files = files
        self.receipts = receipts
        self.on_blocked = on_blocked
        self.clock = clock
        self.options = options or SenderOptions()
        self.rng = rng
        self._slots = asyncio.Semaphore(self.options.concurrency)
        self._in_flight: dict[int, int] = {}  # row id → chat id
        self._tasks: set[asyncio.Task[None]] = set()
        self._later: dict[int, float] = {}  # chat id → monotonic time it may be tried
        self._wake = asyncio.Event()
        self._woken_priority: int | None = None
        outbox.subscribe(self._wake_up)

    def _wake_up(self, priority: int) -> None:
        if self._woken_priority is None or priority < self._woken_priority:
            self._woken_priority = priority
        self._wake.set()

    # -- the loop ---------------------------------------------------------------------

    async def run(self, stop: asyncio.Event) -> None:
        """Send until ``stop`` is set; then let calls in flight finish (no new claims)."""
        next_reconcile = next_purge = 0.0
        try:
            while not stop.is_set():
                try:
                    if time.monotonic() >= next_purge:
                        await self.outbox.purge(self.options.retention)
                        next_purge = time.monotonic() + self.options.purge_seconds
                    if time.monotonic() >= next_reconcile:
                        await self.reconcile()
                        next_reconcile = time.monotonic() + self.options.reconcile_seconds
                    started = await self.step(stop)
                except Exception:
                    log.exception("outbox round failed")
                    started = 0
                if not started:
                    await self._idle(stop)
        finally:
            await self.drain()

    async def _idle(self, stop: asyncio.Event) -> None:
        waits = [asyncio.ensure_future(stop.wait()), asyncio.ensure_future(self._wake.wait())]
        try:
            await asyncio.wait(
                waits, timeout=self.options.idle_seconds, return_when=asyncio.FIRST_COMPLETED
            )
        finally:
            for waiter in waits:
                waiter.cancel()

    async def drain(self) -> None:
        """Wait for every call in flight to be settled."""
        while self._tasks:
            await asyncio.gather(*list(self._tasks), return_exceptions=True)

    async def reconcile(self) -> None:
        """Settle rows left ``sending`` by a process that died (see module docstring)."""
        done = await self.outbox.reconcile(in_flight=self._in_flight.keys())
        if done.requeued or done.uncertain:
            log.warning(
                "outbox reconciled after a crash",
                extra={"requeued": done.requeued, "uncertain": len(done.uncertain)},
            )
        for receipt in done.uncertain:
            await self._receipt(receipt, None)

    async def step(self, stop: asyncio.Event | None = None) -> int:
        """One round: start calls for due rows while the budget allows; returns how many."""
        self._wake.clear()
        self._woken_priority = None
        now = time.monotonic()
        self._later = {chat: at for chat, at in self._later.items() if at > now}
        skip = set(self._later) | set(self._in_flight.values())
        rows = await self.outbox.due(self.options.batch, skip_chats=skip)
        deadline = now + self.options.round_seconds
        started = 0
        for row in rows:
            if stop is not None and stop.is_set():
                break
            if time.monotonic() > deadline:
                break
            woken = self._woken_priority
            if woken is not None and woken < row.priority:
                break  # something more urgent was queued: look again
            if row.chat_id in self._in_flight.values():
                continue
            grant = await self.budget.acquire(row.chat_id)
            while grant.scope is Scope.GLOBAL:
                await asyncio.sleep(grant.wait)
                woken = self._woken_priority
                if (stop is not None and stop.is_set()) or (
                    woken is not None and woken < row.priority
                ):
                    return started
                grant = await self.budget.acquire(row.chat_id)
            if grant.scope is Scope.CHAT:
                self._later[row.chat_id] = time.monotonic() + grant.wait
                continue
            await self._slots.acquire()
            claimed = await self.outbox.claim(row.id)
            if claimed is None:  # another process took it
                self._slots.release()
                continue
            self._in_flight[claimed.id] = claimed.chat_id
            task = asyncio.create_task(self._send(claimed))
            self._tasks.add(task)
            task.add_done_callback(self._tasks.discard)
            started += 1
        return started

    # -- one call ---------------------------------------------------------------------

    async def _send(self, claimed: Claimed) -> None:
        _FROM_OUTBOX.set(True)  # this task's own context
        try:
            await self._attempt(claimed)
        except Exception:
            log.exception("outbox row not settled", extra={"outbox_id": claimed.id})
        finally:
            self._in_flight.pop(claimed.id, None)
            self._slots.release()
            self._wake.set()  # the chat's next row may go now

    async def _attempt(self, claimed: Claimed) -> None:
        chat = claimed.chat_id
        try:
            message_id = await self._call(claimed)
        except RetryAfter as exc:
            wait = _retry_after(exc)
            await self.budget.pause(chat, wait)
            self._later[chat] = time.monotonic() + wait
            await self.outbox.release(claimed, f"429 retry after {wait:g}s")
            log.info("outbox chat paused by 429", extra={"retry_after": wait})
        except Forbidden as exc:
            receipts = await self.outbox.blocked(claimed, f"403 {exc.message}")
            if chat > 0:
                await self.on_blocked(chat)
            for each in receipts:
                await self._receipt(each, None)
        except BadRequest as exc:
            if claimed.method in IDEMPOTENT_METHODS and "not modified" in exc.message.lower():
                await self._settled(claimed, await self.outbox.sent(claimed, None), None)
                return
            await self._settled(claimed, await self.outbox.failed(claimed, f"400 {exc.message}"))
        except TimedOut as exc:
            pool = "pool" in exc.message.lower()  # never left this process
            if pool or claimed.method in IDEMPOTENT_METHODS:
                await self._retry(claimed, f"timeout {exc.message}")
            else:
                await self._settled(
                    claimed, await self.outbox.uncertain(claimed, f"timeout {exc.message}")
                )
        except NetworkError as exc:  # 5xx, connection errors
            await self._retry(claimed, f"network {exc.message}")
        except TelegramError as exc:
            await self._settled(claimed, await self.outbox.failed(claimed, exc.message))
        except Exception as exc:  # a file that cannot be read or rendered: not retried
            log.warning("outbox row cannot be sent", extra={"error": type(exc).__name__})
            await self._settled(claimed, await self.outbox.failed(claimed, type(exc).__name__))
        else:
            ref = MessageRef(chat, message_id) if message_id is not None else None
            await self._settled(claimed, await self.outbox.sent(claimed, message_id), ref)

    async def _retry(self, claimed: Claimed, error: str) -> None:
        if claimed.attempts >= self.options.max_attempts:
            await self._settled(claimed, await self.outbox.failed(claimed, error))
            return
        delay = min(
            self.options.backoff_cap, self.options.backoff_base * 2 ** (claimed.attempts - 1)
        )
        delay *= 0.5 + self.rng()  # jitter: 50 %-150 %
        await self.outbox.retry(claimed, error, timedelta(seconds=delay))

    async def _settled(
        self, claimed: Claimed, receipt: dict[str, Any] | None, ref: MessageRef | None = None
    ) -> None:
        if receipt:
            await self._receipt(receipt, ref)

    async def _receipt(self, receipt: dict[str, Any], ref: MessageRef | None) -> None:
        handler = self.receipts.get(str(receipt.get("kind")))
        if handler is None:
            return
        try:
            await handler(receipt, ref)
        except Exception:
            log.exception("outbox receipt failed", extra={"kind": receipt.get("kind")})

    async def _call(self, claimed: Claimed) -> int | None:
        """Make the row's Bot API call; the sent message's id (the first of an album)."""
        bot, chat, params = self.bot, claimed.chat_id, dict(claimed.params)
        raw_markup = params.pop("reply_markup", None)
        markup = InlineKeyboardMarkup.de_json(raw_markup, bot) if raw_markup else None
        protect = params.get("protect_content")
        method = claimed.method
        sent: Message | bool
        if method == "sendMessage":
            sent = await bot.send_message(
                chat, params["text"], reply_markup=markup, protect_content=protect
            )
        elif method == "sendPhoto":
            sent = await bot.send_photo(
                chat,
                await self.files(params["photo"]),
                caption=params.get("caption"),
                reply_markup=markup,
                protect_content=protect,
            )
        elif method == "sendVoice":
            sent = await bot.send_voice(
                chat,
                await self.files(params["voice"]),
                duration=params.get("duration"),
                caption=params.get("caption"),
                reply_markup=markup,
                protect_content=protect,
            )
        elif method == "sendDocument":
            sent = await bot.send_document(
                chat,
                await self.files(params["document"]),
                filename=params.get("filename"),
                caption=params.get("caption"),
                reply_markup=markup,
                protect_content=protect,
            )
        elif method == "sendMediaGroup":
            media = [InputMediaPhoto(await self.files(ref)) for ref in params["media"]]
            album = await bot.send_media_group(chat, media, protect_content=protect)
            return album[0].message_id if album else None
        elif method == "editMessageText":
            sent = await bot.edit_message_text(
                params["text"],
                chat_id=chat,
                message_id=params["message_id"],
                reply_markup=markup,
            )
            return int(params["message_id"])
        else:  # any other call, as JSON
            if raw_markup:
                params["reply_markup"] = raw_markup
            result = await bot.do_api_request(method, api_kwargs={"chat_id": chat, **params})
            return int(result["message_id"]) if isinstance(result, dict) else None
        return None if isinstance(sent, bool) else sent.message_id


class DirectSendTap(BaseRateLimiter[None]):
    """PTB's rate-limiter hook for direct replies (answers to a person's own action).

    They go at once, but each is counted in the token's shared budget, so the outbox leaves
    room for them; a 429 on one is waited out once if short. The outbox's own calls pass
    straight through (they were budgeted before they started).
    """

    def __init__(self, budget: SendBudget, *, max_wait: float = 5.0) -> None:
        self.budget = budget
        self.max_wait = max_wait

    async def initialize(self) -> None:
        """Nothing to set up."""

    async def shutdown(self) -> None:
        """Nothing to release."""

    async def process_request(
        self,
        callback: Callable[..., Coroutine[Any, Any, bool | dict[str, Any] | list[dict[str, Any]]]],
        args: Any,
        kwargs: dict[str, Any],
        endpoint: str,
        data: dict[str, Any],
        rate_limit_args: None,
    ) -> bool | dict[str, Any] | list[dict[str, Any]]:
        if _FROM_OUTBOX.get() or endpoint not in SEND_ENDPOINTS:
            return await callback(*args, **kwargs)
        try:
            await self.budget.debit()
        except Exception as exc:  # Redis trouble must not silence a reply
            log.warning("direct send not counted", extra={"error": type(exc).__name__})
        try:
            return await callback(*args, **kwargs)
        except RetryAfter as exc:
            wait = _retry_after(exc)
            if wait > self.max_wait:
                raise
            await asyncio.sleep(wait)
            return await callback(*args, **kwargs)
