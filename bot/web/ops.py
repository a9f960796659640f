"""Operations: ``GET /healthz`` and ``GET /metrics``.

``/healthz`` runs every dependency check at once, each with a short timeout, and answers
200 when all pass or 503 naming the ones that failed::

    {"status": "ok", "checks": {"database": {"status": "ok", "ms": 1.4}, ...}}

A failure reports only the exception's class (``TimeoutError``, ``ConnectionError``), never
its message: a connection string or path has no business on an unauthenticated page.

``/metrics`` (with ``Authorization: Bearer <METRICS_TOKEN>`` when a token is configured) is
the Prometheus text format: the counters of :mod:`bot.metrics` (and the
process collectors of ``prometheus_client``) plus gauges read from the database at scrape
time (cases by state, unsettled outbox rows by status and priority), with one grouped
``COUNT`` each over indexed columns.
"""

from __future__ import annotations

import asyncio
import hmac
import logging
import tempfile
import time
from collections.abc import Awaitable, Callable, Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path

from aiohttp import web
from prometheus_client import REGISTRY, CollectorRegistry, generate_latest
from prometheus_client.core import GaugeMetricFamily, Metric
from prometheus_client.exposition import CONTENT_TYPE_LATEST
from prometheus_client.registry import Collector
from sqlalchemy import func, select, text

from bot.domain import CaseStatus
from bot.outbox import OutboxStatus, Priority
from bot.storage.database import Database
from bot.storage.kv import KeyValue
from bot.storage.models import Case, OutboxMessage
from bot.web.server import Setup

log = logging.getLogger(__name__)

#: A dependency check: returns when healthy, raises (or returns False) when not.
Check = Callable[[], Awaitable[object]]
#: Metric families computed at scrape time.
GaugeSource = Callable[[], Awaitable[list[Metric]]]

DEFAULT_TIMEOUT = 2.0
UNSETTLED = (OutboxStatus.QUEUED, OutboxStatus.SENDING, OutboxStatus.UNCERTAIN)


@dataclass(frozen=True)
class CheckResult:
    ok: bool
    ms: float
    error: str | None = None

    def as_json(self) -> dict[str, object]:
        body: dict[str, object] = {"status": "ok" if self.ok else "fail", "ms": round(self.ms, 1)}
        if self.error:
            body["error"] = self.error
        return body


async def run_check(check: Check, limit: float) -> CheckResult:
    """Run one check within ``limit`` seconds."""
    started = time.perf_counter()
    try:
        answer = await asyncio.wait_for(check(), limit)
    except TimeoutError:
        error: str | None = "TimeoutError"
    except Exception as exc:  # a check may fail in any way; that is what it reports
        error = type(exc).__name__
    else:
        error = None if answer is not False else "unhealthy"
    return CheckResult(error is None, (time.perf_counter() - started) * 1000, error)


async def run_checks(checks: Mapping[str, Check], limit: float) -> dict[str, CheckResult]:
    """All checks concurrently (the slowest one bounds the time, not their sum)."""
    names = list(checks)
    results = await asyncio.gather(*(run_check(checks[name], limit) for name in names))
    return dict(zip(names, results, strict=True))


# ---------------------------------------------------------------------- standard checks


def database_check(db: Database) -> Check:
    """``SELECT 1`` on a pooled connection."""

    async def check() -> None:
        async with db.engine.connect() as conn:
            await conn.execute(text("SELECT 1"))

    return check


def redis_check(kv: KeyValue) -> Check:
    """``PING``."""

    async def check() -> object:
        return bool(await kv.redis.ping())

    return check


def directory_check(root: Path) -> Check:
    """The blob store's directory accepts a new file (exists, writable, not read-only)."""

    def probe() -> None:
        with tempfile.NamedTemporaryFile(dir=root, prefix=".healthz-"):
            pass

    async def check() -> None:
        await asyncio.to_thread(probe)

    return check


# ---------------------------------------------------------------------- gauges


def database_gauges(db: Database) -> GaugeSource:
    """Cases by state and unsettled outbox rows by status and priority."""

    async def collect() -> list[Metric]:
        cases = GaugeMetricFamily("sampark_cases", "Cases by state", labels=["state"])
        outbox = GaugeMetricFamily(
            "sampark_outbox_messages",
            "Outbox rows not yet settled, by status and priority",
            labels=["status", "priority"],
        )
        async with db.sessions() as session:
            states = await session.execute(select(Case.status, func.count()).group_by(Case.status))
            by_state: dict[str, int] = {status: count for status, count in states}
            rows = (
                await session.execute(
                    select(OutboxMessage.status, OutboxMessage.priority, func.count())
                    .where(OutboxMessage.status.in_([s.value for s in UNSETTLED]))
                    .group_by(OutboxMessage.status, OutboxMessage.priority)
                )
            ).all()
            depth = {(status, int(priority)): count for status, priority, count in rows}
        for state in [*CaseStatus, *sorted(set(by_state) - set(CaseStatus))]:
            cases.add_metric([str(state)], by_state.get(str(state), 0))
        for status in UNSETTLED:
            for priority in Priority:
                outbox.add_metric(
                    [status.value, priority.name.lower()], depth.get((status.value, priority), 0)
                )
        return [cases, outbox]

    return collect


class _Fixed(Collector):
    """Families computed beforehand (``collect`` is synchronous; the queries are not)."""

    def __init__(self, families: Iterable[Metric]) -> None:
        self.families = list(families)

    def collect(self) -> Iterable[Metric]:
        return self.families


# ---------------------------------------------------------------------- routes


def ops_setup(
    checks: Mapping[str, Check],
    gauges: GaugeSource | None = None,
    *,
    timeout: float = DEFAULT_TIMEOUT,
    token: str | None = None,
) -> Setup:
    """The feature module with ``/healthz`` and ``/metrics`` (``token``: the bearer token
    ``/metrics`` requires; none means open, for a scraper on a private network)."""
    expected = f"Bearer {token}".encode() if token else None

    async def healthz(request: web.Request) -> web.Response:
        results = await run_checks(checks, timeout)
        healthy = all(result.ok for result in results.values())
        failed = [name for name, result in results.items() if not result.ok]
        if failed:
            log.warning("health check failed", extra={"failed": ",".join(failed)})
        body = {
            "status": "ok" if healthy else "fail",
            "checks": {name: result.as_json() for name, result in results.items()},
        }
        return web.json_response(body, status=200 if healthy else 503)

    async def metrics(request: web.Request) -> web.Response:
        given = request.headers.get("Authorization", "").encode("utf-8", "replace")
        if expected is not None and not hmac.compare_digest(given, expected):
            raise web.HTTPUnauthorized(headers={"WWW-Authenticate": "Bearer"})
        output = generate_latest(REGISTRY)
        if gauges is not None:
            up = GaugeMetricFamily(
                "sampark_metrics_database_up", "Whether the scrape-time queries succeeded"
            )
            try:
                families = await asyncio.wait_for(gauges(), timeout)
                up.add_metric([], 1)
            except Exception as exc:  # the counters are still worth serving
                log.warning("metrics queries failed", extra={"error": type(exc).__name__})
                families = []
                up.add_metric([], 0)
            scrape = CollectorRegistry(auto_describe=False)
            scrape.register(_Fixed([*families, up]))
            output += generate_latest(scrape)
        return web.Response(body=output, headers={"Content-Type": CONTENT_TYPE_LATEST})

    def setup(app: web.Application) -> None:
        app.router.add_get("/healthz", healthz)
        app.router.add_get("/metrics", metrics)

    return setup
