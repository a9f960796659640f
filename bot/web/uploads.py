"""Upload links on the web side: the page and a tus-1.0.0-style resumable upload.

Routes (``{token}`` is the upload link's token; see :mod:`bot.cases.uploads`)::

    GET     /u/{token}           the upload page (static HTML, /static/upload.js and .css)
    GET     /u/{token}/info      JSON: state, offset, limits and the page's words in the
                                 health worker's language
    OPTIONS /u/{token}/file      tus discovery (version, extensions, max size, checksums)
    POST    /u/{token}/file      creation: ``Upload-Length`` → 201, ``Location``
    HEAD    /u/{token}/file      ``Upload-Offset`` / ``Upload-Length`` (resume from here)
    PATCH   /u/{token}/file      ``Upload-Offset`` + ``Upload-Checksum`` + ≤ 1 MB body → 204

Answers: 404 unknown token, 410 expired or spent, 409 offset mismatch (with the current
``Upload-Offset``), 460 checksum mismatch, 413 over the limit or over 1 MB in one request,
400 missing/malformed headers, 412 another tus version. The PATCH body is read here with
its own limit (never more than one chunk in memory), independent of the application's
``client_max_size``.
"""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

from aiohttp import ClientPayloadError, web

from bot.cases.uploads import (
    ALGORITHMS,
    CHUNK_LIMIT,
    Problem,
    UploadRefused,
    UploadService,
    UploadState,
    UploadView,
    parse_checksum,
)
from bot.i18n import N_, Translator
from bot.web.server import SERVICES, Setup

UPLOADS = web.AppKey("uploads", UploadService)
TUS_VERSION = "1.0.0"
STATIC = Path(__file__).parent / "static"
OFFSET_CONTENT_TYPE = "application/offset+octet-stream"
RTL_LANGUAGES = frozenset({"ur"})

LABELS: dict[str, str] = {
    "title": N_("Send a large file"),
    "intro": N_(
        "Choose the study (a zip of the CD, or a DICOM file). It is sent in small parts; "
        "if the connection drops, sending continues by itself."
    ),
    "choose": N_("Choose file"),
    "send": N_("Send"),
    "sending": N_("Sending… {percent} %"),
    "retrying": N_("No connection. Waiting to try again…"),
    "done": N_("Received. The result will appear in the chat."),
    "too_large": N_("This file is too large: at most {size} MB."),
    "failed": N_("The file could not be sent. Ask for a new link in the chat."),
    "gone": N_("This link is no longer valid"),
    "gone_hint": N_("It has expired or was withdrawn. Ask for a new link in the chat."),
    "unknown": N_("Link not found"),
    "unknown_hint": N_("This link does not exist. Check that it was copied completely."),
}

_TUS_HEADERS = {"Tus-Resumable": TUS_VERSION}
_REASONS = {460: "Checksum Mismatch"}
_FINISHED = (UploadState.PROCESSING, UploadState.DONE, UploadState.FAILED)


def _service(request: web.Request) -> UploadService:
    return request.app[UPLOADS]


def _token(request: web.Request) -> str:
    return request.match_info["token"]


def _refusal(exc: UploadRefused) -> web.Response:
    """The tus answer to a refused request (plain text; the page reads only the status)."""
    headers = dict(_TUS_HEADERS)
    if exc.offset is not None:
        headers["Upload-Offset"] = str(exc.offset)
    status = exc.problem.status
    return web.Response(
        status=status, reason=_REASONS.get(status), text=exc.problem.value, headers=headers
    )


def _offset_headers(view: UploadView) -> dict[str, str]:
    headers = dict(_TUS_HEADERS)
    headers["Upload-Offset"] = str(view.offset)
    if view.length is not None:
        headers["Upload-Length"] = str(view.length)
    return headers


def _check_version(request: web.Request) -> None:
    version = request.headers.get("Tus-Resumable")
    if version is not None and version != TUS_VERSION:
        raise web.HTTPPreconditionFailed(headers={"Tus-Version": TUS_VERSION})


def _int_header(request: web.Request, name: str) -> int:
    raw = request.headers.get(name, "")
    if not raw.isdigit() or len(raw) > 15:
        raise UploadRefused(Problem.BAD_REQUEST)
    return int(raw)


# ---------------------------------------------------------------------- the page


async def page(request: web.Request) -> web.StreamResponse:
    """The upload page; its status already tells a dead link (the words come from /info)."""
    try:
        await _service(request).status(_token(request))
        status = 200
    except UploadRefused as exc:
        status = exc.problem.status
    return _static(request, "upload.html", status=status)


async def info(request: web.Request) -> web.Response:
    """State, offset, limits and the page's words, in the health worker's language."""
    service = _service(request)
    catalogs = request.app[SERVICES].catalogs
    try:
        view: UploadView | None = await service.describe(_token(request))
    except UploadRefused:
        view = None
    tr = catalogs.get(view.language if view else None)
    payload: dict[str, Any] = {
        "lang": tr.language,
        "dir": "rtl" if tr.language in RTL_LANGUAGES else "ltr",
        "labels": labels(tr, service.max_bytes),
        "chunk_bytes": CHUNK_LIMIT,
        "max_bytes": service.max_bytes,
        "checksums": list(ALGORITHMS),
    }
    if view is None:
        payload["state"] = "unknown"
        return web.json_response(payload, status=404)
    state = view.state
    live = state in (UploadState.OPEN, UploadState.RECEIVING) and view.expires_at > (
        service.clock.now()
    )
    payload |= {
        "state": state.value if live or state in _FINISHED else "expired",
        "offset": view.offset,
        "length": view.length,
    }
    if not live and state not in _FINISHED:
        return web.json_response(payload, status=410)
    return web.json_response(payload)


