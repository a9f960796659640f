"""Update delivery benchmark: ``/help`` round trip by long polling and by webhook.

Run from the repository root::

    python -m bench.bench_webhook                 # 10 users × 15 rounds per mode (~40 s)
    python -m bench.bench_webhook --users 20 --rounds 10

What runs: the Bot API emulator and the real bot (``running_bot``: unmodified
python-telegram-bot, SQLite and the in-process Redis stand-in in a temporary directory),
all in this process, once per mode:

* **polling**: PTB long-polls ``getUpdates`` (the emulator answers a waiting poll as soon as
  an update is queued);
* **webhook**: the bot sets a webhook with a random secret on the emulator, which POSTs each
  update to the bot's aiohttp receiver (secret checked, 200 at once, update queued for PTB).

N users (strangers to the bot) each send ``/help``, wait for the answer, and send the next
one no sooner than ``--interval`` seconds after the previous one, all N at once. The round
trip is measured from just before the control API call that makes the user send the
command until the bot's answer is seen on the emulator's event stream (a long poll), so
it includes queueing the update, delivering it (poll or push), the handlers and
``sendMessage``. One untimed ``/help`` per user first.

Pacing: the bot keeps Telegram's per-chat budget (``SEND_PRIVATE_PER_SECOND``, 1/s) for its
own replies, and answers a stranger at most 20 times a minute; the default interval
(1.1 s) and rounds (15) stay inside both, so the numbers show delivery, not throttling.
The emulator's flood limits are off for the same reason.

No timing is asserted in the tests; this only prints a markdown table.
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import math
import sys
import tempfile
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
if str(REPO) not in sys.path:  # `python bench/bench_webhook.py`
    sys.path.insert(0, str(REPO))

from bot.config import Settings  # noqa: E402
from bot.sandbox.client import SandboxClient, SandboxTimeout  # noqa: E402
from bot.sandbox.emulator import BotApiEmulator  # noqa: E402
from bot.sandbox.limits import Limits  # noqa: E402
from bot.sandbox.live import MODES, Mode, running_bot  # noqa: E402

REPLY_TIMEOUT = 30.0  # an answer slower than this counts as none (inf)
STRANGER_LIMIT = 20  # answers per minute the bot gives one unregistered user


@dataclass
class ModeResult:
    mode: Mode
    users: int
    samples: list[float]  # milliseconds; inf for no answer
    delivered: int  # updates the emulator pushed (webhook) — 0 when polling
    delivery_errors: int
    seconds: float

    @property
    def answered(self) -> list[float]:
        return [s for s in self.samples if math.isfinite(s)]


def percentile(values: Sequence[float], q: float) -> float:
    """Nearest-rank percentile (``q`` in 0..100); NaN for no values."""
    if not values:
        return math.nan
    ordered = sorted(values)
    rank = max(1, math.ceil(q / 100 * len(ordered)))
    return ordered[rank - 1]


async def user_loop(
    client: SandboxClient, user_id: int, rounds: int, interval: float, out: list[float]
) -> None:
    """One untimed ``/help``, then ``rounds`` timed ones at most one per ``interval``."""
    await client.send_command(user_id, "help")
    await client.next_reply(user_id, REPLY_TIMEOUT)
    for _ in range(rounds):
        started = time.perf_counter()
        await client.send_command(user_id, "help")
        try:
            await client.next_reply(user_id, REPLY_TIMEOUT)
        except SandboxTimeout:
            out.append(math.inf)
            continue
        elapsed = time.perf_counter() - started
        out.append(elapsed * 1000)
        await asyncio.sleep(max(0.0, interval - elapsed))


async def run_mode(mode: Mode, users: int, rounds: int, interval: float) -> ModeResult:
    """A fresh emulator, database and bot in ``mode``; all users at once."""
    with tempfile.TemporaryDirectory(prefix="sampark-bench-") as tmp:
        settings = Settings(_env_file=None).model_copy(  # type: ignore[call-arg]
            update={
                "data_dir": Path(tmp),
                "database_url": "",
                "redis_url": "",
                "keys_file": None,
                "log_level": "ERROR",
            }
        )
        async with (
            BotApiEmulator(limits=Limits(flood_enabled=False), allow_loopback_http=True) as emu,
            running_bot(settings, emu, mode=mode),
            SandboxClient(emu.control_url, default_timeout=REPLY_TIMEOUT) as client,
        ):
            logging.getLogger().setLevel(logging.ERROR)
            people = [await client.create_user(f"User{i}") for i in range(users)]
            samples: list[float] = []
            started = time.perf_counter()
            await asyncio.gather(
                *(user_loop(client, p.id, rounds, interval, samples) for p in people)
            )
            seconds = time.perf_counter() - started
            hook = await client.webhook()
    return ModeResult(mode, users, samples, int(hook["delivered"]), len(hook["errors"]), seconds)


def table(results: Sequence[ModeResult]) -> str:
    rows = [
        "| mode | users | round trips | p50 ms | p95 ms | max ms | no answer | pushed | errors |",
        "|---|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for r in results:
        ok = r.answered
        rows.append(
            f"| {r.mode} | {r.users} | {len(r.samples)} | {percentile(ok, 50):.1f} | "
            f"{percentile(ok, 95):.1f} | {max(ok, default=math.nan):.1f} | "
            f"{len(r.samples) - len(ok)} | {r.delivered} | {r.delivery_errors} |"
        )
    return "\n".join(rows)


async def main_async(
    modes: Sequence[Mode], users: int, rounds: int, interval: float
) -> list[ModeResult]:
    root = logging.getLogger()
    for handler in root.handlers[:]:
        root.removeHandler(handler)
    root.addHandler(logging.NullHandler())
    root.setLevel(logging.ERROR)
    results = []
    for mode in modes:
        result = await run_mode(mode, users, rounds, interval)
        print(
            f"  {mode}: p50 {percentile(result.answered, 50):.1f} ms, "
            f"p95 {percentile(result.answered, 95):.1f} ms",
            file=sys.stderr,
        )
        results.append(result)
    return results


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n")[0])
    parser.add_argument("--users", type=int, default=10, help="concurrent users (default 10)")
    parser.add_argument("--rounds", type=int, default=15, help="timed /help per user (15)")
    parser.add_argument("--interval", type=float, default=1.1, help="seconds between sends")
    parser.add_argument("--modes", default=",".join(MODES), help="polling,webhook")
    args = parser.parse_args(argv)
    if 1 + min(args.rounds, 60 / max(args.interval, 0.01)) > STRANGER_LIMIT:
        parser.error(f"more than {STRANGER_LIMIT} /help a minute: the bot throttles strangers")
    modes: list[Mode] = [m for m in MODES if m in args.modes.split(",")]
    started = time.perf_counter()
    results = asyncio.run(main_async(modes, args.users, args.rounds, args.interval))
    print(
        f"\n/help round trip, {args.users} users at once, one /help per user every "
        f">= {args.interval} s ({time.strftime('%Y-%m-%d')}, {time.perf_counter() - started:.0f} s)"
        "\n"
    )
    print(table(results))
    return 0


if __name__ == "__main__":
    sys.exit(main())
