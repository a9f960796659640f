"""Telegram Mini App ``initData``: verify it server-side before trusting who is asking.

The recipe (``TELEGRAM.md``, Telegram's "Validating data received via the Mini App"):

* ``secret = HMAC_SHA256(key=b"WebAppData", msg=bot_token)``;
* ``data_check_string`` = every field of the raw query string except ``hash``, parsed
  with :func:`urllib.parse.parse_qsl` (values URL-decoded), sorted by key, as
  ``key=value`` joined by ``"\\n"``;
* valid when ``hex(HMAC_SHA256(key=secret, msg=data_check_string))`` equals ``hash``
  (compared in constant time) and ``auth_date`` is recent (``max_age``, one hour by
  default) and not in the future (a minute of clock skew allowed).

Stricter than the recipe, on purpose: a field given twice is refused (two parsers could
read different values from one signed string), and nothing in the data is looked at
before the signature has been checked.
"""

from __future__ import annotations

import hashlib
import hmac
import json
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from urllib.parse import parse_qsl

MAX_LENGTH = 8192
"""Longer ``initData`` is refused unparsed (Telegram's is well under 2 KB)."""
CLOCK_SKEW = timedelta(minutes=1)


class InitDataError(Exception):
    """``initData`` is not acceptable; ``reason`` says why (for logs, not for users)."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


@dataclass(frozen=True)
class WebAppUser:
    """The Telegram user a verified ``initData`` speaks for."""

    id: int
    first_name: str
    language_code: str | None
    auth_date: datetime
    username: str | None = None
    start_param: str | None = None


def secret_key(bot_token: str) -> bytes:
    """``HMAC_SHA256(key=b"WebAppData", msg=bot_token)``."""
    return hmac.new(b"WebAppData", bot_token.encode("utf-8"), hashlib.sha256).digest()


def data_check_string(fields: dict[str, str]) -> str:
    """Every field but ``hash``, sorted by key, as ``key=value`` lines."""
    return "\n".join(f"{key}={fields[key]}" for key in sorted(fields) if key != "hash")


def sign(fields: dict[str, str], bot_token: str) -> str:
    """The ``hash`` Telegram would put on ``fields`` (tests and the emulator's twin)."""
    check = data_check_string(fields).encode("utf-8")
    return hmac.new(secret_key(bot_token), check, hashlib.sha256).hexdigest()


def verify_init_data(
    raw_query_string: str,
    bot_token: str,
    *,
    max_age: timedelta = timedelta(hours=1),
    now: datetime,
) -> WebAppUser:
    """The user of a genuine, fresh ``initData``, or :class:`InitDataError`.

    Reasons: ``no_bot_token``, ``malformed``, ``duplicate_field``, ``missing_hash``,
    ``bad_signature``, ``bad_auth_date``, ``stale``, ``from_future``, ``no_user``.
    """
    if not bot_token:
        raise InitDataError("no_bot_token")
    if now.tzinfo is None:
        raise ValueError("naive datetime given; use the injected clock")
    if not raw_query_string or len(raw_query_string) > MAX_LENGTH:
        raise InitDataError("malformed")
    try:
        pairs = parse_qsl(
            raw_query_string, keep_blank_values=True, strict_parsing=True, errors="strict"
        )
    except (ValueError, UnicodeDecodeError):
        raise InitDataError("malformed") from None
    fields = dict(pairs)
    if len(fields) != len(pairs):
        raise InitDataError("duplicate_field")
    received = fields.get("hash")
    if not received:
        raise InitDataError("missing_hash")
    expected = sign(fields, bot_token)
    if not hmac.compare_digest(expected.encode("ascii"), received.encode("utf-8")):
        raise InitDataError("bad_signature")

    try:
        auth_date = datetime.fromtimestamp(int(fields.get("auth_date", "")), tz=UTC)
    except (ValueError, OverflowError, OSError):
        raise InitDataError("bad_auth_date") from None
    if now - auth_date > max_age:
        raise InitDataError("stale")
    if auth_date - now > CLOCK_SKEW:
        raise InitDataError("from_future")

    try:
        user = json.loads(fields.get("user", ""))
        user_id = user["id"]
    except (ValueError, TypeError, KeyError):
        raise InitDataError("no_user") from None
    if not isinstance(user_id, int) or isinstance(user_id, bool) or user_id <= 0:
        raise InitDataError("no_user")
    language = user.get("language_code")
    username = user.get("username")
    return WebAppUser(
        id=user_id,
        first_name=str(user.get("first_name", "")),
        language_code=language if isinstance(language, str) else None,
        auth_date=auth_date,
        username=username if isinstance(username, str) else None,
        start_param=fields.get("start_param"),
    )
