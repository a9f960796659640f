"""The study viewer's routes: capability links and the Telegram Mini App.

Link mode (token in the path)::

    GET /s/{token}                                  the viewer page (404 / 410 page)
    GET /s/{token}/study                            series, case card, labels (JSON)
    GET /s/{token}/series/{id}/frames/{i}.jpg       one frame (?size=low|full&center&width&invert)
    GET /s/{token}/download.zip                     the de-identified study, streamed

Mini App mode: ``GET /app/{case_code}`` is the same page (frameable by Telegram); its API
is ``/m/{case_code}/…`` with the same paths, and every request carries the Mini App's
``initData`` in ``X-Telegram-Init-Data``, verified here (``bot.security.webapp_auth``) and
then checked against the one rule of who may see a case. A navigation cannot carry that
header, so the Mini App downloads through a ticket: ``POST /m/{case_code}/download-ticket``
answers ``{"url": "/d/{ticket}"}`` (60 s, one use, bound to the case and the Telegram
user, :mod:`bot.security.download_tickets`) and ``GET /d/{ticket}`` streams the zip,
after checking the rule again (404 unknown, 410 used or expired).

Every request is checked again (revocation and reassignment take effect at once) and
audited by :class:`~bot.security.capability_links.LinkService`: page, study and download
each time; frames once per series per viewer per minute (a 300-slice scroll would
otherwise write 300 rows), refusals always. Tokens never reach a log: the runner has no
access log, and nothing here logs a path.
"""

from __future__ import annotations

import asyncio
import logging
import math
import re
import time
from dataclasses import dataclass
from typing import Any

from aiohttp import web

from bot.cases.study import Series, StudyService
from bot.imaging.dicom_render import window_presets
from bot.imaging.errors import ImagingError
from bot.imaging.viewer_frames import Size
from bot.security.capability_links import Denied, LinkAccess, MemberAccess
from bot.security.download_tickets import TICKET_SECONDS, DownloadTickets, TicketRefusal
from bot.security.webapp_auth import InitDataError, verify_init_data
from bot.services import Services
from bot.web import assets
from bot.web.download import stream_zip
from bot.web.pages import api_error, error_page, preferred_language
from bot.web.server import FRAMEABLE, SERVICES
from bot.web.texts import PRESET_NAMES, case_lines, labels, text_direction

log = logging.getLogger(__name__)

INIT_DATA_HEADER = "X-Telegram-Init-Data"
FRAME_AUDIT_SECONDS = 60.0
_CODE_RE = re.compile(r"[A-Za-z0-9-]{1,32}")
_SERIES_RE = re.compile(r"a\d{1,12}[sp]\d{1,4}")
_LIMIT = 1e6


@dataclass(frozen=True)
class Grant:
    """A checked request: which case, in which language, may it download."""

    case_id: int
    user_id: int
    can_download: bool
    language: str | None  # None: look it up only when needed


