"""The command line: readable errors, never tracebacks; invites as deep links."""

from __future__ import annotations

import logging
import re
from collections.abc import Iterator
from pathlib import Path

import pytest

from bot.cli import main


@pytest.fixture(autouse=True)
def _restore_logging() -> Iterator[None]:
    """``main`` configures the root logger on the captured stderr; undo it afterwards."""
    root = logging.getLogger()
    handlers, level = root.handlers[:], root.level
    yield
    root.handlers[:] = handlers
    root.setLevel(level)


@pytest.fixture(autouse=True)
def _isolated(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.chdir(tmp_path)
    for variable in ("TELEGRAM_BOT_TOKEN", "DATABASE_URL", "REDIS_URL", "SAMPARK_MASTER_KEYS"):
        monkeypatch.delenv(variable, raising=False)
    monkeypatch.setenv("LOG_LEVEL", "WARNING")


def test_run_without_token_explains(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["run"]) == 2
    assert "TELEGRAM_BOT_TOKEN" in capsys.readouterr().err


def test_run_refuses_a_plain_http_webhook(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setenv("TELEGRAM_BOT_TOKEN", "123:ABC")
    assert main(["run", "--webhook", "http://bot.example.org/hook"]) == 2
    err = capsys.readouterr().err
    assert "https://" in err and "Traceback" not in err
    assert not (tmp_path / "var").exists()  # refused before anything was set up


def test_malformed_url_explains(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("REDIS_URL", "not a url")
    assert main(["health"]) == 2
    err = capsys.readouterr().err
    assert "REDIS_URL" in err
    assert "Traceback" not in err


def test_invite_create_prints_a_deep_link(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["facility", "add", "PHC Amminabhavi", "--district", "Dharwad"]) == 0
    assert (
        main(
            [
                "invite",
                "create",
                "--role",
                "health_worker",
                "--district",
                "Dharwad",
                "--facility",
                "PHC Amminabhavi",
                "--uses",
                "5",
                "--expires",
                "3d",
            ]
        )
        == 0
    )
    out = capsys.readouterr().out
    assert re.search(r"https://t\.me/SamparkBot\?start=[A-Z0-9]{12}$", out.strip())
    assert main(["facility", "list", "--district", "Dharwad"]) == 0
    assert "PHC Amminabhavi" in capsys.readouterr().out
    assert (Path("var") / "sampark.db").exists()


def test_invite_create_refuses_bad_values(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["invite", "create", "--role", "specialist", "--expires", "soon"]) == 2
    assert "not a duration" in capsys.readouterr().err
    assert main(["invite", "create", "--role", "health_worker", "--facility", "PHC"]) == 2
    assert main(["invite", "revoke", "NOSUCHCODE"]) == 1


def test_db_upgrade_and_health(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["db", "upgrade"]) == 0
    assert re.fullmatch(r"schema revision: \d{4}\n", capsys.readouterr().out)
    assert main(["health"]) == 0
