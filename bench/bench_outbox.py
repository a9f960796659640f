"""Outbox benchmark: broadcast throughput against the budget, clinical delay behind a backlog.

Run from the repository root::

    python -m bench.bench_outbox                      # 1,000 recipients, 10,000 backlog (~1.5 min)
    python -m bench.bench_outbox --recipients 300 --backlog 2000     # quick look
    python -m bench.bench_outbox --database-url postgresql://postgres@127.0.0.1/sampark_bench \\
        --redis-url redis://127.0.0.1:6379/15       # throw-away databases: both are wiped

What runs: the Bot API emulator with Telegram's default flood limits ON (30 sends/s
globally with a burst of 30, 1/s per private chat after a burst of 3) and the real bot
(``running_bot``: unmodified python-telegram-bot, the outbox sender started by ``serve``)
with its default budget (``SEND_RATE_PER_SECOND`` = 28/s), SQLite and the in-process
Redis stand-in in a temporary directory unless ``--database-url``/``--redis-url`` say
otherwise; everything in this process, on this machine.

1. Throughput: N started users; N routine ``sendMessage`` rows are enqueued in one go.
   Rate = (N − 1) / (last − first ``sent_at``), also from enqueue to the last ``sent``
   (wall); as a fraction of the configured budget. 429 responses are counted.
2. Clinical delay: B routine rows (B distinct users) are enqueued, the sender drains them
   for 2 s, then a clinical message to a fresh specialist is enqueued; delay = enqueue →
   the emulator holding the message (long-poll on its event stream). Five trials, 1.5 s
   apart, while the backlog keeps going.
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import statistics
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
if str(REPO) not in sys.path:  # `python bench/bench_outbox.py`
    sys.path.insert(0, str(REPO))

from redis.asyncio import Redis  # noqa: E402
from sqlalchemy import func, select, text  # noqa: E402
from sqlalchemy.ext.asyncio import create_async_engine  # noqa: E402

from bot.app import Runtime  # noqa: E402
from bot.config import Settings  # noqa: E402
from bot.outbox import Message, Priority  # noqa: E402
from bot.sandbox.client import SandboxClient  # noqa: E402
from bot.sandbox.emulator import BotApiEmulator  # noqa: E402
from bot.sandbox.limits import Limits  # noqa: E402
from bot.sandbox.live import running_bot  # noqa: E402
from bot.storage.models import OutboxMessage  # noqa: E402

TRIALS = 5


def users(emulator: BotApiEmulator, n: int, name: str) -> list[int]:
    """``n`` users who started the bot (created in the emulator's state directly: fast)."""
    return [
        emulator.state.create_user({"first_name": f"{name} {i}", "started": True}).id
        for i in range(n)
    ]


def rows(chats: list[int], tag: str, priority: Priority = Priority.ROUTINE) -> list[Message]:
    return [Message(c, "sendMessage", {"text": f"{tag}: camp on Friday"}, priority) for c in chats]


async def wait_settled(runtime: Runtime) -> None:
    pending = await runtime.services.outbox.pending()
    while pending:
        await asyncio.sleep(0.05)
        pending = await runtime.services.outbox.pending()


async def throughput(runtime: Runtime, emulator: BotApiEmulator, n: int) -> dict[str, float]:
    chats = users(emulator, n, "Asha")
    start = time.monotonic()
    await runtime.services.outbox.enqueue(rows(chats, "broadcast"))
    enqueued = time.monotonic() - start
    await wait_settled(runtime)
    wall = time.monotonic() - start
    async with runtime.db.transaction() as session:
        first, last, sent = (
            await session.execute(
                select(
                    func.min(OutboxMessage.sent_at),
                    func.max(OutboxMessage.sent_at),
                    func.count(),
                ).where(OutboxMessage.status == "sent")
            )
        ).one()
    span = (last - first).total_seconds()
    return {
        "sent": float(sent),
        "enqueue_s": enqueued,
        "wall_s": wall,
        "rate": (sent - 1) / span if span else float("nan"),
        "wall_rate": sent / wall,
    }


async def clinical_delay(
    runtime: Runtime, emulator: BotApiEmulator, client: SandboxClient, backlog: int
) -> dict[str, float]:
    chats = users(emulator, backlog, "Camp")
    doctors = users(emulator, TRIALS, "Dr")
    start = time.monotonic()
    await runtime.services.outbox.enqueue(rows(chats, "routine"))
    enqueued = time.monotonic() - start
    await asyncio.sleep(2.0)
    delays = []
    for doctor in doctors:
        queued = time.monotonic()
        await runtime.services.outbox.enqueue(
            [Message(doctor, "sendMessage", {"text": "Emergency case"}, Priority.CLINICAL)]
        )
        await client.next_reply(doctor, timeout=30)
        delays.append(time.monotonic() - queued)
        await asyncio.sleep(1.5)
    counts = await runtime.services.outbox.counts()
    return {
        "enqueue_s": enqueued,
        "median": statistics.median(delays),
        "max": max(delays),
        "left": float(counts.get("queued", 0)),
    }


async def wipe(database_url: str, redis_url: str) -> None:
    if database_url:
        url = database_url.replace("postgresql://", "postgresql+asyncpg://", 1)
        engine = create_async_engine(url)
        async with engine.begin() as conn:
            await conn.execute(text("DROP SCHEMA public CASCADE"))
            await conn.execute(text("CREATE SCHEMA public"))
        await engine.dispose()
    if redis_url:
        redis = Redis.from_url(redis_url)
        await redis.flushdb()
        await redis.aclose()


async def main_async(args: argparse.Namespace) -> None:
    await wipe(args.database_url, args.redis_url)
    with tempfile.TemporaryDirectory() as tmp:
        settings = Settings(
            _env_file=None,  # type: ignore[call-arg]
            data_dir=Path(tmp) / "var",
            database_url=args.database_url,
            redis_url=args.redis_url,
            send_rate_per_second=args.rate,
        )
        async with (
            BotApiEmulator(limits=Limits(flood_enabled=True)) as emulator,
            running_bot(settings, emulator) as runtime,
            SandboxClient(emulator.control_url, default_timeout=30) as client,
        ):
            got = await throughput(runtime, emulator, args.recipients)
            stats = await client.stats()
            await client.reset_stats()
            delay = await clinical_delay(runtime, emulator, client, args.backlog)
            stats_after = await client.stats()
    backend = "PostgreSQL" if args.database_url else "SQLite"
    redis = "Redis" if args.redis_url else "in-process Redis stand-in"
    print(f"\nOutbox benchmark ({backend}, {redis}; emulator limits: Telegram's defaults)\n")
    print("| measure | result | target |")
    print("|---|---|---|")
    fraction = got["rate"] / args.rate
    print(
        f"| broadcast to {args.recipients:,} recipients: sending rate | "
        f"{got['rate']:.1f}/s = {fraction:.0%} of the {args.rate:g}/s budget | ≥ 90 % |"
    )
    print(
        f"| same, enqueue → last sent (wall, incl. the enqueue of {got['enqueue_s']:.1f} s) | "
        f"{got['wall_s']:.1f} s ({got['wall_rate']:.1f}/s) | — |"
    )
    print(f"| 429 responses during the broadcast | {stats['responses_429']} | 0 |")
    print(
        f"| clinical message behind {args.backlog:,} routine ones: delay, median / max of "
        f"{TRIALS} | {delay['median'] * 1000:.0f} ms / {delay['max'] * 1000:.0f} ms | < 2 s |"
    )
    print(
        f"| routine rows still queued after the trials | {delay['left']:,.0f} "
        f"(enqueue took {delay['enqueue_s']:.1f} s) | — |"
    )
    print(f"| 429 responses during the backlog | {stats_after['responses_429']} | 0 |")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--recipients", type=int, default=1000)
    parser.add_argument("--backlog", type=int, default=10_000)
    parser.add_argument("--rate", type=float, default=28.0, help="the bot's global budget /s")
    parser.add_argument("--database-url", default="")
    parser.add_argument("--redis-url", default="")
    args = parser.parse_args()
    logging.basicConfig(level=logging.ERROR)
    asyncio.run(main_async(args))


if __name__ == "__main__":
    main()
