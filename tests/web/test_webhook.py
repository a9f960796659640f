"""The webhook receiver: only Telegram (who knows the secret) gets updates in."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from typing import Any

import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient, TestServer

from bot.cli import _webhook_config
from bot.config import ConfigError, Settings
from bot.web.webhook import SECRET_HEADER, SECRET_RE, WebhookConfig, new_secret, webhook_setup

SECRET = "s3cret_token-1"
UPDATE = {"update_id": 7, "message": {"message_id": 1, "date": 0, "chat": {"id": 5}}}


@pytest.fixture
def received() -> list[dict[str, Any]]:
    return []


@pytest.fixture
async def client(received: list[dict[str, Any]]) -> AsyncIterator[TestClient[Any, Any]]:
    async def sink(update: dict[str, Any]) -> None:
        if "bogus" in update:
            raise ValueError("malformed update")
        received.append(update)

    app = web.Application()
    config = WebhookConfig.parse("https://bot.example.org/telegram/hook", SECRET)
    webhook_setup(config, sink, max_bytes=4096)(app)
    async with TestClient(TestServer(app)) as test_client:
        yield test_client


@pytest.mark.parametrize(
    "headers",
    [{}, {SECRET_HEADER: "wrong"}, {SECRET_HEADER: SECRET + "x"}, {SECRET_HEADER: SECRET[:-1]}],
    ids=["missing", "wrong", "longer", "shorter"],
)
async def test_without_the_secret_nothing_is_processed(
    client: TestClient[Any, Any], received: list[dict[str, Any]], headers: dict[str, str]
) -> None:
    response = await client.post("/telegram/hook", json=UPDATE, headers=headers)
    assert response.status == 403
    assert received == []


async def test_with_the_secret_the_update_reaches_the_application(
    client: TestClient[Any, Any], received: list[dict[str, Any]]
) -> None:
    response = await client.post("/telegram/hook", json=UPDATE, headers={SECRET_HEADER: SECRET})
    assert response.status == 200
    assert received == [UPDATE]


@pytest.mark.parametrize(
    ("body", "status"),
    [
        (b"{not json", 400),
        (b"[1, 2]", 400),
        (b'{"message": {}}', 400),  # no update_id
        (b'{"update_id": "7"}', 400),
        (b'{"update_id": 8, "bogus": 1}', 400),  # the application could not parse it
        (b"\xff\xfe", 400),
        (json.dumps({"update_id": 9, "pad": "x" * 5000}).encode(), 413),
    ],
    ids=["syntax", "array", "no-id", "string-id", "unparsable", "not-utf8", "too-large"],
)
async def test_bad_bodies_are_refused(
    client: TestClient[Any, Any], received: list[dict[str, Any]], body: bytes, status: int
) -> None:
    response = await client.post(
        "/telegram/hook",
        data=body,
        headers={SECRET_HEADER: SECRET, "Content-Type": "application/json"},
    )
    assert response.status == status
    assert received == []


async def test_a_large_body_without_a_length_is_cut_off(
    client: TestClient[Any, Any], received: list[dict[str, Any]]
) -> None:
    async def chunks() -> AsyncIterator[bytes]:
        yield b'{"update_id": 1, "pad": "'
        for _ in range(10):
            yield b"x" * 1000
        yield b'"}'

    response = await client.post("/telegram/hook", data=chunks(), headers={SECRET_HEADER: SECRET})
    assert response.status == 413
    assert received == []


async def test_only_post_on_the_configured_path(client: TestClient[Any, Any]) -> None:
    assert (await client.get("/telegram/hook", headers={SECRET_HEADER: SECRET})).status == 405
    other = await client.post("/telegram/other", json=UPDATE, headers={SECRET_HEADER: SECRET})
    assert other.status == 404


def test_config_checks_the_url_and_secret() -> None:
    config = WebhookConfig.parse("https://bot.example.org")
    assert config.url == "https://bot.example.org/telegram/webhook"
    assert config.path == "/telegram/webhook"
    assert len(config.secret) >= 43 and config.secret != WebhookConfig.parse(config.url).secret
    assert WebhookConfig.parse("https://h.example/a/b/", "x").path == "/a/b"
    assert WebhookConfig.parse("http://127.0.0.1:8080/hook", "x").url.startswith("http://")
    for bad in [
        "http://bot.example.org/hook",  # Telegram wants https
        "ftp://bot.example.org/hook",
        "https:///hook",
        "https://bot.example.org/hook?x=1",
        "https://user:pw@bot.example.org/hook",
        "bot.example.org/hook",
    ]:
        with pytest.raises(ValueError, match="webhook URL"):
            WebhookConfig.parse(bad)
    for secret in ["", "has space", "ü", "x" * 257]:
        with pytest.raises(ValueError, match="secret"):
            WebhookConfig.parse("https://bot.example.org", secret)


def test_a_receiver_without_a_secret_is_refused() -> None:
    async def sink(update: dict[str, Any]) -> None:
        raise AssertionError("unreachable")

    with pytest.raises(ValueError, match="secret"):
        webhook_setup(WebhookConfig("https://bot.example.org/hook", ""), sink)
    assert new_secret() != new_secret()


def test_webhook_settings() -> None:
    def config(**values: Any) -> WebhookConfig | None:
        settings = Settings(_env_file=None, **values)  # type: ignore[call-arg]
        return _webhook_config(settings, None)

    assert config() is None  # polling
    fixed = config(webhook_url="https://bot.example.org/tg", webhook_secret="from-env_1")
    assert fixed == WebhookConfig("https://bot.example.org/tg", "from-env_1")
    generated = config(webhook_url="https://bot.example.org/tg")
    assert generated is not None and SECRET_RE.fullmatch(generated.secret)
    with pytest.raises(ConfigError, match="secret"):
        config(webhook_url="https://bot.example.org/tg", webhook_secret="no spaces")
