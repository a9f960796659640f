"""The consultation benchmark's two servers, each in its own process.

Telegram is not in the bot's process, so neither is the Bot API emulator: it runs in a
child process of its own (its photo resizing and flood bookkeeping use that process's
CPU and event loop, not the bot's). The bot runs alone in a second child process, as in
production: unmodified PTB polling the emulator over HTTP, its imaging worker processes,
the database it is given and the in-process Redis stand-in. The benchmark driver (the
scripted people, the pinger, the watcher) stays in the parent and reaches both over HTTP,
plus a pipe to the bot's process for what an administrator would do from the command
line (facilities, invites, rosters) and for the bot's own timings and error counts.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import multiprocessing
import os
import statistics
import tempfile
import time
from collections import Counter
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from multiprocessing.connection import Connection
from multiprocessing.process import BaseProcess
from pathlib import Path
from typing import Any, TypeVar

T = TypeVar("T")

START_TIMEOUT = 120.0
LAG_TICK = 0.01  # the loop-lag probe's sleep (s)


@dataclass(frozen=True)
class EmulatorAddress:
    """Where the emulator in the other process listens."""

    root_url: str
    bot_username: str

    @property
    def control_url(self) -> str:
        return f"{self.root_url}/control"


# ----------------------------------------------------------------------------- children


def emulator_main(conn: Connection) -> None:
    """Child process: the emulator (flood limits on, Telegram's defaults) until told to stop."""
    asyncio.run(_emulator(conn))


async def _emulator(conn: Connection) -> None:
    from bot.sandbox.emulator import BotApiEmulator
    from bot.sandbox.limits import Limits

    logging.basicConfig(level=logging.ERROR)
    loop = asyncio.get_running_loop()
    lag = LagProbe()
    async with BotApiEmulator(limits=Limits()) as emulator:
        lag.start()
        conn.send(EmulatorAddress(emulator.root_url, emulator.state.bot_username))
        while True:
            op, _ = await loop.run_in_executor(None, conn.recv)
            if op == "stop":
                break
            conn.send(("ok", lag.take()))  # "take": the emulator's loop lag so far


class ErrorCounter(logging.Handler):
    """Counts the bot's ERROR log records by exception (instead of printing tracebacks)."""

    def __init__(self) -> None:
        super().__init__(logging.ERROR)
        self.counts: Counter[str] = Counter()

    def emit(self, record: logging.LogRecord) -> None:
        exc = record.exc_info[1] if record.exc_info else None
        what = f"{type(exc).__name__}: {exc}" if exc else record.getMessage()
        self.counts[f"{record.getMessage()} ({what[:80]})"] += 1


class LagProbe:
    """How late the bot's event loop wakes a 10 ms sleep: what blocks the loop shows here."""

    def __init__(self) -> None:
        self.samples: list[float] = []
        self._task: asyncio.Task[None] | None = None

    def start(self) -> None:
        self._task = asyncio.create_task(self._run())

    async def _run(self) -> None:
        while True:
            before = time.perf_counter()
            await asyncio.sleep(LAG_TICK)
            self.samples.append(time.perf_counter() - before - LAG_TICK)

    def take(self) -> list[float]:
        samples, self.samples = self.samples, []
        return samples


@dataclass
class BotSide:
    """What the bot's process keeps between requests from the driver."""

    runtime: Any
    errors: ErrorCounter
    spans: dict[str, list[float]]
    lag: LagProbe


def timed(
    spans: dict[str, list[float]], name: str, func: Callable[..., Awaitable[T]]
) -> Callable[..., Awaitable[T]]:
    """``func`` that also appends each call's wall time (s) to ``spans[name]``."""

    async def wrapper(*args: Any, **kwargs: Any) -> T:
        started = time.perf_counter()
        try:
            return await func(*args, **kwargs)
        finally:
            spans.setdefault(name, []).append(time.perf_counter() - started)

    return wrapper


def instrument(runtime: Any, spans: dict[str, list[float]]) -> None:
    """Time the consent handler and its parts."""
    from bot.handlers import drafts

    services = runtime.services
    drafts._submit = timed(spans, "consent handler (_submit)", drafts._submit)  # type: ignore[assignment]
    services.drafts.submit = timed(spans, "  drafts.submit", services.drafts.submit)
    services.offers.route = timed(spans, "  offers.route", services.offers.route)
    processor = runtime.application.update_processor
    handle = processor.do_process_update

    async def do_process_update(update: Any, coroutine: Awaitable[Any]) -> None:
        message = getattr(update, "message", None)
        if message is None or message.text != "/help":
            await handle(update, coroutine)
            return
        await timed(spans, "/help update in the bot", handle)(update, coroutine)

    processor.do_process_update = do_process_update


def bot_main(conn: Connection, address: EmulatorAddress, database_url: str) -> None:
    """Child process: the bot against the emulator at ``address`` until told to stop."""
    asyncio.run(_bot(conn, address, database_url))


async def _bot(conn: Connection, address: EmulatorAddress, database_url: str) -> None:
    from bot.app import build_runtime, serve
    from bot.config import Settings
    from bot.sandbox.emulator import SANDBOX_TOKEN
    from bot.sandbox.live import free_port

    errors = ErrorCounter()
    root = logging.getLogger()
    for handler in root.handlers[:]:
        root.removeHandler(handler)
    root.addHandler(errors)
    root.setLevel(logging.ERROR)
    loop = asyncio.get_running_loop()
    with tempfile.TemporaryDirectory(prefix="sampark-bench-") as tmp:
        port = free_port()
        settings = Settings(_env_file=None).model_copy(  # type: ignore[call-arg]
            update={
                "data_dir": Path(tmp),
                "database_url": database_url,
                "redis_url": "",
                "keys_file": None,
                "log_level": "ERROR",
                "telegram_bot_token": SANDBOX_TOKEN,
                "telegram_api_base": address.root_url,
                "bot_username": address.bot_username,
                "web_host": "127.0.0.1",
                "web_port": port,
                "public_url": f"http://127.0.0.1:{port}",
            }
        )
        runtime = await build_runtime(settings)
        stop, ready = asyncio.Event(), asyncio.Event()
        task = asyncio.create_task(serve(runtime, stop, poll_timeout=1, ready=ready))
        try:
            await asyncio.wait(
                [task, asyncio.ensure_future(ready.wait())], return_when=asyncio.FIRST_COMPLETED
            )
            if task.done():
                task.result()
            root.setLevel(logging.ERROR)
            side = BotSide(runtime, errors, {}, LagProbe())
            instrument(runtime, side.spans)
            side.lag.start()
            conn.send(("ok", os.getpid()))
            while True:
                op, args = await loop.run_in_executor(None, conn.recv)
                if op == "stop":
                    break
                try:
                    conn.send(("ok", await OPERATIONS[op](side, *args)))
                except Exception as exc:  # reported to the driver, which raises it
                    conn.send(("error", f"{op}: {type(exc).__name__}: {exc}"))
        finally:
            stop.set()
            try:
                await task
            finally:
                await runtime.close()


async def _facility(side: BotSide, name: str, district: str) -> int:
    facility = await side.runtime.services.facilities.add(name, district)
    return int(facility.id)


async def _invite(side: BotSide, role: str, kwargs: dict[str, Any]) -> str:
    from bot.domain import Role

    made = await side.runtime.services.invites.create(Role(role), **kwargs)
    return str(made.code)


async def _on_call(side: BotSide, telegram_id: int, specialty: str) -> bool:
    """The specialist with ``telegram_id`` on call for ``specialty`` all week."""
    services = side.runtime.services
    user = await services.directory.by_telegram(telegram_id)
    if user is None:
        return False
    for day in range(7):
        await services.rosters.add_weekly(user.id, specialty, day, "00:00", "24:00")
    return True


async def _take(side: BotSide) -> dict[str, Any]:
    """Spans, errors and loop lag since the last take; start again from zero."""
    spans = {name: list(values) for name, values in side.spans.items()}
    side.spans.clear()
    errors, side.errors.counts = side.errors.counts, Counter()
    return {"spans": spans, "errors": errors, "lag": side.lag.take()}


OPERATIONS: dict[str, Callable[..., Awaitable[Any]]] = {
    "facility": _facility,
    "invite": _invite,
    "on_call": _on_call,
    "take": _take,
}


# ----------------------------------------------------------------------------- parent


class Child:
    """A child process and the parent's end of its pipe (one request at a time)."""

    def __init__(self, target: Callable[..., None], *args: Any) -> None:
        context = multiprocessing.get_context("spawn")
        self.conn, child_end = context.Pipe()
        self.process: BaseProcess = context.Process(
            target=target, args=(child_end, *args), daemon=False
        )
        self.process.start()
        child_end.close()
        self._lock = asyncio.Lock()

    async def receive(self) -> Any:
        """The child's next message (raises after ``START_TIMEOUT`` without one)."""
        loop = asyncio.get_running_loop()
        ready = await loop.run_in_executor(None, self.conn.poll, START_TIMEOUT)
        if not ready:
            raise TimeoutError(f"no answer from {self.process.name} in {START_TIMEOUT:.0f} s")
        return self.conn.recv()

    async def call(self, op: str, *args: Any) -> Any:
        async with self._lock:
            self.conn.send((op, args))
            status, value = await self.receive()
        if status != "ok":
            raise RuntimeError(value)
        return value

    async def stop(self) -> None:
        with contextlib.suppress(BrokenPipeError, OSError):
            self.conn.send(("stop", ()))
        loop = asyncio.get_running_loop()
        await loop.run_in_executor(None, self.process.join, 60)
        if self.process.is_alive():
            self.process.terminate()
            await loop.run_in_executor(None, self.process.join, 10)


def lag_summary(samples: list[float]) -> str:
    """Loop lag p50 / p99 / max in ms."""
    if not samples:
        return "–"
    ordered = sorted(samples)
    p99 = ordered[min(len(ordered) - 1, int(0.99 * len(ordered)))]
    return f"{1000 * statistics.median(ordered):.0f} / {1000 * p99:.0f} / {1000 * ordered[-1]:.0f}"
