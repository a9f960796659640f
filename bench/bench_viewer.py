"""Study viewer benchmark: time to first image over a slow link, and frames per second.

    python -m bench.bench_viewer [--slices 300] [--kbit 256] [--rtt-ms 300] [--viewers 50]

Everything runs on loopback in this process: real services (SQLite, the in-process Redis
stand-in, the encrypted store, the imaging worker pool) behind the real web application.

* **Time to first image** through a throttling proxy (``--kbit`` in each direction, shared
  by all connections, plus ``--rtt-ms`` round trip): the page, then its stylesheet and
  script in parallel, then ``/study``, then the first frame at ``size=low`` — what the
  viewer page does. Measured on a fresh server (nothing cached: the series is described
  and its first frame rendered during the ``/study`` request) for the 2000×2128 JPEG 2000
  chest film from the shared corpus (a synthetic 2000×2128 film without it) and for a
  synthetic CT series of ``--slices`` slices (512², 16-bit).
* **Frame requests per second**: ``--viewers`` concurrent clients each scroll through the
  CT series (``size=full``, default window), every request checked against the link as in
  production; first pass (rendered on demand) and second pass (cached).

Targets (issue 5): first image under 2 s at 256 kbit/s; the film's first useful image
under 100 KB.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import statistics
import tempfile
import time
from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass
from pathlib import Path

import aiohttp
from aiohttp import web
from fakeredis import FakeAsyncRedis

from bot.app import build_services, close_services
from bot.clock import SystemClock
from bot.config import Settings
from bot.domain import CaseStatus
from bot.sandbox.specimens import chest_film_dicom, ct_series_zip
from bot.services import Services
from bot.storage.models import Case
from bot.web import assets, viewer
from bot.web.server import build_web_app
from tests.cases.conftest import Factory

HERE = Path(__file__).resolve().parent
FILM = "dx_chest_pa_mono1_j2k.dcm"


def corpus_film() -> tuple[bytes, str]:
    """The real 2000×2128 J2K chest film, or a synthetic film of the same size."""
    root = Path(os.environ.get("SAMPARK_DICOM_CORPUS") or HERE.parent.parent / "shared" / "dicom")
    path = root / FILM
    if path.is_file():
        return path.read_bytes(), f"{FILM} (2000×2128 J2K)"
    return chest_film_dicom(2000), "synthetic film 2000² (corpus not found)"


# ---------------------------------------------------------------------------- slow link


class SlowLink:
    """A TCP proxy on loopback with a shared bandwidth per direction and a round trip."""

    def __init__(self, target_port: int, kbit: float, rtt_ms: float) -> None:
        self.target_port = target_port
        self.rate = kbit * 1000 / 8  # bytes per second
        self.one_way = rtt_ms / 2000
        self._free = {"down": 0.0, "up": 0.0}
        self.sent = {"down": 0, "up": 0}
        self.port = 0
        self._server: asyncio.Server | None = None
        self._tasks: set[asyncio.Task[None]] = set()

    async def __aenter__(self) -> SlowLink:
        self._server = await asyncio.start_server(self._accept, "127.0.0.1", 0)
        self.port = self._server.sockets[0].getsockname()[1]
        return self

    async def __aexit__(self, *exc: object) -> None:
        assert self._server is not None
        self._server.close()
        for task in list(self._tasks):
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)

    async def _accept(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        up_reader, up_writer = await asyncio.open_connection("127.0.0.1", self.target_port)
        for args in ((reader, up_writer, "up"), (up_reader, writer, "down")):
            task = asyncio.create_task(self._pipe(*args))  # type: ignore[arg-type]
            self._tasks.add(task)
            task.add_done_callback(self._tasks.discard)

    async def _pipe(
        self, source: asyncio.StreamReader, sink: asyncio.StreamWriter, direction: str
    ) -> None:
        loop = asyncio.get_running_loop()
        queue: asyncio.Queue[tuple[float, bytes]] = asyncio.Queue()

        async def deliver() -> None:
            while True:
                at, data = await queue.get()
                if not data:
                    break
                await asyncio.sleep(max(0.0, at - loop.time()))
                sink.write(data)
                await sink.drain()
            with contextlib.suppress(Exception):
                sink.close()

        delivering = asyncio.create_task(deliver())
        try:
            while data := await source.read(4096):
                now = loop.time()
                sent = max(now, self._free[direction]) + len(data) / self.rate
                self._free[direction] = sent
                self.sent[direction] += len(data)
                await queue.put((sent + self.one_way, data))
        except (ConnectionError, asyncio.CancelledError):
            pass
        finally:
            await queue.put((0.0, b""))
            with contextlib.suppress(Exception):
                await delivering


# ---------------------------------------------------------------------------- setup


@dataclass
class Study:
    label: str
    url: str  # path of the link, /s/<token>


@contextlib.asynccontextmanager
async def server(data_dir: Path) -> AsyncIterator[tuple[Services, int, web.AppRunner]]:
    settings = Settings(
        _env_file=None,  # type: ignore[call-arg]
        data_dir=data_dir,
        imaging_workers=2,
    )
    db, kv, services = await build_services(settings, clock=SystemClock(), redis=FakeAsyncRedis())
    app = build_web_app(services, [assets.setup, viewer.setup])
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = runner.addresses[0][1]
    await services.attachments.pool.run(len, b"")  # workers started, as in a running bot
    try:
        yield services, port, runner
    finally:
        await runner.cleanup()
        await close_services(db, kv, services)


async def make_case(services: Services, data: bytes, name: str) -> str:
    """A case accepted by a specialist with one file; the specialist's link path."""
    factory = Factory(services.attachments.db, services.clock)  # type: ignore[arg-type]
    hw = await factory.health_worker()
    spec = await factory.specialist()
    case_id = await factory.case(hw, status=CaseStatus.ACCEPTED)
    async with services.attachments.db.transaction() as session:
        case = await session.get(Case, case_id)
        assert case is not None
        case.specialist_id = spec.id
        code = case.code
    outcome = await services.attachments.add(case_id, code, data, name, None)
    assert outcome.ok, outcome.reason
    issued = await services.links.issue(case_id, spec.id)
    return f"/s/{issued.token}"


