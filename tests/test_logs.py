from __future__ import annotations

import json
import logging

from bot.logs import JsonFormatter, KeyValueFormatter, redact

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
