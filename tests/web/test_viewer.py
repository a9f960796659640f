"""The viewer's back end over HTTP: link and Mini App modes, frames, download, refusals."""

from __future__ import annotations

import asyncio
import io
import json
import zipfile
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import timedelta
from urllib.parse import urlencode

import pydicom
import pytest
from aiohttp.test_utils import TestClient, TestServer
from PIL import Image
from redis.asyncio import Redis
from sqlalchemy import select

from bot.app import build_services, close_services
from bot.clock import ManualClock
from bot.config import Settings
from bot.domain import CaseStatus
from bot.imaging import viewer_frames
from bot.imaging.errors import ImagingError, Reason
from bot.sandbox.specimens import FAKE_PATIENT, chest_film_dicom, ct_series_zip
from bot.security.webapp_auth import sign
from bot.services import Services
from bot.storage.models import AuditEvent, Case
from bot.web import assets, viewer
from bot.web.server import build_web_app
from bot.web.texts import LABELS
from tests.cases.conftest import Factory

BOT_TOKEN = "123456:TEST-TOKEN"


@dataclass
class Env:
    services: Services
    client: TestClient
    factory: Factory
    clock: ManualClock


@pytest.fixture
async def env(settings: Settings, clock: ManualClock, redis: Redis) -> AsyncIterator[Env]:
    settings = settings.model_copy(update={"telegram_bot_token": BOT_TOKEN, "imaging_workers": 1})
    db, kv, services = await build_services(settings, clock=clock, redis=redis)
    app = build_web_app(services, [assets.setup, viewer.setup])
    client = TestClient(TestServer(app))
    await client.start_server()
    try:
        yield Env(services, client, Factory(db, clock), clock)
    finally:
        await client.close()
        await close_services(db, kv, services)


async def accepted_case(env: Env, *files: tuple[bytes, str]) -> tuple[int, str, int, int]:
    """A case accepted by a specialist, with files: (case id, code, hw id, specialist id)."""
    hw = await env.factory.health_worker(language="hi")
    spec = await env.factory.specialist()
    case_id = await env.factory.case(hw, status=CaseStatus.ACCEPTED)
    async with env.services.attachments.db.transaction() as session:
        case = await session.get(Case, case_id)
        assert case is not None
        case.specialist_id = spec.id
        code = case.code
    for data, name in files:
        outcome = await env.services.attachments.add(case_id, code, data, name, None)
        assert outcome.ok, outcome.reason
    return case_id, code, hw.id, spec.id


async def link(env: Env, case_id: int, user_id: int, **kwargs: object) -> str:
    issued = await env.services.links.issue(case_id, user_id, **kwargs)  # type: ignore[arg-type]
    return f"/s/{issued.token}"


def jpeg_size(data: bytes) -> tuple[int, int]:
    with Image.open(io.BytesIO(data)) as image:
        assert image.format == "JPEG"
        return image.size


async def audit_rows(env: Env, action: str) -> list[AuditEvent]:
    async with env.services.attachments.db.sessions() as session:
        rows = await session.scalars(select(AuditEvent).where(AuditEvent.action == action))
        return list(rows)