# ---------------------------------------------------------------------------- measures


@dataclass
class FirstImage:
    label: str
    seconds: float
    page_bytes: int
    study_bytes: int
    image_bytes: int
    study_seconds: float
    wire_bytes: int = 0


async def first_image(base: str, link: str, label: str) -> FirstImage:
    """What the page does: HTML, then CSS and JS together, then /study, then frame 0 low."""
    start = time.perf_counter()
    async with aiohttp.ClientSession(base) as http:
        page = await http.get(link)
        html = await page.read()
        assert page.status == 200, page.status
        parts = await asyncio.gather(
            *(http.get(f"/static/{name}") for name in ("viewer.css", "viewer.js"))
        )
        static = [await part.read() for part in parts]
        before_study = time.perf_counter()
        listed = await http.get(f"{link}/study")
        study_raw = await listed.read()
        study_seconds = time.perf_counter() - before_study
        series = (await listed.json())["series"][0]["id"]
        frame = await http.get(f"{link}/series/{series}/frames/0.jpg?size=low")
        image = await frame.read()
        assert frame.status == 200
    return FirstImage(
        label,
        time.perf_counter() - start,
        len(html) + sum(len(s) for s in static),
        len(study_raw),
        len(image),
        study_seconds,
    )


@dataclass
class Throughput:
    label: str
    requests: int
    seconds: float
    latencies: list[float]

    @property
    def per_second(self) -> float:
        return self.requests / self.seconds


