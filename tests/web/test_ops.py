"""``/healthz`` and ``/metrics`` against the real database, Redis and blob store."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient, TestServer
from prometheus_client.parser import text_string_to_metric_families
from redis.asyncio import Redis

from bot import metrics
from bot.app import build_services, close_services
from bot.config import Settings
from bot.outbox import Message, Priority
from bot.storage.database import Database
from bot.storage.kv import KeyValue, make_redis
from bot.web.ops import (
    Check,
    database_check,
    database_gauges,
    directory_check,
    ops_setup,
    redis_check,
)
from bot.web.server import build_web_app

Client = TestClient[Any, Any]
DEAD_DATABASE = "postgresql+asyncpg://nobody@127.0.0.1:1/none"  # nothing listens on port 1


@pytest.fixture
async def parts(settings: Settings, redis: Redis) -> AsyncIterator[tuple[Database, KeyValue, Any]]:
    db, kv, services = await build_services(settings, redis=redis)
    yield db, kv, services
    await close_services(db, kv, services)


def standard(db: Database, kv: KeyValue, blob_dir: Path) -> dict[str, Check]:
    return {
        "database": database_check(db),
        "redis": redis_check(kv),
        "storage": directory_check(blob_dir),
    }


async def serve(checks: dict[str, Check], db: Database | None, services: Any) -> Client:
    gauges = database_gauges(db) if db is not None else None
    app = build_web_app(services, [ops_setup(checks, gauges, timeout=0.5)])
    client: Client = TestClient(TestServer(app))
    await client.start_server()
    return client


async def test_healthy(parts: tuple[Database, KeyValue, Any], settings: Settings) -> None:
    db, kv, services = parts
    client = await serve(standard(db, kv, settings.blob_dir), db, services)
    try:
        response = await client.get("/healthz")
        body = await response.json()
    finally:
        await client.close()
    assert response.status == 200
    assert body["status"] == "ok"
    assert {name: check["status"] for name, check in body["checks"].items()} == {
        "database": "ok",
        "redis": "ok",
        "storage": "ok",
    }
    assert response.headers["Cache-Control"] == "no-store"


async def slow() -> None:
    await asyncio.sleep(5)


async def test_each_broken_dependency_is_named(
    parts: tuple[Database, KeyValue, Any], settings: Settings, tmp_path: Path
) -> None:
    db, kv, services = parts
    dead_redis = KeyValue(make_redis("redis://127.0.0.1:1/0"))
    broken_db = Database(DEAD_DATABASE)
    checks = {
        "database": database_check(broken_db),
        "redis": redis_check(dead_redis),
        "storage": directory_check(tmp_path / "missing"),
        "slow": slow,
        "fine": redis_check(kv),
    }
    client = await serve(checks, db, services)
    try:
        response = await client.get("/healthz")
        body = await response.json()
    finally:
        await client.close()
        await dead_redis.close()
        await broken_db.dispose()
    assert response.status == 503
    assert body["status"] == "fail"
    states = {name: check["status"] for name, check in body["checks"].items()}
    assert states == {
        "database": "fail",
        "redis": "fail",
        "storage": "fail",
        "slow": "fail",
        "fine": "ok",
    }
    assert body["checks"]["slow"]["error"] == "TimeoutError"
    assert body["checks"]["storage"]["error"] == "FileNotFoundError"
    assert "127.0.0.1" not in str(body) and str(tmp_path) not in str(body)  # no details leak


async def test_one_broken_dependency_is_enough_for_503(
    parts: tuple[Database, KeyValue, Any], settings: Settings, tmp_path: Path
) -> None:
    db, kv, services = parts
    checks = standard(db, kv, settings.blob_dir)
    checks["storage"] = directory_check(tmp_path / "gone")
    client = await serve(checks, db, services)
    try:
        response = await client.get("/healthz")
        body = await response.json()
    finally:
        await client.close()
    assert response.status == 503
    assert [n for n, c in body["checks"].items() if c["status"] == "fail"] == ["storage"]


def families(text: str) -> dict[str, Any]:
    return {family.name: family for family in text_string_to_metric_families(text)}


def value(family: Any, **labels: str) -> float:
    for sample in family.samples:
        if all(sample.labels.get(k) == v for k, v in labels.items()):
            return float(sample.value)
    raise AssertionError(f"no sample {labels} in {family.name}")


async def test_metrics_parse_and_carry_every_family(
    parts: tuple[Database, KeyValue, Any], settings: Settings
) -> None:
    db, kv, services = parts
    await services.outbox.enqueue(
        [
            Message(chat_id=1, method="sendMessage", params={"text": "a"}),
            Message(chat_id=2, method="sendMessage", params={"text": "b"}),
            Message(
                chat_id=3, method="sendMessage", params={"text": "c"}, priority=Priority.CLINICAL
            ),
        ]
    )
    metrics.count_link_access("granted")
    client = await serve(standard(db, kv, settings.blob_dir), db, services)
    try:
        response = await client.get("/metrics")
        text = await response.text()
    finally:
        await client.close()
    assert response.status == 200
    assert response.headers["Content-Type"].startswith("text/plain")
    found = families(text)
    for name in [
        "sampark_updates",
        "sampark_handler_seconds",
        "sampark_cases",
        "sampark_outbox_messages",
        "sampark_link_accesses",
        "sampark_webhook_requests",
        "sampark_metrics_database_up",
    ]:
        assert name in found, name
    assert found["sampark_handler_seconds"].type == "histogram"
    assert value(found["sampark_cases"], state="draft") == 0
    assert value(found["sampark_outbox_messages"], status="queued", priority="routine") == 2
    assert value(found["sampark_outbox_messages"], status="queued", priority="clinical") == 1
    assert value(found["sampark_link_accesses"], outcome="granted") >= 1
    assert value(found["sampark_metrics_database_up"]) == 1


async def test_metrics_still_served_when_the_database_is_down(
    parts: tuple[Database, KeyValue, Any],
) -> None:
    _db, _kv, services = parts
    broken_db = Database(DEAD_DATABASE)
    client = await serve({}, broken_db, services)
    try:
        response = await client.get("/metrics")
        text = await response.text()
    finally:
        await client.close()
        await broken_db.dispose()
    assert response.status == 200
    found = families(text)
    assert value(found["sampark_metrics_database_up"]) == 0
    assert "sampark_updates" in found and "sampark_cases" not in found


def test_the_web_app_mounts_ops_routes(settings: Settings) -> None:
    app = web.Application()
    ops_setup({})(app)
    assert {r.resource.canonical for r in app.router.routes() if r.resource} >= {
        "/healthz",
        "/metrics",
    }


async def test_link_accesses_are_counted_where_they_are_decided(
    parts: tuple[Database, KeyValue, Any],
) -> None:
    _db, _kv, services = parts
    counter = metrics.LINK_ACCESSES.labels(outcome="unknown")
    before = counter._value.get()
    denied = await services.links.resolve("A" * 32, ip="10.1.2.3", user_agent="test")
    assert denied.reason.value == "unknown"
    assert counter._value.get() == before + 1


async def test_metrics_behind_a_token(parts: tuple[Database, KeyValue, Any]) -> None:
    _db, _kv, services = parts
    app = build_web_app(services, [ops_setup({}, token="t0ken")])
    async with TestClient(TestServer(app)) as client:
        for headers in ({}, {"Authorization": "Bearer wrong"}, {"Authorization": "t0ken"}):
            assert (await client.get("/metrics", headers=headers)).status == 401
        ok = await client.get("/metrics", headers={"Authorization": "Bearer t0ken"})
        assert ok.status == 200 and "sampark_updates" in await ok.text()
        assert (await client.get("/healthz")).status == 200  # health stays open