async def test_link_shows_the_page_the_study_and_frames(env: Env) -> None:
    case_id, code, _, spec = await accepted_case(
        env, (chest_film_dicom(1024), "film.dcm"), (ct_series_zip(6, 96), "ct.zip")
    )
    base = await link(env, case_id, spec, download=True)

    page = await env.client.get(base)
    assert page.status == 200 and "text/html" in page.headers["Content-Type"]
    assert page.headers["Cache-Control"] == "no-store"
    assert page.headers["Referrer-Policy"] == "no-referrer"
    assert "frame-ancestors 'none'" in page.headers["Content-Security-Policy"]

    study = await (await env.client.get(f"{base}/study")).json()
    assert study["lang"] == "en" and study["dir"] == "ltr"
    assert set(study["labels"]) == set(LABELS)
    assert study["case"]["code"] == code
    assert any("42" in line for line in study["case"]["lines"])
    assert study["can_download"] is True and study["burned_in"] is False
    film, ct = study["series"]
    assert film["modality"] == "DX" and film["frames"] == 1 and film["grayscale"]
    assert (film["width"], film["height"]) == (1024, 1024)
    assert film["window"] == {"center": 2048.0, "width": 4096.0} and film["presets"] == []
    assert ct["modality"] == "CT" and ct["frames"] == 6
    assert {p["center"] for p in ct["presets"]} >= {-600.0, 40.0, 400.0}
    assert ct["window"] == {"center": 40.0, "width": 400.0}
    assert FAKE_PATIENT not in json.dumps(study)

    low = await env.client.get(f"{base}/series/{film['id']}/frames/0.jpg?size=low")
    assert low.status == 200 and low.headers["Content-Type"] == "image/jpeg"
    low_bytes = await low.read()
    assert max(jpeg_size(low_bytes)) <= 640 and len(low_bytes) <= 40 * 1024
    full = await (await env.client.get(f"{base}/series/{film['id']}/frames/0.jpg")).read()
    assert max(jpeg_size(full)) <= 1600 and len(full) > len(low_bytes)

    frames = f"{base}/series/{ct['id']}/frames"
    first = await (await env.client.get(f"{frames}/0.jpg?size=low")).read()
    last = await (await env.client.get(f"{frames}/5.jpg?size=low")).read()
    lung = await (await env.client.get(f"{frames}/0.jpg?size=low&center=-600&width=1500")).read()
    inverted = await (await env.client.get(f"{frames}/0.jpg?size=low&invert=1")).read()
    assert len({first, last, lung, inverted}) == 4
    pixels = Image.open(io.BytesIO(first)).convert("L")
    flipped = Image.open(io.BytesIO(inverted)).convert("L")
    assert abs(pixels.getpixel((2, 2)) + flipped.getpixel((2, 2)) - 255) < 12

    for bad in ("size=huge", "center=abc", "width=0", "invert=2", "center=nan"):
        answer = await env.client.get(f"{frames}/0.jpg?{bad}")
        assert answer.status == 400 and (await answer.json())["error"] == "bad_request"
    for missing in (f"{frames}/6.jpg", f"{base}/series/a999s0/frames/0.jpg", f"{frames}/x.jpg"):
        answer = await env.client.get(missing)
        assert answer.status in (400, 404)
        assert (await answer.json())["error"] in ("bad_request", "not_found")


async def test_the_study_speaks_the_recipients_language(env: Env) -> None:
    case_id, _, hw, _ = await accepted_case(env, (chest_film_dicom(256), "film.dcm"))
    base = await link(env, case_id, hw)  # the health worker reads Hindi
    study = await (await env.client.get(f"{base}/study")).json()
    assert study["lang"] == "hi"
    assert study["can_download"] is False
    assert (await env.client.get(f"{base}/download.zip")).status == 403


async def test_download_streams_the_de_identified_study(env: Env) -> None:
    case_id, code, _, spec = await accepted_case(
        env, (chest_film_dicom(256), "film.dcm"), (ct_series_zip(4, 64), "ct.zip")
    )
    base = await link(env, case_id, spec, download=True)
    answer = await env.client.get(f"{base}/download.zip")
    assert answer.status == 200 and answer.headers["Content-Type"] == "application/zip"
    assert answer.headers.get("Transfer-Encoding") == "chunked"
    assert code in answer.headers["Content-Disposition"]
    archive = zipfile.ZipFile(io.BytesIO(await answer.read()))
    names = archive.namelist()
    assert names == ["S01/00001.dcm", *[f"S02/{n:05d}.dcm" for n in range(1, 5)]]
    for name in names:
        ds = pydicom.dcmread(io.BytesIO(archive.read(name)))
        assert str(ds.PatientIdentityRemoved) == "YES"
        assert FAKE_PATIENT not in str(ds.get("PatientName", ""))
    assert len(await audit_rows(env, "link.access")) == 1