class Viewer:
    """Handlers of both modes; one instance per web application."""

    def __init__(self, services: Services, studies: StudyService, tickets: DownloadTickets) -> None:
        self.services = services
        self.studies = studies
        self.links = services.links
        self.tickets = tickets
        self._frame_audits: dict[tuple[str, str], float] = {}
        self._background: set[asyncio.Task[Any]] = set()

    # ------------------------------------------------------------------ access

    def _client(self, request: web.Request) -> dict[str, Any]:
        return {"ip": request.remote, "user_agent": request.headers.get("User-Agent")}

    async def _link(
        self, request: web.Request, action: str, *, audit_grant: bool = True
    ) -> Grant | Denied:
        token = request.match_info["token"]
        got = await self.links.resolve(
            token, action=action, audit_grant=audit_grant, **self._client(request)
        )
        if isinstance(got, Denied):
            return got
        assert isinstance(got, LinkAccess)
        return Grant(got.case_id, got.recipient_user_id, got.can_download, None)

    async def _member(
        self, request: web.Request, action: str, *, audit_grant: bool = True
    ) -> Grant | Denied | web.Response:
        """Verify ``initData``, then the rule; 401 (JSON) when the data is bad or stale."""
        client = self._client(request)
        raw = request.headers.get(INIT_DATA_HEADER, "")
        try:
            user = verify_init_data(
                raw, self.services.settings.telegram_bot_token, now=self.services.clock.now()
            )
        except InitDataError as exc:
            refused = await self.links.refuse_init_data(exc.reason, **client)
            if refused.status == 429:
                return refused
            tr = self.services.catalogs.get(preferred_language(request, self.services.catalogs))
            return api_error(tr, 401)
        code = request.match_info["code"]
        case_id = await self.links.case_id_for_code(code) if _CODE_RE.fullmatch(code) else None
        got = await self.links.authorize_member(
            user.id, case_id or 0, action=action, audit_grant=audit_grant, **client
        )
        if isinstance(got, Denied):
            return got
        assert isinstance(got, MemberAccess)
        return Grant(got.case_id, got.user_id, True, user.language_code)

    async def _grant(
        self, request: web.Request, action: str, *, audit_grant: bool = True
    ) -> Grant | web.Response:
        """The grant of an API request, or the JSON error to answer with."""
        if "token" in request.match_info:
            got: Grant | Denied | web.Response = await self._link(
                request, action, audit_grant=audit_grant
            )
        else:
            got = await self._member(request, action, audit_grant=audit_grant)
        if isinstance(got, Denied):
            return api_error(self._request_tr(request), got.status)
        return got

    def _request_tr(self, request: web.Request) -> Any:
        return self.services.catalogs.get(preferred_language(request, self.services.catalogs))

    async def _language(self, grant: Grant, request: web.Request) -> str:
        user = await self.services.directory.by_id(grant.user_id)
        if user is not None and user.language:
            return user.language
        return grant.language or preferred_language(request, self.services.catalogs)

    def _audit_frame_now(self, request: web.Request, series_id: str) -> bool:
        """Whether this frame request is the first of its viewer and series this minute."""
        if "token" in request.match_info:
            who = self.links.token_hash(request.match_info["token"])[:32]
        else:
            who = request.match_info["code"] + ":" + request.headers.get(INIT_DATA_HEADER, "")[-64:]
        key = (who, series_id)
        now = time.monotonic()
        last = self._frame_audits.get(key)
        if last is not None and now - last < FRAME_AUDIT_SECONDS:
            return False
        if len(self._frame_audits) > 10_000:
            self._frame_audits = {
                k: t for k, t in self._frame_audits.items() if now - t < FRAME_AUDIT_SECONDS
            }
        self._frame_audits[key] = now
        return True

    # ------------------------------------------------------------------ pages

    async def link_page(self, request: web.Request) -> web.StreamResponse:
        """``GET /s/{token}``: the viewer page, or the page for a refused link."""
        got = await self._link(request, "view")
        if isinstance(got, Denied):
            return error_page(self._request_tr(request), got.status)
        self._prepare(got.case_id)
        return assets.page(request)

    def _prepare(self, case_id: int) -> None:
        """Describe the study (and render its first frames) while the page and its assets
        travel to the phone, so ``/study`` and the first image are ready when asked for."""
        task = asyncio.create_task(self.studies.study(case_id))
        self._background.add(task)
        task.add_done_callback(self._settled)

    def _settled(self, task: asyncio.Task[Any]) -> None:
        self._background.discard(task)
        if not task.cancelled() and task.exception() is not None:
            log.warning("study not prepared", extra={"error": type(task.exception()).__name__})

    async def app_page(self, request: web.Request) -> web.StreamResponse:
        """``GET /app/{code}``: the same page for the Mini App (it may be framed)."""
        request[FRAMEABLE] = True
        return assets.page(request)

    # ------------------------------------------------------------------ API

    async def study(self, request: web.Request) -> web.StreamResponse:
        """``GET {base}/study``: what the page shows besides the images."""
        grant = await self._grant(request, "view")
        if isinstance(grant, web.Response):
            return grant
        language = await self._language(grant, request)
        tr = self.services.catalogs.get(language)
        case = await self.studies.case(grant.case_id)
        study = await self.studies.study(grant.case_id)
        if case is None:
            return api_error(tr, 404)
        payload = {
            "lang": tr.language,
            "dir": text_direction(tr.language),
            "labels": labels(tr),
            "case": {"code": case.code, "lines": case_lines(tr, case)},
            "burned_in": study.burned_in_risk,
            "can_download": grant.can_download and bool(study.downloads),
            "series": [_series_json(tr, n, s) for n, s in enumerate(study.series, 1)],
        }
        return web.json_response(payload)

    async def frame(self, request: web.Request) -> web.StreamResponse:
        """``GET {base}/series/{series}/frames/{index}.jpg``."""
        series_id = request.match_info["series"]
        audit = _SERIES_RE.fullmatch(series_id) is not None and self._audit_frame_now(
            request, series_id
        )
        grant = await self._grant(request, "frame", audit_grant=audit)
        if isinstance(grant, web.Response):
            return grant
        tr = self._request_tr(request)
        try:
            index = int(request.match_info["index"])
            size, window, invert = _frame_options(request.query)
        except ValueError:
            return api_error(tr, 400, "bad_request")
        study = await self.studies.study(grant.case_id)
        series = study.find(series_id)
        if series is None or not 0 <= index < series.frames:
            return api_error(tr, 404, "not_found")
        window = _complete(window, series.window)
        try:
            jpeg = await self.studies.frame(series, index, size, window=window, invert=invert)
        except ImagingError as exc:
            log.warning("viewer frame failed", extra={"reason": exc.reason.value})
            return web.json_response(
                {"error": "render_failed", "message": labels(tr)["error"]}, status=500
            )
        return web.Response(body=jpeg, content_type="image/jpeg")

    async def download(self, request: web.Request) -> web.StreamResponse:
        """``GET {base}/download.zip``: only when the grant permits downloading."""
        grant = await self._grant(request, "download")
        if isinstance(grant, web.Response):
            return grant
        if not grant.can_download:
            return api_error(self._request_tr(request), 403)
        case = await self.studies.case(grant.case_id)
        study = await self.studies.study(grant.case_id)
        if case is None or not study.downloads:
            return api_error(self._request_tr(request), 404, "not_found")
        return await stream_zip(
            request, self.services.blobs, study.downloads, f"study-{case.code}.zip"
        )

    async def download_ticket(self, request: web.Request) -> web.StreamResponse:
        """``POST /m/{code}/download-ticket``: a one-use URL for the zip (Mini App only)."""
        got = await self._member(request, "download", audit_grant=False)
        if isinstance(got, web.Response):
            return got
        if isinstance(got, Denied):
            return api_error(self._request_tr(request), got.status)
        study = await self.studies.study(got.case_id)
        if not study.downloads:
            return api_error(self._request_tr(request), 404, "not_found")
        user = await self.services.directory.by_id(got.user_id)
        if user is None:
            return api_error(self._request_tr(request), 403)
        ticket = await self.tickets.issue(got.case_id, user.telegram_id)
        return web.json_response({"url": f"/d/{ticket}", "expires_in": TICKET_SECONDS})

    async def ticket_download(self, request: web.Request) -> web.StreamResponse:
        """``GET /d/{ticket}``: the zip, once, within a minute of the ticket's issue."""
        client = self._client(request)
        tr = self._request_tr(request)
        used = await self.tickets.consume(request.match_info["ticket"], **client)
        if isinstance(used, TicketRefusal):
            return error_page(tr, used.status)
        got = await self.links.authorize_member(
            used.telegram_id, used.case_id, action="download", **client
        )
        if isinstance(got, Denied):
            return error_page(tr, got.status)
        case = await self.studies.case(got.case_id)
        study = await self.studies.study(got.case_id)
        if case is None or not study.downloads:
            return error_page(tr, 404)
        return await stream_zip(
            request, self.services.blobs, study.downloads, f"study-{case.code}.zip"
        )


