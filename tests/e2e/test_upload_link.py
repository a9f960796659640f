"""A CT study over Telegram's 20 MB limit reaches the draft through an upload link, resumed
after the connection drops half-way, and the chat reports progress and the result."""

from __future__ import annotations

import asyncio
import base64
import hashlib
import io
import re
import zipfile
from collections.abc import AsyncIterator

import pytest
from aiohttp.test_utils import TestClient, TestServer
from sqlalchemy import select

from bot.cases.attachments import MAX_DOWNLOAD_BYTES
from bot.cases.uploads import CHUNK_LIMIT
from bot.sandbox import specimens
from bot.sandbox.script import Person
from bot.storage.models import Attachment, Upload
from bot.web.server import build_web_app
from bot.web.uploads import uploads_setup
from tests.e2e.conftest import World
from tests.e2e.people import health_worker
from tests.e2e.test_case_draft import fill_until_attachments

LINK = re.compile(r"https?://\S+?/u/([A-Za-z0-9_-]{16,128})")
TUS = {"Tus-Resumable": "1.0.0"}


def stored_study(slices: int) -> bytes:
    """A real CT series as a zip without compression, as a CD export often is."""
    source = zipfile.ZipFile(io.BytesIO(specimens.ct_series_zip(slices=slices, size=512)))
    out = io.BytesIO()
    with source, zipfile.ZipFile(out, "w", zipfile.ZIP_STORED) as target:
        for info in source.infolist():
            target.writestr(info.filename, source.read(info))
    return out.getvalue()


def patch_headers(offset: int, piece: bytes) -> dict[str, str]:
    digest = base64.b64encode(hashlib.sha256(piece).digest()).decode()
    return {
        **TUS,
        "Content-Type": "application/offset+octet-stream",
        "Upload-Offset": str(offset),
        "Upload-Checksum": f"sha256 {digest}",
    }


@pytest.fixture
async def web(world: World) -> AsyncIterator[TestClient[object, object]]:
    app = build_web_app(world.services, [uploads_setup(world.services.uploads)])
    async with TestClient(TestServer(app)) as client:
        yield client
    await world.services.uploads.drain()


async def drop_mid_chunk(
    web: TestClient[object, object], path: str, offset: int, piece: bytes
) -> None:
    """Send a PATCH whose connection dies half-way through the body."""
    server = web.server
    _reader, writer = await asyncio.open_connection(server.host, server.port)
    headers = {
        **patch_headers(offset, piece),
        "Host": f"{server.host}:{server.port}",
        "Content-Length": str(len(piece)),
    }
    head = "".join(f"{name}: {value}\r\n" for name, value in headers.items())
    writer.write(f"PATCH {path} HTTP/1.1\r\n{head}\r\n".encode() + piece[: len(piece) // 3])
    await writer.drain()
    writer.close()
    await writer.wait_closed()


async def edits_until(person: Person, status_id: int, world: World, mark: str) -> list[str]:
    """Texts of successive edits of the status message, up to the one containing ``mark``."""
    seen: list[str] = []
    while not seen or mark not in seen[-1]:
        edited = await world.client.wait_edit(person.id, status_id, 60)
        seen.append(edited.text or "")
    return seen


async def test_big_study_through_an_upload_link_resumed_after_a_drop(
    world: World, web: TestClient[object, object]
) -> None:
    tr = world.catalogs.get("hi")
    sunita = await health_worker(world)
    await fill_until_attachments(world, sunita)
    study = stored_study(slices=42)
    assert len(study) > MAX_DOWNLOAD_BYTES

    await world.client.send_document(sunita.id, study, "CT_CHEST.zip", mime_type="application/zip")
    link = await sunita.expect(tr._("This file is over Telegram's 20 MB limit."))
    found = LINK.search(link.text or "")
    assert found is not None
    token = found.group(1)
    assert "CT_CHEST" not in (link.text or "")
    status = await sunita.expect(tr._("📤 Waiting for the file…"))

    page = await web.get(f"/u/{token}")
    assert page.status == 200
    path = f"/u/{token}/file"
    created = await web.post(path, headers={**TUS, "Upload-Length": str(len(study))})
    assert created.status == 201
    offset = int(created.headers["Upload-Offset"])
    dropped = False
    while offset < len(study):
        piece = study[offset : offset + CHUNK_LIMIT]
        if not dropped and offset >= len(study) * 2 // 5:
            await drop_mid_chunk(web, path, offset, piece)
            dropped = True
            resumed = await web.head(path, headers=TUS)  # where to go on, says the server
            assert resumed.status == 200
            assert int(resumed.headers["Upload-Offset"]) == offset
            continue
        response = await web.patch(path, data=piece, headers=patch_headers(offset, piece))
        assert response.status == 204, await response.text()
        offset = int(response.headers["Upload-Offset"])
    assert dropped

    texts = await edits_until(sunita, status.message_id, world, "✅")
    progress = [t for t in texts if "%" in t]
    assert progress
    assert progress[0] == tr._("📤 Receiving the file: {percent} %", percent=25)
    assert tr._("⏳ Processing the file…") in texts
    result = texts[-1]
    assert "CT" in result
    assert tr.ngettext("{n} file received so far.", "{n} files received so far.", 1) in result
    thumbnail = await sunita.expect()
    assert thumbnail.attachment is not None
    assert thumbnail.protect_content

    state = await world.services.drafts.state(sunita.id)
    assert state is not None
    async with world.runtime.db.transaction() as session:
        files = (
            await session.scalars(select(Attachment).where(Attachment.case_id == state.case_id))
        ).all()
        upload = await session.scalar(select(Upload).where(Upload.case_id == state.case_id))
    assert [(a.kind, a.status) for a in files] == [("zip", "ready")]
    assert files[0].meta["instances"] == 42
    assert upload is not None
    assert upload.state == "done"
    assert upload.attachment_id == files[0].id
    # the link was for one file
    assert (await web.head(path, headers=TUS)).status == 410


async def test_upload_command_needs_an_open_case(world: World) -> None:
    tr = world.catalogs.get("hi")
    sunita = await health_worker(world)
    await sunita.send("/upload")
    await sunita.expect(tr._("Start a case with /new first, then send its files."))


async def test_the_files_step_offers_an_upload_link_by_button(
    world: World, web: TestClient[object, object]
) -> None:
    tr = world.catalogs.get("hi")
    sunita = await health_worker(world)
    await fill_until_attachments(world, sunita)
    label = tr._("📤 Upload a whole study")
    messages = await world.client.messages(sunita.id)
    prompt = [m for m in messages if m.from_bot and label in m.button_texts()][-1]
    await sunita.tap(prompt, label)
    invitation = tr.ngettext(
        "Send the whole study with this link (one file, valid for {n} hour):",
        "Send the whole study with this link (one file, valid for {n} hours):",
        24,
    )
    link = await sunita.expect(invitation)
    assert tr._("This file is over Telegram's 20 MB limit.") not in (link.text or "")
    found = LINK.search(link.text or "")
    assert found is not None
    await sunita.expect(tr._("📤 Waiting for the file…"))
    info = await web.get(f"/u/{found.group(1)}/info")
    assert info.status == 200
    assert (await info.json())["state"] == "open"