async def test_refused_links_show_the_right_page(env: Env) -> None:
    case_id, _, _, spec = await accepted_case(env, (chest_film_dicom(256), "film.dcm"))
    unknown = await env.client.get("/s/" + "A" * 32, headers={"Accept-Language": "hi,en;q=0.5"})
    assert unknown.status == 404 and 'lang="hi"' in await unknown.text()
    assert "<script" not in await unknown.text()

    revoked = await link(env, case_id, spec)
    await env.services.links.revoke(revoked.removeprefix("/s/"), by_user_id=None, reason="test")
    expired = await link(env, case_id, spec, ttl=timedelta(hours=1))
    env.clock.advance(timedelta(hours=2))
    pages = [await env.client.get(path) for path in (revoked, expired)]
    assert [p.status for p in pages] == [410, 410]
    assert (await pages[0].text()) == (await pages[1].text())  # no hint which
    api = await env.client.get(f"{revoked}/study")
    assert api.status == 410 and (await api.json())["error"] == "gone"
    frame = await env.client.get(f"{expired}/series/a1s0/frames/0.jpg")
    assert frame.status == 410


async def test_a_reassigned_case_refuses_the_old_specialists_link(env: Env) -> None:
    case_id, _, _, spec = await accepted_case(env, (chest_film_dicom(256), "film.dcm"))
    base = await link(env, case_id, spec)
    assert (await env.client.get(f"{base}/study")).status == 200
    other = await env.factory.specialist()
    async with env.services.attachments.db.transaction() as session:
        case = await session.get(Case, case_id)
        assert case is not None
        case.specialist_id = other.id
    answer = await env.client.get(f"{base}/study")
    assert answer.status == 403 and (await answer.json())["error"] == "forbidden"


async def test_frames_are_audited_once_per_series_per_minute(env: Env) -> None:
    case_id, _, _, spec = await accepted_case(env, (ct_series_zip(5, 64), "ct.zip"))
    base = await link(env, case_id, spec)
    series = (await (await env.client.get(f"{base}/study")).json())["series"][0]["id"]
    for index in range(5):
        answer = await env.client.get(f"{base}/series/{series}/frames/{index}.jpg?size=low")
        assert answer.status == 200
    rows = await audit_rows(env, "link.access")
    operations = [row.details["operation"] for row in rows]
    assert operations == ["view", "frame"]
    assert all(row.details["ip"] == "127.0.0.1" for row in rows)
    assert all(row.details["recipient_user_id"] == spec for row in rows)


async def test_guessing_is_throttled_even_for_a_valid_link(env: Env) -> None:
    case_id, _, _, spec = await accepted_case(env, (chest_film_dicom(256), "film.dcm"))
    base = await link(env, case_id, spec)
    for n in range(20):
        assert (await env.client.get(f"/s/{'B' * 31}{n % 10}/study")).status == 404
    assert (await env.client.get(f"{base}/study")).status == 429
    assert (await env.client.get(base)).status == 429


def init_data(
    clock: ManualClock, telegram_id: int, *, age: timedelta = timedelta(0), token: str = BOT_TOKEN
) -> str:
    fields = {
        "auth_date": str(int((clock.now() - age).timestamp())),
        "query_id": "AAH-test",
        "user": json.dumps({"id": telegram_id, "first_name": "Dr", "language_code": "en"}),
    }
    fields["hash"] = sign(fields, token)
    return urlencode(fields)


async def test_mini_app_checks_init_data_and_the_rule(env: Env) -> None:
    _, code, _, spec_id = await accepted_case(env, (chest_film_dicom(256), "film.dcm"))
    spec = await env.services.directory.by_id(spec_id)
    assert spec is not None
    page = await env.client.get(f"/app/{code}")
    assert page.status == 200 and "X-Frame-Options" not in page.headers
    assert "https://web.telegram.org" in page.headers["Content-Security-Policy"]

    async def study(data: str) -> int:
        answer = await env.client.get(f"/m/{code}/study", headers={"X-Telegram-Init-Data": data})
        return answer.status

    assert await study(init_data(env.clock, spec.telegram_id)) == 200
    assert await study(init_data(env.clock, spec.telegram_id, token="999:FORGED")) == 401
    assert await study(init_data(env.clock, spec.telegram_id, age=timedelta(hours=3))) == 401
    assert await study("") == 401
    stranger = await env.factory.specialist()
    assert await study(init_data(env.clock, stranger.telegram_id)) == 403
    answer = await env.client.get(
        "/m/NOPE-1/study", headers={"X-Telegram-Init-Data": init_data(env.clock, spec.telegram_id)}
    )
    assert answer.status == 403
    headers = {"X-Telegram-Init-Data": init_data(env.clock, spec.telegram_id)}
    listed = await (await env.client.get(f"/m/{code}/study", headers=headers)).json()
    series = listed["series"][0]["id"]
    frame = await env.client.get(
        f"/m/{code}/series/{series}/frames/0.jpg?size=low",
        headers={"X-Telegram-Init-Data": init_data(env.clock, spec.telegram_id)},
    )
    assert frame.status == 200 and frame.headers["Content-Type"] == "image/jpeg"