async def frames_per_second(
    base: str, link: str, viewers: int, frames: int, per_viewer: int, label: str
) -> Throughput:
    """``viewers`` clients, each scrolling ``per_viewer`` frames from its own start."""
    latencies: list[float] = []
    connector = aiohttp.TCPConnector(limit=viewers)
    async with aiohttp.ClientSession(base, connector=connector) as http:
        series = (await (await http.get(f"{link}/study")).json())["series"][0]["id"]

        async def viewer_loop(number: int) -> None:
            offset = (number * 7) % frames
            for step in range(per_viewer):
                index = (offset + step) % frames
                began = time.perf_counter()
                answer = await http.get(f"{link}/series/{series}/frames/{index}.jpg")
                await answer.read()
                assert answer.status == 200, answer.status
                latencies.append(time.perf_counter() - began)

        start = time.perf_counter()
        await asyncio.gather(*(viewer_loop(n) for n in range(viewers)))
        elapsed = time.perf_counter() - start
    return Throughput(label, viewers * per_viewer, elapsed, latencies)


def percentile(values: Sequence[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q / 100 * len(ordered)))]


async def main_async(args: argparse.Namespace) -> None:
    film, film_label = corpus_film()
    print(f"making a {args.slices}-slice CT series…", flush=True)
    ct = ct_series_zip(args.slices, 512)
    results: list[FirstImage] = []
    rates: list[Throughput] = []
    with tempfile.TemporaryDirectory() as tmp:
        for label, data, name in (
            (film_label, film, "film.dcm"),
            (f"CT {args.slices} slices", ct, "ct.zip"),
        ):
            async with server(Path(tmp) / label.split()[0]) as (services, port, _runner):
                t0 = time.perf_counter()
                link = await make_case(services, data, name)
                print(f"{label}: intake {time.perf_counter() - t0:.1f} s", flush=True)
            # a fresh server on the same data: nothing described or rendered yet
            async with server(Path(tmp) / label.split()[0]) as (services, port, _runner):
                async with SlowLink(port, args.kbit, args.rtt_ms) as slow:
                    measured = await first_image(f"http://127.0.0.1:{slow.port}", link, label)
                    measured.wire_bytes = slow.sent["down"]
                    results.append(measured)
                if name == "ct.zip":
                    base = f"http://127.0.0.1:{port}"
                    for label_pass in ("first pass (rendered on demand)", "second pass (cached)"):
                        rates.append(
                            await frames_per_second(
                                base, link, args.viewers, args.slices, args.per_viewer, label_pass
                            )
                        )
    print()
    print(
        f"Time to first image through a {args.kbit:g} kbit/s link, RTT {args.rtt_ms:g} ms "
        "(fresh server: page + CSS + JS, /study, first frame low)"
    )
    print("| study | first image | page+assets | /study | first image | /study time | bytes down |")
    print("|---|---|---|---|---|---|---|")
    for r in results:
        print(
            f"| {r.label} | **{r.seconds:.2f} s** | {r.page_bytes / 1024:.1f} KB | "
            f"{r.study_bytes / 1024:.1f} KB | {r.image_bytes / 1024:.1f} KB | "
            f"{r.study_seconds:.2f} s | {r.wire_bytes / 1024:.1f} KB |"
        )
    print()
    print(
        f"Frame requests, {args.viewers} concurrent viewers on loopback, CT 512², size=full, "
        f"{args.per_viewer} frames each"
    )
    print("| pass | requests | req/s | p50 | p95 |")
    print("|---|---|---|---|---|")
    for t in rates:
        print(
            f"| {t.label} | {t.requests} | **{t.per_second:.0f}** | "
            f"{statistics.median(t.latencies) * 1000:.0f} ms | "
            f"{percentile(t.latencies, 95) * 1000:.0f} ms |"
        )
    print()
    worst = max(r.seconds for r in results)
    film_kb = results[0].image_bytes / 1024
    print(f"target first image < 2 s: {'PASS' if worst < 2 else 'FAIL'} (worst {worst:.2f} s)")
    verdict = "PASS" if film_kb < 100 else "FAIL"
    print(f"target film's first image < 100 KB: {verdict} ({film_kb:.1f} KB)")


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--slices", type=int, default=300)
    parser.add_argument("--kbit", type=float, default=256.0)
    parser.add_argument("--rtt-ms", type=float, default=150.0)
    parser.add_argument("--viewers", type=int, default=50)
    parser.add_argument("--per-viewer", type=int, default=40)
    args = parser.parse_args(argv)
    asyncio.run(main_async(args))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
