"""Async engine, sessions and migrations: the same code on SQLite and PostgreSQL."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import event
from sqlalchemy.engine import Connection
from sqlalchemy.ext.asyncio import (
    AsyncEngine,
    AsyncSession,
    async_sessionmaker,
    create_async_engine,
)

log = logging.getLogger(__name__)
MIGRATIONS = Path(__file__).parent / "migrations"


class SchemaOutOfDate(Exception):
    """The database has an older schema than this code; ``sampark db upgrade`` fixes it."""


def make_engine(url: str) -> AsyncEngine:
    """An engine with SQLite tuned for a single busy process (WAL, foreign keys on).

    ``hide_parameters``: SQL errors (and so logged tracebacks) never show bound values,
    which may be patient data.
    """
    if url.startswith("sqlite"):
        path = url.split("///", 1)[-1]
        if path and path != ":memory:":
            Path(path).parent.mkdir(parents=True, exist_ok=True)
        engine = create_async_engine(url, connect_args={"timeout": 30}, hide_parameters=True)

        @event.listens_for(engine.sync_engine, "connect")
        def _pragmas(dbapi_conn, _record):  # type: ignore[no-untyped-def]
            cursor = dbapi_conn.cursor()
            cursor.execute("PRAGMA journal_mode=WAL")
            cursor.execute("PRAGMA foreign_keys=ON")
            cursor.execute("PRAGMA busy_timeout=30000")
            cursor.close()

        return engine
    return create_async_engine(url, pool_pre_ping=True, hide_parameters=True)


class Database:
    """Owns the engine and hands out sessions; one per process."""

    def __init__(self, url: str) -> None:
        self.url = url
        self.engine = make_engine(url)
        self.sessions = async_sessionmaker(self.engine, expire_on_commit=False)

    @asynccontextmanager
    async def transaction(self) -> AsyncIterator[AsyncSession]:
        """A session inside one transaction: committed on success, rolled back on error."""
        async with self.sessions() as session, session.begin():
            yield session

    async def dispose(self) -> None:
        await self.engine.dispose()

    async def current_revision(self) -> str | None:
        async with self.engine.connect() as conn:
            return await conn.run_sync(_revision)

    async def upgrade(self) -> None:
        """Apply every pending migration."""
        async with self.engine.begin() as conn:
            await conn.run_sync(_upgrade)

    async def prepare(self, *, auto_upgrade_empty: bool = True) -> None:
        """Create the schema on an empty database; refuse to run on an outdated one."""
        head = ScriptDirectory.from_config(alembic_config()).get_current_head()
        current = await self.current_revision()
        if current == head:
            return
        if current is None and auto_upgrade_empty:
            log.info("empty database: creating schema", extra={"revision": head})
            await self.upgrade()
            return
        raise SchemaOutOfDate(
            f"database schema is at {current or 'nothing'}, code needs {head}: "
            "run `sampark db upgrade`"
        )


def alembic_config(connection: Connection | None = None) -> Config:
    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS))
    if connection is not None:
        cfg.attributes["connection"] = connection
    return cfg


def _revision(conn: Connection) -> str | None:
    return MigrationContext.configure(conn).get_current_revision()


def _upgrade(conn: Connection) -> None:
    command.upgrade(alembic_config(conn), "head")
