"""One aiohttp application for everything the web side serves.

Each feature lives in its own module with a ``setup(app)`` that adds its routes; the
services reach handlers through ``app[SERVICES]``. Every response carries the security
headers below, whatever route produced it.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Iterable

from aiohttp import web

from bot.services import Services

SERVICES = web.AppKey("services", Services)
#: Set on a request whose page Telegram's Mini App host may show in a frame.
FRAMEABLE = web.RequestKey("frameable", bool)

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]
Setup = Callable[[web.Application], None]

# Telegram's Mini App clients embed the page in a frame from these origins.
MINI_APP_FRAME_ANCESTORS = "https://web.telegram.org https://*.telegram.org"

BASE_HEADERS = {
    "Cache-Control": "no-store",
    "Referrer-Policy": "no-referrer",
    "X-Content-Type-Options": "nosniff",
    "Cross-Origin-Opener-Policy": "same-origin",
    "Permissions-Policy": "camera=(), microphone=(), geolocation=()",
}
CSP = (
    "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' blob: data:; "
    "connect-src 'self'; font-src 'self'; form-action 'self'; base-uri 'none'; "
    "frame-ancestors {ancestors}"
)


@web.middleware
async def security_headers(request: web.Request, handler: Handler) -> web.StreamResponse:
    """Add the headers to every response, errors included; framing only for Mini App pages."""
    try:
        response = await handler(request)
    except web.HTTPException as exc:
        response = exc
        _apply(request, response)
        raise
    _apply(request, response)
    return response


def _apply(request: web.Request, response: web.StreamResponse) -> None:
    if response.prepared:
        return
    for name, value in BASE_HEADERS.items():
        response.headers.setdefault(name, value)
    frameable = request.get(FRAMEABLE, False)
    ancestors = MINI_APP_FRAME_ANCESTORS if frameable else "'none'"
    response.headers.setdefault("Content-Security-Policy", CSP.format(ancestors=ancestors))
    if not frameable:
        response.headers.setdefault("X-Frame-Options", "DENY")


def build_web_app(services: Services, setups: Iterable[Setup] = ()) -> web.Application:
    """The aiohttp application with the given feature modules mounted."""
    app = web.Application(middlewares=[security_headers], client_max_size=1024**2)
    app[SERVICES] = services
    for setup in setups:
        setup(app)
    return app
