"""Static assets: only the listed files, right types, gzip, revalidation, no inline code."""

from __future__ import annotations

import gzip
import re
from collections.abc import AsyncIterator

import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient, TestServer

from bot.web import assets
from bot.web.server import security_headers

BUDGET = 25 * 1024  # JS + CSS, uncompressed: the first image must win at 256 kbit/s


@pytest.fixture
async def client() -> AsyncIterator[TestClient]:
    app = web.Application(middlewares=[security_headers])
    assets.setup(app)
    async with TestClient(TestServer(app)) as client:
        yield client


@pytest.mark.parametrize(
    ("name", "content_type"), [("viewer.js", "text/javascript"), ("viewer.css", "text/css")]
)
async def test_assets_are_served_with_their_type(
    client: TestClient, name: str, content_type: str
) -> None:
    response = await client.get(f"/static/{name}", headers={"Accept-Encoding": "identity"})
    assert response.status == 200
    assert response.content_type == content_type
    assert await response.read() == (assets.STATIC_DIR / name).read_bytes()
    assert response.headers["X-Content-Type-Options"] == "nosniff"
    assert response.headers["Cache-Control"] == "no-cache"


async def test_gzip_and_etag_revalidation(client: TestClient) -> None:
    response = await client.get(
        "/static/viewer.js", headers={"Accept-Encoding": "gzip"}, auto_decompress=False
    )
    body = await response.read()
    assert response.headers["Content-Encoding"] == "gzip"
    assert gzip.decompress(body) == (assets.STATIC_DIR / "viewer.js").read_bytes()
    assert len(body) < len(gzip.decompress(body)) / 2
    again = await client.get(
        "/static/viewer.js",
        headers={"Accept-Encoding": "gzip", "If-None-Match": response.headers["ETag"]},
    )
    assert again.status == 304
    assert await again.read() == b""


@pytest.mark.parametrize(
    "path",
    ["/static/", "/static/viewer.html", "/static/..%2fassets.py", "/static/nothing.js"],
)
async def test_nothing_else_is_served(client: TestClient, path: str) -> None:
    response = await client.get(path)
    assert response.status == 404


def test_pages_have_no_inline_code_and_assets_stay_small() -> None:
    html = (assets.STATIC_DIR / "viewer.html").read_text()
    assert "<style" not in html
    assert not re.search(r"\sstyle=", html)
    assert not re.search(r"\son[a-z]+=", html)  # no inline event handlers
    for script in re.findall(r"<script[^>]*>", html):
        assert 'src="/static/' in script
    assert "http://" not in html and "https://" not in html  # nothing from a CDN
    size = sum((assets.STATIC_DIR / name).stat().st_size for name in assets.ASSETS)
    assert size < BUDGET
