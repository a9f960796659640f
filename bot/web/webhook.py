"""The Telegram webhook receiver: ``POST`` of one update, checked, parsed and handed on.

Telegram (or the emulator) sends each update as a JSON body with the secret given to
``setWebhook`` in ``X-Telegram-Bot-Api-Secret-Token``. A missing or wrong secret is a
403 and nothing is processed; the comparison takes constant time. The body is bounded
(Telegram's updates are a few KB). A valid update goes to the ``UpdateSink`` the
composition root provides (it queues the update for the PTB application), and the answer
is an empty 200 at once: the update is handled after the response, so a slow handler
never makes Telegram wait or retry.

This module knows nothing of PTB or the handlers (``bot.web`` may not import them).
"""

from __future__ import annotations

import hmac
import json
import logging
import re
import secrets
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

from aiohttp import web

from bot import metrics
from bot.web.server import Setup

log = logging.getLogger(__name__)

SECRET_HEADER = "X-Telegram-Bot-Api-Secret-Token"  # noqa: S105 (a header name)
DEFAULT_PATH = "/telegram/webhook"
MAX_UPDATE_BYTES = 1024 * 1024
WARN_INTERVAL = 60.0  # seconds between two log lines about refused requests
#: What Telegram accepts as ``secret_token``: 1–256 of A–Z, a–z, 0–9, ``_`` and ``-``.
SECRET_RE = re.compile(r"^[A-Za-z0-9_-]{1,256}$")
_LOOPBACK = {"127.0.0.1", "localhost", "::1"}

#: Receives one update (the decoded JSON object); raises ``ValueError`` if it is not one.
UpdateSink = Callable[[dict[str, Any]], Awaitable[None]]


def new_secret() -> str:
    """A fresh random secret token (256 bits, Telegram's alphabet)."""
    return secrets.token_urlsafe(32)


@dataclass(frozen=True)
class WebhookConfig:
    """Where Telegram posts updates (``url``), the route that receives them, the secret."""

    url: str
    secret: str

    @classmethod
    def parse(cls, url: str, secret: str | None = None) -> WebhookConfig:
        """Validate ``url`` (https, or http on loopback for local testing) and ``secret``
        (a new random one when not given); ``ValueError`` says what is wrong."""
        parts = urlsplit(url.strip())
        host = parts.hostname or ""
        if parts.scheme != "https" and not (parts.scheme == "http" and host in _LOOPBACK):
            raise ValueError("the webhook URL must start with https:// (Telegram requires it)")
        if not host:
            raise ValueError("the webhook URL has no host name")
        if parts.query or parts.fragment:
            raise ValueError("the webhook URL must not have a query or fragment")
        if parts.username or parts.password:
            raise ValueError("the webhook URL must not contain a user name or password")
        if secret is not None and not SECRET_RE.fullmatch(secret):
            raise ValueError(
                "the webhook secret must be 1-256 characters of A-Z, a-z, 0-9, _ and -"
            )
        path = parts.path.rstrip("/")
        if not path:
            path = DEFAULT_PATH
        full = parts._replace(path=path).geturl()
        return cls(url=full, secret=secret or new_secret())

    @property
    def path(self) -> str:
        """The route on the web side: the URL's path (a proxy passes it through unchanged)."""
        return urlsplit(self.url).path


def webhook_setup(
    config: WebhookConfig, sink: UpdateSink, *, max_bytes: int = MAX_UPDATE_BYTES
) -> Setup:
    """The feature module that mounts the receiver at ``config.path``."""
    if not SECRET_RE.fullmatch(config.secret):
        raise ValueError("a webhook needs a secret token")  # never accept unsigned posts
    expected = config.secret.encode()
    warned_at = -WARN_INTERVAL

    async def receive(request: web.Request) -> web.Response:
        nonlocal warned_at
        given = request.headers.get(SECRET_HEADER, "").encode("utf-8", "replace")
        if not hmac.compare_digest(given, expected):
            metrics.WEBHOOK_REQUESTS.labels(result="forbidden").inc()
            if time.monotonic() - warned_at >= WARN_INTERVAL:  # a flood must not fill the log
                warned_at = time.monotonic()
                log.warning("webhook request with a wrong secret", extra={"ip": request.remote})
            raise web.HTTPForbidden(text="forbidden")
        body = await _read_bounded(request, max_bytes)
        try:
            update = json.loads(body)
            if not isinstance(update, dict) or not isinstance(update.get("update_id"), int):
                raise ValueError("not an update")
            await sink(update)
        except ValueError:  # json.JSONDecodeError and UnicodeDecodeError are ValueErrors
            metrics.WEBHOOK_REQUESTS.labels(result="bad_request").inc()
            raise web.HTTPBadRequest(text="not a Telegram update") from None
        metrics.WEBHOOK_REQUESTS.labels(result="accepted").inc()
        return web.Response(status=200)

    def setup(app: web.Application) -> None:
        app.router.add_post(config.path, receive)

    return setup


async def _read_bounded(request: web.Request, max_bytes: int) -> bytes:
    """The request body, or 413 once it exceeds ``max_bytes`` (declared or actual)."""
    if request.content_length is not None and request.content_length > max_bytes:
        metrics.WEBHOOK_REQUESTS.labels(result="too_large").inc()
        raise web.HTTPRequestEntityTooLarge(max_size=max_bytes, actual_size=request.content_length)
    chunks: list[bytes] = []
    size = 0
    while chunk := await request.content.read(64 * 1024):
        size += len(chunk)
        if size > max_bytes:
            metrics.WEBHOOK_REQUESTS.labels(result="too_large").inc()
            raise web.HTTPRequestEntityTooLarge(max_size=max_bytes, actual_size=size)
        chunks.append(chunk)
    return b"".join(chunks)
