"""``sampark links``: list, revoke, revoke-closed; readable errors, never a traceback."""

from __future__ import annotations

import asyncio
from datetime import timedelta
from pathlib import Path

import pytest
from redis.asyncio import Redis
from sqlalchemy import select, update

from bot.clock import SystemClock
from bot.config import Settings
from bot.domain import CaseStatus
from bot.security.capability_links import Denied, DenyReason, LinkService
from bot.security.keys import KeyRing
from bot.security.links_cli import main
from bot.storage.database import Database
from bot.storage.kv import KeyValue
from bot.storage.models import AuditEvent, Case
from tests.cases.conftest import Factory


@pytest.fixture
def cli_env(settings: Settings, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)  # no stray .env
    monkeypatch.setenv("DATA_DIR", str(settings.data_dir))
    monkeypatch.setenv("DATABASE_URL", settings.database_url)
    monkeypatch.delenv("SAMPARK_MASTER_KEYS", raising=False)
    monkeypatch.delenv("KEYS_FILE", raising=False)
    monkeypatch.delenv("REDIS_URL", raising=False)


@pytest.fixture
def links(db: Database, settings: Settings, redis: Redis) -> LinkService:
    """The service on the same keys file the CLI will open (real time: the CLI's clock)."""
    ring = KeyRing.load_or_create(settings.effective_keys_file)
    return LinkService(db, SystemClock(), ring, KeyValue(redis))


async def run(argv: list[str], capsys: pytest.CaptureFixture[str]) -> tuple[int, str, str]:
    """Run the CLI in a thread (it runs its own event loop) and capture its output."""
    code = await asyncio.to_thread(main, argv)
    out, err = capsys.readouterr()
    return code, out, err


async def accepted_case(factory: Factory, db: Database) -> tuple[int, str, int]:
    hw = await factory.health_worker()
    spec = await factory.specialist(name="Dr Asha Rao")
    case_id = await factory.case(hw, status=CaseStatus.ACCEPTED)
    async with db.transaction() as session:
        await session.execute(update(Case).where(Case.id == case_id).values(specialist_id=spec.id))
        code = await session.scalar(select(Case.code).where(Case.id == case_id))
    assert code is not None
    return case_id, code, spec.id


async def test_list_and_revoke(
    cli_env: None,
    factory: Factory,
    db: Database,
    links: LinkService,
    capsys: pytest.CaptureFixture[str],
) -> None:
    case_id, code, spec_id = await accepted_case(factory, db)
    first = await links.issue(case_id, spec_id)
    second = await links.issue(case_id, spec_id, download=True)

    status, out, _ = await run(["list", "--case", code.lower()], capsys)
    assert status == 0
    lines = out.strip().splitlines()
    assert len(lines) == 2
    assert lines[0].startswith(f"{first.link_id}\tactive\tDr Asha Rao (user {spec_id})\tview\t")
    assert "\tview+download\t" in lines[1]
    assert first.token not in out and second.token not in out

    status, out, _ = await run(["revoke", str(first.link_id), "--reason", "phone lost"], capsys)
    assert (status, out.strip()) == (0, f"revoked link {first.link_id}")
    status, _, err = await run(["revoke", str(first.link_id)], capsys)
    assert status == 1 and "no live link" in err
    assert await links.resolve(first.token, ip="192.0.2.1", user_agent="t") == Denied(
        DenyReason.REVOKED
    )

    status, out, _ = await run(["list", "--case", code], capsys)
    assert f"{first.link_id}\trevoked\t" in out and "(phone lost)" in out
    async with db.sessions() as session:
        revokes = (
            await session.scalars(select(AuditEvent).where(AuditEvent.action == "link.revoke"))
        ).all()
    assert [(e.details["reason"], e.details["by_user_id"]) for e in revokes] == [
        ("phone lost", None)
    ]


async def test_revoke_closed(
    cli_env: None,
    factory: Factory,
    db: Database,
    links: LinkService,
    capsys: pytest.CaptureFixture[str],
) -> None:
    case_id, _, spec_id = await accepted_case(factory, db)
    issued = await links.issue(case_id, spec_id, ttl=timedelta(days=30))
    status, out, _ = await run(["revoke-closed", "--days", "3"], capsys)
    assert (status, out.strip()) == (0, "revoked 0 links")
    closed = SystemClock().now() - timedelta(days=4)
    async with db.transaction() as session:
        await session.execute(
            update(Case)
            .where(Case.id == case_id)
            .values(status=CaseStatus.CLOSED, closed_at=closed)
        )
    status, out, _ = await run(["revoke-closed", "--days", "3"], capsys)
    assert (status, out.strip()) == (0, "revoked 1 link")
    assert await links.resolve(issued.token, ip="192.0.2.1", user_agent="t") == Denied(
        DenyReason.REVOKED
    )


async def test_errors_are_one_line(
    cli_env: None, db: Database, capsys: pytest.CaptureFixture[str]
) -> None:
    status, out, err = await run(["list", "--case", "XXX-XXX"], capsys)
    assert (status, out) == (1, "") and "no case XXX-XXX" in err
    status, _, err = await run(["revoke", "not-a-number"], capsys)
    assert status == 2 and "invalid int value" in err and "Traceback" not in err
    status, _, err = await run(["revoke-closed", "--days", "-1"], capsys)
    assert status == 2 and "--days" in err
    status, _, err = await run([], capsys)
    assert status == 2 and "usage: sampark links" in err


async def test_unreachable_database(
    cli_env: None, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("DATABASE_URL", "postgresql://nobody@127.0.0.1:1/none")
    status, _, err = await run(["revoke", "1"], capsys)
    assert status == 1 and "not reachable" in err and "Traceback" not in err