def labels(tr: Translator, max_bytes: int) -> dict[str, str]:
    """The page's words, translated; ``{percent}`` is filled in by the page."""
    words = {key: tr._(text) for key, text in LABELS.items() if key not in ("too_large",)}
    words["too_large"] = tr._(LABELS["too_large"], size=max_bytes // (1024 * 1024))
    return words


# ---------------------------------------------------------------------- tus


async def options(request: web.Request) -> web.Response:
    """tus discovery."""
    return web.Response(
        status=204,
        headers={
            **_TUS_HEADERS,
            "Tus-Version": TUS_VERSION,
            "Tus-Extension": "creation,checksum",
            "Tus-Max-Size": str(_service(request).max_bytes),
            "Tus-Checksum-Algorithm": ",".join(ALGORITHMS),
        },
    )


async def create(request: web.Request) -> web.Response:
    """Announce the file (``Upload-Length``); repeating it is harmless."""
    _check_version(request)
    try:
        length = _int_header(request, "Upload-Length")
        view = await _service(request).create(_token(request), length)
    except UploadRefused as exc:
        return _refusal(exc)
    headers = _offset_headers(view)
    headers["Location"] = f"/u/{_token(request)}/file"
    return web.Response(status=201, headers=headers)


async def head(request: web.Request) -> web.Response:
    """Where to resume: the server's offset."""
    try:
        view = await _service(request).status(_token(request))
    except UploadRefused as exc:
        return _refusal(exc)
    if view.length is None:  # link live, file not announced yet
        return web.Response(status=404, headers=dict(_TUS_HEADERS))
    return web.Response(status=200, headers=_offset_headers(view))


async def patch(request: web.Request) -> web.Response:
    """One chunk at ``Upload-Offset``, checked against ``Upload-Checksum``."""
    _check_version(request)
    if request.content_type != OFFSET_CONTENT_TYPE:
        return web.Response(status=415, headers=dict(_TUS_HEADERS))
    declared = request.content_length
    if declared is not None and declared > CHUNK_LIMIT:
        return _refusal(UploadRefused(Problem.TOO_LARGE))
    try:
        offset = _int_header(request, "Upload-Offset")
        checksum = parse_checksum(request.headers.get("Upload-Checksum"))
        data = await _read_body(request)
        view = await _service(request).append(_token(request), offset, data, checksum)
    except UploadRefused as exc:
        return _refusal(exc)
    return web.Response(status=204, headers=_offset_headers(view))


async def _read_body(request: web.Request) -> bytes:
    """The request body, at most one chunk (413 beyond); a body cut short by a dropped
    connection is refused whole (the page asks HEAD where to go on)."""
    parts: list[bytes] = []
    size = 0
    try:
        while size <= CHUNK_LIMIT:
            more = await request.content.read(CHUNK_LIMIT + 1 - size)
            if not more:
                break
            parts.append(more)
            size += len(more)
    except (ClientPayloadError, ConnectionError, asyncio.IncompleteReadError):
        raise UploadRefused(Problem.BAD_REQUEST) from None
    if size > CHUNK_LIMIT:
        raise UploadRefused(Problem.TOO_LARGE)
    if request.content_length is not None and size != request.content_length:
        raise UploadRefused(Problem.BAD_REQUEST)
    return b"".join(parts)


# ---------------------------------------------------------------------- assets

_MEDIA = {".html": "text/html", ".js": "text/javascript", ".css": "text/css"}
_cache: dict[str, bytes] = {}


def _static(request: web.Request, name: str, *, status: int = 200) -> web.Response:
    body = _cache.get(name)
    if body is None:
        body = _cache[name] = (STATIC / name).read_bytes()
    return web.Response(
        status=status,
        body=body,
        content_type=_MEDIA[Path(name).suffix],
        charset="utf-8",
    )


async def upload_js(request: web.Request) -> web.Response:
    return _static(request, "upload.js")


async def upload_css(request: web.Request) -> web.Response:
    return _static(request, "upload.css")


def uploads_setup(service: UploadService) -> Setup:
    """A ``setup(app)`` mounting the upload routes for ``service``."""

    async def resume(_app: web.Application) -> None:
        await service.resume_unfinished()

    def setup(app: web.Application) -> None:
        app[UPLOADS] = service
        app.on_startup.append(resume)
        app.router.add_get("/static/upload.js", upload_js)
        app.router.add_get("/static/upload.css", upload_css)
        app.router.add_get("/u/{token}", page)
        app.router.add_get("/u/{token}/info", info)
        file = app.router.add_resource("/u/{token}/file")
        file.add_route("OPTIONS", options)
        file.add_route("POST", create)
        file.add_route("HEAD", head)
        file.add_route("PATCH", patch)

    return setup


def setup(app: web.Application) -> None:
    """Mount the upload routes with the services' upload service (``bot.app.web_setups``)."""
    uploads_setup(app[SERVICES].uploads)(app)
