"""Consultation benchmark: consent tap → specialist's offer, under concurrent submissions.

Run from the repository root::

    python -m bench.bench_consult                 # 1, 10 and 50 submissions at once (~2 min)
    python -m bench.bench_consult --quick         # 1 and 10 only
    python -m bench.bench_consult --sizes 1,5,20
    python -m bench.bench_consult --quick --database postgresql://postgres@127.0.0.1
        # SQLite, then PostgreSQL in a throw-away database created on that server and dropped

What runs, three processes on this machine (``bench/consult_processes.py``): the Bot API
emulator (flood limits ON, Telegram's defaults) in a child process of its own, since
Telegram is not in the bot's process; the real bot in another (unmodified
python-telegram-bot polling the emulator, its imaging worker processes, SQLite in a
temporary directory or the PostgreSQL database, the in-process Redis stand-in); and this
driver (the scripted people, the pinger, the watcher), which reaches both over HTTP and
the bot's process over a pipe for administration (facilities, invites, rosters) and for
the bot's own timings. The bot's process also measures its event loop's lag (how late a
10 ms sleep wakes up): whatever blocks the loop shows there.

For each size N, untimed preparation: N new health workers onboard through the bot (invite,
language, name), each fills ``/new`` up to the consent question (age, sex, complaint,
specialty, routine urgency) and uploads a synthetic chest film (DICOM, 1024², 12-bit) and
two phone photos (JPEG 1600×1200, as files), waiting until each is processed (flood
limits off while scripted people type at machine speed; back on, buckets full). Then the
timed phase: all N tap "Yes, the patient agreed" at once; a case is *delivered* when its
case card (the message with its code and the Accept button) arrives in the specialist's
chat, which the bot sends after the album of watermarked previews. Latency = card arrival
− that health worker's tap, seen by a long-poll on the emulator's event stream.
Throughput = N / (last card − first tap).

Meanwhile another registered user sends ``/help`` every ~100 ms (one at a time: send, wait
for the reply, sleep the rest of the 100 ms) and each reply time is recorded, from the
first tap until the last card arrives. The same pinger runs for 2 s before the taps
(idle baseline).

Routing: routine and urgent cases are offered to ONE on-call specialist, the least loaded
(accepted cases), then sharing the health worker's language, then lowest id; offered but
not yet accepted cases do not count as load. With every specialist on call for the same
specialty, every case would go to the same private chat and queue behind Telegram's
per-chat flood limit (1 message/s after a burst of 3) — a queue no real specialist has,
since they look at one case at a time. So the health workers are split in groups by
(specialty, language) — 12 specialties × English/Hindi — with one on-call specialist per
group: at N ≤ 12 every case reaches a different specialist, at N = 50 two or three share
one (which the per-chat limit then shows). The global limits (emulator: 30 sends/s; the
bot's ``AIORateLimiter``: 25/s) apply as in production.

No timing is asserted in the tests; this only prints a markdown table.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import math
import os
import re
import statistics
import sys
import time
from collections import Counter
from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit, urlunsplit

REPO = Path(__file__).resolve().parents[1]
if str(REPO) not in sys.path:  # `python bench/bench_consult.py`
    sys.path.insert(0, str(REPO))

from bench.consult_processes import (  # noqa: E402
    Child,
    EmulatorAddress,
    bot_main,
    emulator_main,
    lag_summary,
)
from bot.domain import SPECIALTIES, URGENCY_LABELS, Role, Urgency  # noqa: E402
from bot.handlers import case_texts  # noqa: E402
from bot.i18n import LANGUAGE_NAMES, Catalogs  # noqa: E402
from bot.sandbox import specimens  # noqa: E402
from bot.sandbox.client import ChatMessage, SandboxClient, SandboxTimeout  # noqa: E402
from bot.sandbox.script import Person, Transcript  # noqa: E402

DISTRICT, FACILITY = "Dharwad", "PHC Amminabhavi"
CASE_CODE = re.compile(r"[2-9A-Z]{3}-[2-9A-Z]{3}")
LANGUAGES = ("en", "hi")
SPECIALTY_KEYS = tuple(SPECIALTIES)
TARGET_P95_S = 3.0  # at 10 concurrent submissions
TARGET_HELP_P95_MS = 300.0  # throughout
TARGET_SIZE = 10
PING_INTERVAL = 0.1
PING_TIMEOUT = 60.0  # a /help unanswered this long counts as no reply (inf)
IDLE_PING_SECONDS = 2.0
PREP_CONCURRENCY = 8
STEP_TIMEOUT = 60.0
DELIVERY_TIMEOUT = 60.0  # after the taps; a case not offered by then counts as lost


# ----------------------------------------------------------------------------- helpers


def percentile(values: Sequence[float], q: float) -> float:
    """Nearest-rank percentile (``q`` in 0..100); NaN for no values."""
    if not values:
        return math.nan
    ordered = sorted(values)
    rank = max(1, math.ceil(q / 100 * len(ordered)))
    return ordered[rank - 1]


def letters(number: int) -> str:
    """``number`` spelt in letters (names may not contain digits): 1 → "Ab", 2 → "Ac"."""
    word = ""
    while True:
        number, digit = divmod(number, 26)
        word = chr(ord("a") + digit) + word
        if number == 0:
            return "A" + word


def group_of(index: int) -> tuple[str, str]:
    """(specialty, language) of the ``index``-th health worker of a round."""
    specialty = SPECIALTY_KEYS[index % len(SPECIALTY_KEYS)]
    language = LANGUAGES[(index // len(SPECIALTY_KEYS)) % len(LANGUAGES)]
    return specialty, language


@dataclass
class Bench:
    """The running bot, the control API and everything the rounds share."""

    bot: Child
    emulator: Child
    client: SandboxClient
    catalogs: Catalogs
    transcript: Transcript
    facility_id: int
    backend: str
    specialists: dict[tuple[str, str], Person] = field(default_factory=dict)
    counter: int = 0

    def label(self, kind: str) -> str:
        self.counter += 1
        return f"{kind}{self.counter}"

    async def invite(self, role: Role, **kwargs: Any) -> str:
        code: str = await self.bot.call("invite", role.value, kwargs)
        return code

    async def onboard(self, person: Person, code: str, language: str, *answers: str) -> None:
        """/start with the invite, pick the language, answer every question."""
        await person.send("/start", code)
        picker = await person.expect(timeout=STEP_TIMEOUT)
        await person.tap(picker, LANGUAGE_NAMES[language])
        await person.expect(timeout=STEP_TIMEOUT)  # "What is your full name?"
        for answer in answers:
            await person.send(answer)
            await person.expect(timeout=STEP_TIMEOUT)

    async def health_worker(self, language: str) -> Person:
        """An active health worker of the benchmark facility."""
        code = await self.invite(Role.HEALTH_WORKER, facility_id=self.facility_id)
        label = self.label("hw")
        person = await Person.join(self.client, self.transcript, label, language_code=language)
        await self.onboard(person, code, language, f"Asha {letters(self.counter)}")
        return person

    async def specialist(self, specialty: str, language: str) -> Person:
        """An approved specialist on call for ``specialty`` all week."""
        code = await self.invite(
            Role.SPECIALIST, district=DISTRICT, specialty=specialty, preapproved=True
        )
        label = self.label("sp")
        person = await Person.join(self.client, self.transcript, label, language_code=language)
        await self.onboard(
            person, code, language, f"Dr. Bench {letters(self.counter)}", "MD", "KMC 100200"
        )
        if not await self.bot.call("on_call", person.id, specialty):
            raise RuntimeError(f"specialist {label} did not register:\n{self.transcript.render()}")
        return person

    async def up_to_consent(self, worker: Person, specialty: str, language: str) -> Prepared:
        """Fill ``/new`` up to the consent question (three files uploaded and processed)."""
        tr = self.catalogs.get(language)
        t = STEP_TIMEOUT
        await worker.send("/new")
        await worker.expect(timeout=t)  # age
        await worker.send("45")
        sex = await worker.expect(timeout=t)
        await worker.tap(sex, tr._(case_texts.SEX_LABELS["female"]))
        ids = await worker.expect(timeout=t)
        await worker.tap(ids, tr._("Skip"))
        await worker.expect(timeout=t)  # complaint
        await worker.send("Cough for 3 weeks, fever, weight loss")
        history = await worker.expect(timeout=t)
        await worker.tap(history, tr._("Skip"))
        vitals = await worker.expect(timeout=t)
        await worker.tap(vitals, tr._("Skip"))
        choice = await worker.expect(timeout=t)
        await worker.tap(choice, tr._(SPECIALTIES[specialty]))
        urgency = await worker.expect(timeout=t)
        await worker.tap(urgency, tr._(URGENCY_LABELS[Urgency.ROUTINE]))
        files = await worker.expect(timeout=t)
        uploads = (
            (specimens.chest_film_dicom(), "IM000001.dcm", "application/dicom"),
            (PHOTOS[0], "IMG_2041.jpg", "image/jpeg"),
            (PHOTOS[1], "IMG_2042.jpg", "image/jpeg"),
        )
        client = self.client
        for data, name, mime in uploads:
            await client.send_document(worker.id, data, name, mime_type=mime)
            status = await client.next_reply(worker.id, t)
            while "⏳" not in (status.text or ""):  # a late preview of the previous file
                status = await client.next_reply(worker.id, t)
            deadline = time.perf_counter() + t
            while "⏳" in (status.text or "") and time.perf_counter() < deadline:
                await asyncio.sleep(0.2)  # edited to "✅ Received: …" once processed
                status = await client.message(worker.id, status.message_id)
            if "✅" not in (status.text or ""):
                raise RuntimeError(f"{worker.label}: {name} not processed: {status.text!r}")
            # its small preview follows; the wait_for calls below skip it whenever it comes
        await worker.tap(files, tr._("Done"))
        looks_right, agreed = tr._("Looks right"), tr._(case_texts.CONSENT_LABELS["patient"])
        review = await client.wait_for(worker.id, lambda m: looks_right in m.button_texts(), t)
        await worker.tap(review, looks_right)
        consent = await client.wait_for(worker.id, lambda m: agreed in m.button_texts(), t)
        button = consent.button(agreed)
        if button.callback_data is None:
            raise RuntimeError("consent button without callback data")
        return Prepared(worker, consent.message_id, button.callback_data)


PHOTOS = (specimens.lesion_photo_jpeg(), specimens.lesion_photo_jpeg(1200, 1600))


@dataclass
class Prepared:
    """A health worker sitting on the consent question."""

    worker: Person
    consent_message_id: int
    consent_data: str


@dataclass
class RoundResult:
    """What one size measured."""

    backend: str
    size: int
    latencies: list[float]
    span: float
    previews: int
    help_idle_ms: list[float]
    help_load_ms: list[float]
    flood_429: int
    errors: Counter[str]
    spans: dict[str, list[float]]
    loop_lag: list[float]
    emulator_lag: list[float]

    @property
    def lost(self) -> int:
        """Submissions whose offer never arrived."""
        return self.size - len(self.latencies)

    @property
    def throughput(self) -> float:
        return self.size / self.span if self.span > 0 else math.nan


# ----------------------------------------------------------------------------- a round


async def prepare(bench: Bench, size: int) -> list[Prepared]:
    """Onboard ``size`` health workers and bring each to the consent step (untimed)."""
    gate = asyncio.Semaphore(PREP_CONCURRENCY)
    for index in range(size):  # specialists for any group not yet covered
        key = group_of(index)
        if key not in bench.specialists:
            bench.specialists[key] = await bench.specialist(*key)

    async def one(index: int) -> Prepared:
        specialty, language = group_of(index)
        async with gate:
            worker = await bench.health_worker(language)
            return await bench.up_to_consent(worker, specialty, language)

    return list(await asyncio.gather(*(one(i) for i in range(size))))


async def ping(
    client: SandboxClient, user_id: int, stop: asyncio.Event, out: list[tuple[float, float]]
) -> None:
    """``/help`` every ~100 ms until ``stop``; append (sent at, reply ms) to ``out``."""
    while not stop.is_set():
        started = time.perf_counter()
        await client.send_command(user_id, "help")
        try:
            await client.next_reply(user_id, PING_TIMEOUT)
        except SandboxTimeout:
            out.append((started, math.inf))  # no reply at all
            continue
        elapsed = time.perf_counter() - started
        out.append((started, elapsed * 1000))
        await asyncio.sleep(max(0.0, PING_INTERVAL - elapsed))


async def watch(
    client: SandboxClient,
    after_seq: int,
    specialist_chats: set[int],
    expected: int,
    arrivals: dict[str, float],
    counts: dict[str, int],
) -> None:
    """Record when each case card (code + Accept button) reaches a specialist."""
    seq = after_seq
    while len(arrivals) < expected:
        result = await client.wait_events(None, seq, 5.0, kinds=("message",))
        now = time.perf_counter()
        for event in result["events"]:
            seq = max(seq, event["seq"])
            message = ChatMessage.from_view(event["message"])
            if message.chat_id not in specialist_chats:
                continue
            if message.attachments:
                counts["previews"] += 1
                continue
            match = CASE_CODE.search(message.text or "")
            if match and any(d.startswith("of:a") for d in message.callback_datas()):
                arrivals.setdefault(match.group(0), now)


async def run_round(bench: Bench, pinger: Person, size: int) -> RoundResult:
    """Prepare ``size`` submissions, then tap consent for all at once and time the offers."""
    began = time.perf_counter()
    # Preparation is not measured: no flood limits while 8 people fill forms at machine speed.
    await bench.client.set_limits(flood_enabled=False)
    prepared = await prepare(bench, size)
    await bench.client.set_limits(flood_enabled=True)  # every bucket starts full
    print(f"  N={size}: prepared in {time.perf_counter() - began:.0f} s", file=sys.stderr)
    await asyncio.sleep(4.0)  # every chat's flood bucket full again, workers idle

    control = bench.client.control_url
    async with (
        SandboxClient(control) as watcher_client,
        SandboxClient(control) as ping_client,
        SandboxClient(control) as tap_client,
    ):
        ping_client._reply_cursor[pinger.id] = (await ping_client.health())["seq"]
        idle: list[tuple[float, float]] = []
        stop = asyncio.Event()
        idle_task = asyncio.create_task(ping(ping_client, pinger.id, stop, idle))
        await asyncio.sleep(IDLE_PING_SECONDS)
        stop.set()
        await idle_task

        await bench.bot.call("take")  # count only what the bot does from the taps on
        await bench.emulator.call("take")
        await bench.client.reset_stats()
        seq0 = (await bench.client.health())["seq"]
        chats = {p.id for p in bench.specialists.values()}
        arrivals: dict[str, float] = {}
        counts = {"previews": 0}
        watcher = asyncio.create_task(watch(watcher_client, seq0, chats, size, arrivals, counts))
        loaded: list[tuple[float, float]] = []
        stop = asyncio.Event()
        pinger_task = asyncio.create_task(ping(ping_client, pinger.id, stop, loaded))

        taps: dict[int, float] = {}

        async def tap(p: Prepared) -> None:
            taps[p.worker.id] = time.perf_counter()
            await tap_client.tap(p.worker.id, p.consent_message_id, p.consent_data, force=True)

        await asyncio.gather(*(tap(p) for p in prepared))
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(watcher, DELIVERY_TIMEOUT)
        stop.set()
        await pinger_task

        codes = await case_codes(bench.client, prepared)
        latencies = [
            arrivals[codes[p.worker.id]] - taps[p.worker.id]
            for p in prepared
            if codes.get(p.worker.id) in arrivals
        ]
        last = max(arrivals.values(), default=math.inf)
        span = last - min(taps.values())
        # /help "while the load runs": the pings sent before the last offer arrived
        help_load = [ms for sent, ms in loaded if sent <= last]
        stats = await bench.client.stats()
        taken = await bench.bot.call("take")
        emulator_lag = await bench.emulator.call("take")
    return RoundResult(
        bench.backend,
        size,
        latencies,
        span,
        counts["previews"],
        [ms for _, ms in idle],
        help_load,
        int(stats["responses_429"]),
        taken["errors"],
        taken["spans"],
        taken["lag"],
        emulator_lag,
    )


async def case_codes(client: SandboxClient, prepared: Sequence[Prepared]) -> dict[int, str]:
    """Each health worker's case code, from the bot's "Case submitted" message (if any)."""
    codes: dict[int, str] = {}
    for p in prepared:
        for message in reversed(await client.messages(p.worker.id)):
            match = CASE_CODE.search(message.text or "") if message.from_bot else None
            if match:
                codes[p.worker.id] = match.group(0)
                break
    return codes


# ----------------------------------------------------------------------------- set-up


SQLITE = "sqlite"


def backend_name(database: str) -> str:
    return "SQLite" if database == SQLITE else "PostgreSQL"


@contextlib.asynccontextmanager
async def throwaway_database(server_url: str) -> AsyncIterator[str]:
    """A fresh database on the PostgreSQL server at ``server_url``, dropped afterwards."""
    import asyncpg

    parts = urlsplit(server_url)
    admin = urlunsplit(("postgresql", parts.netloc, "/postgres", parts.query, ""))
    name = f"sampark_bench_{os.getpid()}"
    conn = await asyncpg.connect(admin)
    try:
        await conn.execute(f'DROP DATABASE IF EXISTS "{name}"')
        await conn.execute(f'CREATE DATABASE "{name}"')
    finally:
        await conn.close()
    try:
        yield urlunsplit(("postgresql", parts.netloc, f"/{name}", parts.query, ""))
    finally:
        conn = await asyncpg.connect(admin)
        try:
            await conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        finally:
            await conn.close()


async def run_backend(database: str, sizes: Sequence[int]) -> list[RoundResult]:
    """Emulator and bot in their own processes on a fresh database; every size; stop both."""
    async with contextlib.AsyncExitStack() as stack:
        database_url = ""
        if database != SQLITE:
            database_url = await stack.enter_async_context(throwaway_database(database))
        emulator = Child(emulator_main)
        stack.push_async_callback(emulator.stop)
        address: EmulatorAddress = await emulator.receive()
        bot = Child(bot_main, address, database_url)
        stack.push_async_callback(bot.stop)
        status, pid = await bot.receive()
        if status != "ok":
            raise RuntimeError(f"the bot did not start: {pid}")
        print(
            f"{backend_name(database)}: emulator pid {emulator.process.pid}, bot pid {pid}",
            file=sys.stderr,
        )
        client = await stack.enter_async_context(
            SandboxClient(address.control_url, default_timeout=STEP_TIMEOUT)
        )
        facility_id = await bot.call("facility", FACILITY, DISTRICT)
        bench = Bench(
            bot, emulator, client, Catalogs(), Transcript(), facility_id, backend_name(database)
        )
        pinger = await bench.health_worker("en")
        results: list[RoundResult] = []
        for size in sizes:
            result = await run_round(bench, pinger, size)
            print(
                f"  {bench.backend} N={size}: p95 {percentile(result.latencies, 95):.2f} s, "
                f"/help p95 {percentile(result.help_load_ms, 95):.0f} ms",
                file=sys.stderr,
            )
            results.append(result)
        return results


async def main_async(sizes: Sequence[int], databases: Sequence[str]) -> list[RoundResult]:
    """Each backend in turn, with its own emulator and bot processes."""
    results: list[RoundResult] = []
    for database in databases:
        results += await run_backend(database, sizes)
    return results


# ----------------------------------------------------------------------------- report


def unanswered(samples: Sequence[float]) -> str:
    """ ", k unanswered" when some /help got no reply within PING_TIMEOUT."""
    lost = sum(1 for ms in samples if math.isinf(ms))
    return f", {lost} unanswered" if lost else ""


def table(results: Sequence[RoundResult]) -> str:
    """The markdown table of every size, then the targets and the bot's errors."""
    head = (
        "| database | N at once | offered | p50 s | p95 s | max s | throughput cases/s | "
        "previews | /help idle p50/p95 ms | /help under load p50/p95/max ms (n) | "
        "loop lag p50/p99/max ms: bot; emulator | 429s |"
    )
    lines = [head, "|" + "---|" * 12]
    for r in results:
        lat = r.latencies
        lines.append(
            f"| {r.backend} | {r.size} | {len(lat)}/{r.size} | {percentile(lat, 50):.2f}"
            f" | {percentile(lat, 95):.2f} | {max(lat, default=math.nan):.2f}"
            f" | {r.throughput:.2f} | {r.previews}/{3 * r.size}"
            f" | {percentile(r.help_idle_ms, 50):.0f} / {percentile(r.help_idle_ms, 95):.0f}"
            f" | {percentile(r.help_load_ms, 50):.0f} / {percentile(r.help_load_ms, 95):.0f}"
            f" / {max(r.help_load_ms, default=math.nan):.0f} ({len(r.help_load_ms)}"
            f"{unanswered(r.help_load_ms)})"
            f" | {lag_summary(r.loop_lag)}; {lag_summary(r.emulator_lag)} | {r.flood_429} |"
        )
    lines += ["", "| target | result | measured |", "|---|---|---|"]
    for r in results:
        if r.size == TARGET_SIZE:
            p95 = percentile(r.latencies, 95) if not r.lost else math.inf
            verdict = "PASS" if p95 < TARGET_P95_S else "FAIL"
            lines.append(
                f"| {r.backend}: offer p95 < {TARGET_P95_S:.0f} s at N={TARGET_SIZE} | {verdict} | "
                f"{percentile(r.latencies, 95):.2f} s, {r.lost} lost |"
            )
    for backend in dict.fromkeys(r.backend for r in results):
        mine = [r for r in results if r.backend == backend]
        worst = max(percentile(r.help_load_ms, 95) for r in mine)
        verdict = "PASS" if worst < TARGET_HELP_P95_MS else "FAIL"
        per_size = ", ".join(f"N={r.size}: {percentile(r.help_load_ms, 95):.0f}" for r in mine)
        lines.append(
            f"| {backend}: /help p95 < {TARGET_HELP_P95_MS:.0f} ms throughout | {verdict} | "
            f"{per_size} ms |"
        )
    lines += ["", "Where the consent handler's time goes (ms per call: mean / max, n):", ""]
    for r in results:
        parts = [
            f"{name.strip()} {1000 * statistics.fmean(v):.0f} / {1000 * max(v):.0f} ({len(v)})"
            for name, v in r.spans.items()
            if v
        ]
        lines.append(f"- {r.backend} N={r.size}: " + "; ".join(parts))
    for r in results:
        for what, n in r.errors.most_common():
            lines.append(f"\n{r.backend} N={r.size}: bot logged {n}× {what}")
    return "\n".join(lines)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--sizes", default="1,10,50", help="comma-separated N (default 1,10,50)")
    parser.add_argument("--quick", action="store_true", help="sizes 1 and 10 only")
    parser.add_argument(
        "--database",
        action="append",
        default=[],
        metavar="URL",
        help="also measure PostgreSQL: postgresql://user@host[:port] of a server where a "
        "throw-away database is created and dropped (repeatable; SQLite always runs first)",
    )
    parser.add_argument("--no-sqlite", action="store_true", help="only the --database servers")
    args = parser.parse_args(argv)
    sizes = [1, 10] if args.quick else [int(s) for s in args.sizes.split(",") if s.strip()]
    for url in args.database:
        if not url.startswith(("postgresql://", "postgres://")):
            parser.error(f"--database wants a postgresql:// URL, not {url!r}")
    databases = ([] if args.no_sqlite else [SQLITE]) + list(args.database)
    if not databases:
        parser.error("nothing to measure")
    started = time.perf_counter()
    results = asyncio.run(main_async(sizes, databases))
    print(
        f"\nConsultation benchmark ({', '.join(backend_name(d) for d in databases)} "
        f"+ fakeredis, {time.strftime('%Y-%m-%d')}, {len(results)} rounds in "
        f"{time.perf_counter() - started:.0f} s)\n"
    )
    print(table(results))
    return 0


if __name__ == "__main__":
    sys.exit(main())
