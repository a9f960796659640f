"""Upload-link benchmark: throughput and memory of a large resumable upload on loopback.

Run from the repository root::

    python -m bench.bench_upload              # 150 MB in 1 MB chunks (~1 min)
    python -m bench.bench_upload --mb 40      # quick look

What runs: the real services (``build_services``: SQLite in a temporary directory, the
encrypted blob store, the imaging worker pool) and the upload routes on a real TCP port
(aiohttp ``AppRunner`` on 127.0.0.1); an aiohttp client in the same process plays the
upload page: POST (``Upload-Length``), then PATCH after PATCH with ``Upload-Offset`` and a
SHA-256 ``Upload-Checksum``, each chunk generated on the fly (random bytes, so the client
never holds more than one chunk). Halfway, one request is cut off mid-body and the client
resumes from ``HEAD``.

Reported: wall time and MB/s from the first PATCH to the last 204; the process's resident
memory (``/proc/self/statm``, sampled every 20 ms) before and at its peak during the
upload; then the completion step (decrypt the segments, hand the file to the pipeline,
which refuses random bytes at once) with its time and peak memory — that step holds the
whole file in memory once, the upload itself does not.
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import hashlib
import os
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
if str(REPO) not in sys.path:  # `python bench/bench_upload.py`
    sys.path.insert(0, str(REPO))

import aiohttp  # noqa: E402
from aiohttp import web  # noqa: E402

from bot.app import build_services, close_services  # noqa: E402
from bot.cases.codes import new_code  # noqa: E402
from bot.cases.uploads import CHUNK_LIMIT  # noqa: E402
from bot.clock import SystemClock  # noqa: E402
from bot.config import Settings  # noqa: E402
from bot.domain import CaseStatus, Role, Status  # noqa: E402
from bot.storage.models import Case, User  # noqa: E402
from bot.web.server import build_web_app  # noqa: E402
from bot.web.uploads import uploads_setup  # noqa: E402

MB = 1024 * 1024
PAGE = os.sysconf("SC_PAGE_SIZE")


def rss() -> int:
    """Resident memory of this process, bytes."""
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * PAGE


class Peak:
    """Samples RSS in the background; ``peak`` is the largest value seen."""

    def __init__(self) -> None:
        self.peak = rss()
        self._task: asyncio.Task[None] | None = None

    async def _run(self) -> None:
        while True:
            self.peak = max(self.peak, rss())
            await asyncio.sleep(0.02)

    def __enter__(self) -> Peak:
        self._task = asyncio.get_running_loop().create_task(self._run())
        return self

    def __exit__(self, *exc: object) -> None:
        assert self._task is not None
        self._task.cancel()
        self.peak = max(self.peak, rss())


def headers(offset: int, piece: bytes) -> dict[str, str]:
    digest = base64.b64encode(hashlib.sha256(piece).digest()).decode()
    return {
        "Tus-Resumable": "1.0.0",
        "Content-Type": "application/offset+octet-stream",
        "Upload-Offset": str(offset),
        "Upload-Checksum": f"sha256 {digest}",
    }


async def cut_off(host: str, port: int, path: str, offset: int, piece: bytes) -> None:
    """A PATCH whose connection drops a third of the way through the body."""
    _reader, writer = await asyncio.open_connection(host, port)
    head = {**headers(offset, piece), "Host": f"{host}:{port}", "Content-Length": str(len(piece))}
    lines = "".join(f"{k}: {v}\r\n" for k, v in head.items())
    writer.write(f"PATCH {path} HTTP/1.1\r\n{lines}\r\n".encode() + piece[: len(piece) // 3])
    await writer.drain()
    writer.close()
    await writer.wait_closed()


async def main(size_mb: int) -> None:
    with tempfile.TemporaryDirectory(prefix="bench-upload-") as tmp:
        settings = Settings(
            _env_file=None,  # type: ignore[call-arg]
            data_dir=Path(tmp),
            upload_max_mb=max(500, size_mb),
            imaging_workers=1,
        )
        db, kv, services = await build_services(settings, clock=SystemClock())
        now = SystemClock().now()
        async with db.transaction() as session:
            user = User(
                telegram_id=4242,
                role=Role.HEALTH_WORKER,
                status=Status.ACTIVE,
                language="en",
                full_name="Bench",
                specialties=[],
                reachable=True,
                created_at=now,
            )
            session.add(user)
            await session.flush()
            session.add(
                Case(
                    code=new_code(),
                    status=CaseStatus.DRAFT,
                    health_worker_id=user.id,
                    vitals={},
                    created_at=now,
                    updated_at=now,
                )
            )
        issued = await services.uploads.issue(4242, 4242)
        assert issued is not None
        runner = web.AppRunner(build_web_app(services, [uploads_setup(services.uploads)]))
        await runner.setup()
        site = web.TCPSite(runner, "127.0.0.1", 0)
        await site.start()
        host, port = runner.addresses[0][:2]
        base = f"http://{host}:{port}"
        path = f"/u/{issued.token}/file"
        total = size_mb * MB
        try:
            async with aiohttp.ClientSession(base) as http:
                created = await http.post(
                    path, headers={"Tus-Resumable": "1.0.0", "Upload-Length": str(total)}
                )
                assert created.status == 201
                before = rss()
                offset, requests, dropped = 0, 0, False
                started = time.perf_counter()
                with Peak() as during:
                    while offset < total:
                        piece = os.urandom(min(CHUNK_LIMIT, total - offset))
                        if not dropped and offset >= total // 2:
                            await cut_off(host, port, path, offset, piece)
                            dropped = True
                            head = await http.head(path, headers={"Tus-Resumable": "1.0.0"})
                            offset = int(head.headers["Upload-Offset"])
                            continue
                        async with http.patch(
                            path, data=piece, headers=headers(offset, piece)
                        ) as response:
                            assert response.status == 204, response.status
                            offset = int(response.headers["Upload-Offset"])
                        requests += 1
                elapsed = time.perf_counter() - started
                finishing = time.perf_counter()
                with Peak() as finish:
                    await services.uploads.drain()
                finish_s = time.perf_counter() - finishing
                view = await services.uploads.describe(issued.token)
        finally:
            await runner.cleanup()
            await close_services(db, kv, services)
    print(f"file                 {size_mb} MB in {requests} PATCH requests of ≤ 1 MB")
    print(f"upload               {elapsed:.1f} s, {size_mb / elapsed:.1f} MB/s (loopback)")
    print(f"RSS before upload    {before / MB:.0f} MB")
    print(f"RSS peak, upload     {during.peak / MB:.0f} MB (+{(during.peak - before) / MB:.0f})")
    print(f"completion           {finish_s:.1f} s, state {view.state.value}")
    print(f"RSS peak, completion {finish.peak / MB:.0f} MB (+{(finish.peak - before) / MB:.0f})")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--mb", type=int, default=150, help="file size in MB (default 150)")
    asyncio.run(main(parser.parse_args().mb))
