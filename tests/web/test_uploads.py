"""The upload page and the tus-style protocol over HTTP, with the real services."""

from __future__ import annotations

import asyncio
import base64
import hashlib
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

import pytest
from aiohttp.test_utils import TestClient, TestServer
from redis.asyncio import Redis

from bot.app import build_services, close_services
from bot.cases.uploads import CHUNK_LIMIT
from bot.clock import ManualClock
from bot.config import Settings
from bot.domain import CaseStatus
from bot.sandbox.specimens import chest_film_dicom
from bot.services import Services
from bot.web.server import build_web_app
from bot.web.uploads import uploads_setup
from tests.cases.conftest import Factory

MB = 1024 * 1024
TUS = {"Tus-Resumable": "1.0.0"}


@dataclass
class Site:
    client: TestClient[Any, Any]
    services: Services
    token: str
    telegram_id: int
    clock: ManualClock

    @property
    def file(self) -> str:
        return f"/u/{self.token}/file"


def checksum(data: bytes, algorithm: str = "sha256") -> str:
    return f"{algorithm} " + base64.b64encode(hashlib.new(algorithm, data).digest()).decode()


def patch_headers(offset: int, data: bytes, algorithm: str = "sha256") -> dict[str, str]:
    return {
        **TUS,
        "Content-Type": "application/offset+octet-stream",
        "Upload-Offset": str(offset),
        "Upload-Checksum": checksum(data, algorithm),
    }


@pytest.fixture
async def site(settings: Settings, clock: ManualClock, redis: Redis) -> AsyncIterator[Site]:
    settings.imaging_workers = 1
    db, kv, services = await build_services(settings, clock=clock, redis=redis)
    factory = Factory(db, clock)
    worker = await factory.health_worker(language="hi")
    await factory.case(worker, status=CaseStatus.DRAFT)
    issued = await services.uploads.issue(worker.telegram_id, worker.telegram_id)
    assert issued is not None
    app = build_web_app(services, [uploads_setup(services.uploads)])
    try:
        async with TestClient(TestServer(app)) as client:
            yield Site(client, services, issued.token, worker.telegram_id, clock)
    finally:
        await services.uploads.drain()
        await close_services(db, kv, services)


async def offset_of(site: Site) -> int:
    response = await site.client.head(site.file, headers=TUS)
    assert response.status == 200
    assert response.headers["Tus-Resumable"] == "1.0.0"
    return int(response.headers["Upload-Offset"])


async def create(site: Site, length: int) -> int:
    response = await site.client.post(site.file, headers={**TUS, "Upload-Length": str(length)})
    assert response.status == 201, await response.text()
    assert response.headers["Location"] == site.file
    return int(response.headers["Upload-Offset"])


# ---------------------------------------------------------------------- the page


async def test_page_loads_its_script_and_style_and_no_inline_script(site: Site) -> None:
    response = await site.client.get(f"/u/{site.token}")
    assert response.status == 200
    html = await response.text()
    assert '<script src="/static/upload.js"></script>' in html
    assert "<script>" not in html
    assert "/static/upload.css" in html
    assert "script-src 'self'" in response.headers["Content-Security-Policy"]
    assert response.headers["Cache-Control"] == "no-store"
    assert response.headers["Referrer-Policy"] == "no-referrer"
    for asset, kind in (("upload.js", "text/javascript"), ("upload.css", "text/css")):
        got = await site.client.get(f"/static/{asset}")
        assert got.status == 200
        assert got.content_type == kind


async def test_words_come_in_the_health_workers_language(site: Site) -> None:
    response = await site.client.get(f"/u/{site.token}/info")
    assert response.status == 200
    info = await response.json()
    assert info["lang"] == "hi"
    assert info["state"] == "open"
    assert info["chunk_bytes"] == CHUNK_LIMIT
    tr = site.services.catalogs.get("hi")
    assert info["labels"]["send"] == tr._("Send")
    assert info["labels"]["send"] != "Send"
    assert "500" in info["labels"]["too_large"]


async def test_options_describe_the_protocol(site: Site) -> None:
    response = await site.client.options(site.file)
    assert response.status == 204
    assert response.headers["Tus-Version"] == "1.0.0"
    assert "checksum" in response.headers["Tus-Extension"]
    assert set(response.headers["Tus-Checksum-Algorithm"].split(",")) == {"sha1", "sha256"}
    assert int(response.headers["Tus-Max-Size"]) == 500 * MB


# ---------------------------------------------------------------------- the protocol