def _series_json(tr: Any, number: int, series: Series) -> dict[str, Any]:
    ct = series.grayscale and (series.modality or "").upper() == "CT"
    label = f"{number}. {series.modality}" if series.modality else f"{number}"
    return {
        "id": series.id,
        "label": label,
        "modality": series.modality,
        "frames": series.frames,
        "grayscale": series.grayscale,
        "width": series.width,
        "height": series.height,
        "window": (
            {"center": series.window[0], "width": series.window[1]}
            if series.window is not None
            else None
        ),
        "presets": (
            [
                {"name": tr._(PRESET_NAMES[name]), "center": center, "width": width}
                for name, (center, width) in window_presets.items()
            ]
            if ct
            else []
        ),
    }


def _number(text: str | None) -> float | None:
    if text is None or text == "":
        return None
    value = float(text)
    if not math.isfinite(value) or abs(value) > _LIMIT:
        raise ValueError("out of range")
    return value


def _frame_options(
    query: Any,
) -> tuple[Size, tuple[float | None, float | None] | None, bool]:
    """``size``, (``center``, ``width``) and ``invert`` of a frame request; ValueError if bad."""
    size = query.get("size", "full")
    if size not in ("low", "full"):
        raise ValueError("size")
    center = _number(query.get("center"))
    width = _number(query.get("width"))
    if width is not None and width < 1:
        raise ValueError("width")
    invert = query.get("invert", "0")
    if invert not in ("0", "1"):
        raise ValueError("invert")
    window = None if center is None and width is None else (center, width)
    return size, window, invert == "1"


def _complete(
    asked: tuple[float | None, float | None] | None, default: tuple[float, float] | None
) -> tuple[float, float] | None:
    """The window to render: what was asked, a missing half taken from the default."""
    if asked is None:
        return None
    center = asked[0] if asked[0] is not None else (default[0] if default else None)
    width = asked[1] if asked[1] is not None else (default[1] if default else None)
    if center is None or width is None:
        return None
    return (center, width)


VIEWER = web.AppKey("viewer", Viewer)


def setup(app: web.Application) -> None:
    """Mount both modes' routes (the static assets are ``bot.web.assets``)."""
    services: Services = app[SERVICES]
    attachments = services.attachments
    tickets = DownloadTickets(services.links.kv, services.clock, attachments.db)
    viewer = Viewer(
        services, StudyService(attachments.db, services.blobs, attachments.pool), tickets
    )
    app[VIEWER] = viewer
    router = app.router
    router.add_get("/s/{token}", viewer.link_page)
    router.add_get("/app/{code}", viewer.app_page)
    for base in ("/s/{token}", "/m/{code}"):
        router.add_get(f"{base}/study", viewer.study)
        router.add_get(f"{base}/series/{{series}}/frames/{{index}}.jpg", viewer.frame)
        router.add_get(f"{base}/download.zip", viewer.download)
    router.add_post("/m/{code}/download-ticket", viewer.download_ticket)
    router.add_get("/d/{ticket}", viewer.ticket_download)
