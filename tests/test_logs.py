from __future__ import annotations

import json
import logging
from pathlib import Path

import pytest
from sqlalchemy import text
from sqlalchemy.exc import IntegrityError

from bot.logs import JsonFormatter, KeyValueFormatter, redact
from bot.storage.database import make_engine

TOKEN = "123456789:AAH" + "x" * 32


def _record(message: str, **extra: object) -> logging.LogRecord:
    record = logging.makeLogRecord({"name": "t", "levelname": "INFO", "msg": message})
    for key, value in extra.items():
        setattr(record, key, value)
    return record


def test_tokens_are_redacted_everywhere() -> None:
    url = f"https://api.telegram.org/bot{TOKEN}/getUpdates"
    assert TOKEN not in redact(url)
    assert TOKEN not in KeyValueFormatter().format(_record(url, api=url))
    line = JsonFormatter().format(_record("request failed", url=url))
    assert TOKEN not in line
    assert json.loads(line)["message"] == "request failed"


def test_extra_fields_are_structured() -> None:
    entry = json.loads(JsonFormatter().format(_record("handler failed", update_id=7)))
    assert entry["update_id"] == 7
    assert entry["level"] == "INFO"
    assert "update_id=7" in KeyValueFormatter().format(_record("x", update_id=7))


async def test_sql_errors_never_show_bound_values(tmp_path: Path) -> None:
    engine = make_engine(f"sqlite+aiosqlite:///{tmp_path / 'x.db'}")
    async with engine.begin() as conn:
        await conn.execute(text("CREATE TABLE t (v TEXT UNIQUE)"))
        await conn.execute(text("INSERT INTO t VALUES (:v)"), {"v": "Ramesh Kumar"})
    with pytest.raises(IntegrityError) as error:
        async with engine.begin() as conn:
            await conn.execute(text("INSERT INTO t VALUES (:v)"), {"v": "Ramesh Kumar"})
    await engine.dispose()
    assert "Ramesh" not in str(error.value)