async def test_create_patch_head_then_the_draft_has_the_study(site: Site) -> None:
    data = chest_film_dicom(1024)
    assert await create(site, len(data)) == 0
    assert await offset_of(site) == 0
    offset = 0
    for algorithm in ("sha1", "sha256", "sha1"):
        piece = data[offset : offset + CHUNK_LIMIT]
        if not piece:
            break
        response = await site.client.patch(
            site.file, data=piece, headers=patch_headers(offset, piece, algorithm)
        )
        assert response.status == 204, await response.text()
        offset = int(response.headers["Upload-Offset"])
        if offset < len(data):
            assert await offset_of(site) == offset
    assert offset == len(data)
    await site.services.uploads.drain()
    info = await (await site.client.get(f"/u/{site.token}/info")).json()
    assert info["state"] == "done", info
    prompt = await site.services.drafts.resume(site.telegram_id)
    assert prompt is not None
    assert prompt.attachments == 1
    # one-time: the link is spent
    assert (await site.client.head(site.file, headers=TUS)).status == 410


async def test_interrupted_upload_resumes_from_the_servers_offset(site: Site) -> None:
    data = bytes(range(256)) * (3 * MB // 256)
    await create(site, len(data))
    first = data[:CHUNK_LIMIT]
    response = await site.client.patch(site.file, data=first, headers=patch_headers(0, first))
    assert response.status == 204

    # the connection drops half-way through the second chunk
    second = data[CHUNK_LIMIT : 2 * CHUNK_LIMIT]
    server = site.client.server
    reader, writer = await asyncio.open_connection(server.host, server.port)
    head = "".join(
        f"{name}: {value}\r\n"
        for name, value in {
            **patch_headers(CHUNK_LIMIT, second),
            "Host": f"{server.host}:{server.port}",
            "Content-Length": str(len(second)),
        }.items()
    )
    writer.write(f"PATCH {site.file} HTTP/1.1\r\n{head}\r\n".encode() + second[: len(second) // 2])
    await writer.drain()
    writer.close()
    await writer.wait_closed()
    del reader

    # the page asks where to go on: still after the first chunk
    offset = await offset_of(site)
    assert offset == CHUNK_LIMIT
    # resending from a wrong offset is refused with the right one
    stale = await site.client.patch(site.file, data=first, headers=patch_headers(0, first))
    assert stale.status == 409
    assert int(stale.headers["Upload-Offset"]) == CHUNK_LIMIT
    while offset < len(data):
        piece = data[offset : offset + CHUNK_LIMIT]
        response = await site.client.patch(
            site.file, data=piece, headers=patch_headers(offset, piece)
        )
        assert response.status == 204
        offset = int(response.headers["Upload-Offset"])
    assert offset == len(data)
    await site.services.uploads.drain()
    info = await (await site.client.get(f"/u/{site.token}/info")).json()
    assert info["state"] == "failed"  # not an image: refused by the pipeline, reported in chat


async def test_wrong_checksum_is_460_and_nothing_is_kept(site: Site) -> None:
    await create(site, 2048)
    piece = b"z" * 1024
    headers = patch_headers(0, b"something else")
    response = await site.client.patch(site.file, data=piece, headers=headers)
    assert response.status == 460
    assert await offset_of(site) == 0
    missing = {k: v for k, v in patch_headers(0, piece).items() if k != "Upload-Checksum"}
    assert (await site.client.patch(site.file, data=piece, headers=missing)).status == 400


async def test_over_the_limits_is_413(site: Site) -> None:
    too_long = await site.client.post(
        site.file, headers={**TUS, "Upload-Length": str(500 * MB + 1)}
    )
    assert too_long.status == 413
    await create(site, 3 * MB)
    big = b"q" * (CHUNK_LIMIT + 1)
    response = await site.client.patch(site.file, data=big, headers=patch_headers(0, big))
    assert response.status == 413
    assert await offset_of(site) == 0


async def test_stale_and_unknown_tokens(site: Site) -> None:
    await create(site, 1024)
    unknown = "Q" * 32
    assert (await site.client.head(f"/u/{unknown}/file", headers=TUS)).status == 404
    assert (await site.client.get(f"/u/{unknown}")).status == 404
    site.clock.advance(timedelta(hours=25))
    assert (await site.client.head(site.file, headers=TUS)).status == 410
    piece = b"a" * 10
    response = await site.client.patch(site.file, data=piece, headers=patch_headers(0, piece))
    assert response.status == 410
    assert (await site.client.get(f"/u/{site.token}")).status == 410
    info = await site.client.get(f"/u/{site.token}/info")
    assert info.status == 410
    assert (await info.json())["state"] == "expired"