async def test_the_composed_web_side_serves_viewer_and_upload_assets(
    settings: Settings, clock: ManualClock, redis: Redis
) -> None:
    from bot.app import web_setups

    db, kv, services = await build_services(settings, clock=clock, redis=redis)
    client = TestClient(TestServer(build_web_app(services, web_setups())))
    await client.start_server()
    try:
        for name in ("viewer.js", "viewer.css", "upload.js"):
            assert (await client.get(f"/static/{name}")).status == 200, name
        assert (await client.get("/static/../bot/config.py")).status == 404
        assert (await client.get("/s/" + "C" * 32)).status == 404
    finally:
        await client.close()
        await close_services(db, kv, services)


async def test_a_series_the_viewer_cannot_show_is_still_downloaded(env: Env) -> None:
    case_id, _, _, spec = await accepted_case(env, (ct_series_zip(3, 64), "ct.zip"))
    studies = env.client.server.app[viewer.VIEWER].studies
    real_run = studies.pool.run

    async def refusing(func, *args, **kwargs):  # type: ignore[no-untyped-def]
        if func is viewer_frames.describe_dicom:
            raise ImagingError(Reason.UNSUPPORTED, "no decoder")
        return await real_run(func, *args, **kwargs)

    studies.pool = type("Pool", (), {"run": staticmethod(refusing)})()
    base = await link(env, case_id, spec, download=True)
    study = await (await env.client.get(f"{base}/study")).json()
    assert study["series"] == [] and study["can_download"] is True
    archive = zipfile.ZipFile(
        io.BytesIO(await (await env.client.get(f"{base}/download.zip")).read())
    )
    assert archive.namelist() == ["S01/00001.dcm", "S01/00002.dcm", "S01/00003.dcm"]


async def ticket(env: Env, code: str, telegram_id: int) -> tuple[int, dict[str, object]]:
    answer = await env.client.post(
        f"/m/{code}/download-ticket",
        headers={"X-Telegram-Init-Data": init_data(env.clock, telegram_id)},
    )
    return answer.status, await answer.json()


async def test_a_download_ticket_needs_valid_init_data_and_access(env: Env) -> None:
    _, code, _, spec_id = await accepted_case(env, (chest_film_dicom(256), "film.dcm"))
    spec = await env.services.directory.by_id(spec_id)
    assert spec is not None
    url = f"/m/{code}/download-ticket"
    forged = init_data(env.clock, spec.telegram_id, token="999:FORGED")
    assert (await env.client.post(url, headers={"X-Telegram-Init-Data": forged})).status == 401
    assert (await env.client.post(url)).status == 401
    stale = init_data(env.clock, spec.telegram_id, age=timedelta(hours=3))
    assert (await env.client.post(url, headers={"X-Telegram-Init-Data": stale})).status == 401
    stranger = await env.factory.specialist()
    status, _ = await ticket(env, code, stranger.telegram_id)
    assert status == 403
    # Only in Mini App mode, and only by POST.
    headers = {"X-Telegram-Init-Data": init_data(env.clock, spec.telegram_id)}
    assert (await env.client.get(url, headers=headers)).status == 405
    status, body = await ticket(env, code, spec.telegram_id)
    assert status == 200 and body["expires_in"] == 60
    assert isinstance(body["url"], str) and body["url"].startswith("/d/")
    assert len(body["url"]) >= len("/d/") + 22  # at least 128 bits, URL-safe
    # Only a hash of the ticket is stored.
    ticket_text = body["url"].removeprefix("/d/")
    keys = [key async for key in env.services.links.kv.redis.scan_iter()]
    assert keys and all(ticket_text.encode() not in key for key in keys)
    for key in keys:
        value = await env.services.links.kv.redis.get(key)
        assert value is None or ticket_text.encode() not in value


