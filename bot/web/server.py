"""One aiohttp application for everything the web side serves.

Each feature lives in its own module with a ``setup(app)`` that adds its routes; the
services reach handlers through ``app[SERVICES]``. Every response carries the security
headers below, whatever route produced it.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Iterable, Sequence
from ipaddress import IPv4Network, IPv6Network, ip_address, ip_network

from aiohttp import web
from aiohttp.typedefs import Middleware

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


def client_address(
    remote: str | None, forwarded_for: str | None, trusted: Sequence[IPv4Network | IPv6Network]
) -> str | None:
    """The client's address: behind trusted proxies, the last untrusted hop they report.

    Only addresses appended by a trusted proxy are believed; anything a client wrote into
    ``X-Forwarded-For`` itself sits further left and is never reached.
    """
    hops = [remote or ""] + [h.strip() for h in reversed((forwarded_for or "").split(","))]
    for hop in hops:
        try:
            address = ip_address(hop)
        except ValueError:
            return remote  # a malformed header: fall back to the socket's peer
        if not any(address in network for network in trusted):
            return hop
    return remote


def proxied(trusted: Sequence[IPv4Network | IPv6Network]) -> Middleware:
    """Make ``request.remote`` the real client behind the given reverse proxies."""

    @web.middleware
    async def middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
        real = client_address(request.remote, request.headers.get("X-Forwarded-For"), trusted)
        if real is not None and real != request.remote:
            request = request.clone(remote=real)
        return await handler(request)

    return middleware


def build_web_app(services: Services, setups: Iterable[Setup] = ()) -> web.Application:
    """The aiohttp application with the given feature modules mounted."""
    trusted = [ip_network(n) for n in services.settings.trusted_proxies]
    middlewares: list[Middleware] = [proxied(trusted)] if trusted else []
    middlewares.append(security_headers)
    app = web.Application(middlewares=middlewares, client_max_size=1024**2)
    app[SERVICES] = services
    for setup in setups:
        setup(app)
    return app
