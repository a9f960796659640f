"""Error pages and API errors of the viewer, in the reader's language.

The pages are plain HTML with the viewer's stylesheet and no script. A guessed token
learns only the status the issue asks for: 404 for unknown, 410 for expired and revoked
alike (the same page), 403, 429; nothing names a case or a person.
"""

from __future__ import annotations

import html
from typing import Any

from aiohttp import web

from bot.i18n import Catalogs, Translator
from bot.web.texts import API_ERRORS, PAGES, text_direction

API_CODES: dict[int, str] = {
    400: "bad_request",
    401: "unauthorized",
    403: "forbidden",
    404: "not_found",
    410: "gone",
    429: "throttled",
}


def preferred_language(request: web.Request, catalogs: Catalogs) -> str:
    """The first language of ``Accept-Language`` that we have a catalog for, else English."""
    available = set(catalogs.available)
    weighted: list[tuple[float, int, str]] = []
    header = request.headers.get("Accept-Language", "")[:400]
    for position, part in enumerate(header.split(",")[:20]):
        code, _, params = part.strip().partition(";")
        quality = 1.0
        if params.strip().startswith("q="):
            try:
                quality = float(params.strip()[2:])
            except ValueError:
                quality = 0.0
        base = code.strip().lower().split("-")[0]
        if base in available and quality > 0:
            weighted.append((-quality, position, base))
    return min(weighted)[2] if weighted else "en"


def error_page(tr: Translator, status: int) -> web.Response:
    """The page for a refused link (404, 410, 403, 429, 401)."""
    title, explanation = PAGES.get(status, PAGES[404])
    body = (
        "<!doctype html>\n"
        f'<html lang="{tr.language}" dir="{text_direction(tr.language)}">'
        '<head><meta charset="utf-8">'
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        '<meta name="referrer" content="no-referrer">'
        f"<title>{html.escape(tr._(title))}</title>"
        '<link rel="stylesheet" href="/static/viewer.css"></head>'
        f'<body class="error-page"><main class="error" data-status="{status}">'
        f"<h1>{html.escape(tr._(title))}</h1>"
        f"<p>{html.escape(tr._(explanation))}</p>"
        "</main></body></html>\n"
    )
    return web.Response(status=status, text=body, content_type="text/html", charset="utf-8")


def api_error(tr: Translator, status: int, code: str | None = None) -> web.Response:
    """``{"error": code, "message": translated}`` with ``status``."""
    code = code or API_CODES.get(status, "error")
    if code in API_ERRORS:
        message = tr._(API_ERRORS[code])
    else:
        message = tr._(PAGES.get(status, PAGES[404])[0])
    payload: dict[str, Any] = {"error": code, "message": message}
    return web.json_response(payload, status=status)