async def test_a_ticket_streams_the_zip_once(env: Env) -> None:
    case_id, code, _, spec_id = await accepted_case(
        env, (chest_film_dicom(256), "film.dcm"), (ct_series_zip(4, 64), "ct.zip")
    )
    spec = await env.services.directory.by_id(spec_id)
    assert spec is not None
    status, body = await ticket(env, code, spec.telegram_id)
    assert status == 200
    url = str(body["url"])
    answer = await env.client.get(url)
    assert answer.status == 200 and answer.headers["Content-Type"] == "application/zip"
    assert answer.headers.get("Transfer-Encoding") == "chunked"
    assert code in answer.headers["Content-Disposition"]
    assert answer.headers["Cache-Control"] == "no-store"
    archive = zipfile.ZipFile(io.BytesIO(await answer.read()))
    assert archive.namelist() == ["S01/00001.dcm", *[f"S02/{n:05d}.dcm" for n in range(1, 5)]]
    for name in archive.namelist():
        ds = pydicom.dcmread(io.BytesIO(archive.read(name)))
        assert FAKE_PATIENT not in str(ds.get("PatientName", ""))
    granted = await audit_rows(env, "link.access")
    assert len(granted) == 1 and granted[0].details["case_id"] == case_id
    assert granted[0].details["operation"] == "download"
    assert granted[0].actor_telegram_id == spec.telegram_id

    again = await env.client.get(url)
    assert again.status == 410 and "text/html" in again.headers["Content-Type"]
    assert len(await audit_rows(env, "link.access")) == 1
    denied = await audit_rows(env, "link.denied")
    assert len(denied) == 1
    assert denied[0].details["reason"] == "ticket_used"
    assert url.removeprefix("/d/") not in json.dumps(denied[0].details)


async def test_an_expired_or_unknown_ticket_is_refused(env: Env) -> None:
    _, code, _, spec_id = await accepted_case(env, (chest_film_dicom(256), "film.dcm"))
    spec = await env.services.directory.by_id(spec_id)
    assert spec is not None
    _, body = await ticket(env, code, spec.telegram_id)
    env.clock.advance(timedelta(seconds=61))
    assert (await env.client.get(str(body["url"]))).status == 410
    assert (await env.client.get("/d/" + "A" * 32)).status == 404
    assert (await env.client.get("/d/short")).status == 404


async def test_two_racing_uses_of_a_ticket_get_one_zip(env: Env) -> None:
    _, code, _, spec_id = await accepted_case(env, (chest_film_dicom(256), "film.dcm"))
    spec = await env.services.directory.by_id(spec_id)
    assert spec is not None
    _, body = await ticket(env, code, spec.telegram_id)
    first, second = await asyncio.gather(
        env.client.get(str(body["url"])), env.client.get(str(body["url"]))
    )
    assert sorted([first.status, second.status]) == [200, 410]
    await first.read()
    await second.read()


async def test_a_ticket_is_bound_to_its_case_and_rechecked(env: Env) -> None:
    _, code, _, spec_id = await accepted_case(env, (chest_film_dicom(256), "film.dcm"))
    _, other_code, _, _ = await accepted_case(env, (chest_film_dicom(128), "other.dcm"))
    spec = await env.services.directory.by_id(spec_id)
    assert spec is not None
    # The other case's specialist is someone else: no ticket for it.
    status, _ = await ticket(env, other_code, spec.telegram_id)
    assert status == 403
    _, body = await ticket(env, code, spec.telegram_id)
    answer = await env.client.get(str(body["url"]))
    assert answer.status == 200
    assert other_code not in answer.headers["Content-Disposition"]
    assert code in answer.headers["Content-Disposition"]
    await answer.read()
    # Reassigned away between issue and use: refused.
    _, body = await ticket(env, code, spec.telegram_id)
    someone_else = await env.factory.specialist()
    async with env.services.attachments.db.transaction() as session:
        case = await session.scalar(select(Case).where(Case.code == code))
        assert case is not None
        case.specialist_id = someone_else.id
    assert (await env.client.get(str(body["url"]))).status == 403
