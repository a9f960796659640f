"""Static assets of the web pages (``bot/web/static``), shipped in the package.

Only the files listed in :data:`ASSETS` are served — no directory listing, no path
walking. They are read once, kept gzip-compressed as well (a 256 kbit/s phone saves most
of the bytes), and revalidated by ETag instead of being re-sent.
"""

from __future__ import annotations

import gzip
import hashlib
from dataclasses import dataclass
from pathlib import Path

from aiohttp import web

STATIC_DIR = Path(__file__).parent / "static"
ASSETS: dict[str, str] = {
    "viewer.css": "text/css",
    "viewer.js": "text/javascript",
}
PAGES: dict[str, str] = {"viewer.html": "text/html"}


@dataclass(frozen=True)
class Asset:
    """One file's bytes, its gzip form and its validator."""

    body: bytes
    gzipped: bytes
    content_type: str
    etag: str

    @classmethod
    def read(cls, name: str, content_type: str) -> Asset:
        body = (STATIC_DIR / name).read_bytes()
        etag = '"' + hashlib.sha256(body).hexdigest()[:20] + '"'
        return cls(body, gzip.compress(body, 9, mtime=0), content_type, etag)

    def response(self, request: web.Request, *, cache: str = "no-cache") -> web.Response:
        """200 with the body (gzip when accepted) or 304 when the client has this version."""
        zipped = "gzip" in request.headers.get("Accept-Encoding", "")
        etag = self.etag[:-1] + '-gz"' if zipped else self.etag
        headers = {"ETag": etag, "Cache-Control": cache, "Vary": "Accept-Encoding"}
        if etag in request.headers.get("If-None-Match", ""):
            return web.Response(status=304, headers=headers)
        body = self.body
        if zipped:
            body = self.gzipped
            headers["Content-Encoding"] = "gzip"
        return web.Response(
            body=body, headers=headers, content_type=self.content_type, charset="utf-8"
        )


_cache: dict[str, Asset] = {}


def asset(name: str) -> Asset:
    """The named static file (``viewer.html``, ``viewer.js``...), read once."""
    found = _cache.get(name)
    if found is None:
        content_type = ASSETS.get(name) or PAGES[name]
        found = _cache[name] = Asset.read(name, content_type)
    return found


def page(request: web.Request, name: str = "viewer.html") -> web.Response:
    """A static HTML page (never cached: the middleware's ``no-store`` applies)."""
    return asset(name).response(request, cache="no-store")


async def serve_asset(request: web.Request) -> web.Response:
    """``GET /static/{name}`` for the listed assets; 404 for anything else."""
    name = request.match_info["name"]
    if name not in ASSETS:
        raise web.HTTPNotFound()
    return asset(name).response(request)


def setup(app: web.Application) -> None:
    """Mount ``/static/{name}``."""
    app.router.add_get("/static/{name}", serve_asset)
