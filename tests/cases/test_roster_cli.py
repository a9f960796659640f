"""``sampark roster``: add, list, remove, oncall; readable errors, never a traceback."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from bot.cases.roster_cli import main
from bot.config import Settings
from tests.cases.conftest import Factory


@pytest.fixture
def cli_env(settings: Settings, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)  # no stray .env
    monkeypatch.setenv("DATA_DIR", str(settings.data_dir))
    monkeypatch.setenv("DATABASE_URL", settings.database_url)
    monkeypatch.delenv("ROSTER_TIMEZONE", raising=False)


async def run(argv: list[str], capsys: pytest.CaptureFixture[str]) -> tuple[int, str, str]:
    """Run the CLI in a thread (it runs its own event loop) and capture its output."""
    code = await asyncio.to_thread(main, argv)
    out, err = capsys.readouterr()
    return code, out, err


async def test_add_list_oncall_remove(
    cli_env: None, factory: Factory, capsys: pytest.CaptureFixture[str]
) -> None:
    a = await factory.specialist(name="Dr Asha Rao")
    b = await factory.specialist(name="Dr Vikram Sen")

    code, out, _ = await run(
        [
            "add",
            "--telegram-id",
            str(a.telegram_id),
            "--specialty",
            "radiology",
            "--day",
            "mon",
            "--from",
            "20:00",
            "--to",
            "08:00",
        ],
        capsys,
    )
    assert code == 0
    assert "Dr Asha Rao" in out and "Mon 20:00-08:00" in out
    weekly_id = int(out.split()[1])

    code, out, _ = await run(
        [
            "add",
            "--user-id",
            str(b.id),
            "--specialty",
            "radiology",
            "--date",
            "2026-12-01",
            "--from",
            "21:00",
            "--to",
            "23:00",
        ],
        capsys,
    )
    assert code == 0 and "2026-12-01 21:00-23:00" in out
    code, out, _ = await run(
        [
            "add",
            "--user-id",
            str(a.id),
            "--specialty",
            "radiology",
            "--date",
            "2026-11-30",
            "--from",
            "22:00",
            "--to",
            "23:00",
            "--off",
        ],
        capsys,
    )
    assert code == 0 and out.rstrip().endswith("OFF")

    code, out, _ = await run(["list", "--specialty", "radiology"], capsys)
    assert code == 0 and len(out.strip().splitlines()) == 3

    # Monday 2026-11-30 21:30 IST: Asha's weekly night shift.
    code, out, _ = await run(
        ["oncall", "--specialty", "radiology", "--at", "2026-11-30T21:30"], capsys
    )
    assert code == 0 and "Dr Asha Rao" in out and "Dr Vikram Sen" not in out
    # 22:30 IST she is off; 2026-12-01 22:00 IST (16:30 UTC) it is Vikram's override.
    code, out, _ = await run(
        ["oncall", "--specialty", "radiology", "--at", "2026-11-30T22:30"], capsys
    )
    assert "nobody" in out
    code, out, _ = await run(["oncall", "--at", "2026-12-01T16:30+00:00"], capsys)
    assert "radiology\tDr Vikram Sen" in out and "Tue 2026-12-01 22:00 IST" in out

    code, out, _ = await run(["remove", str(weekly_id)], capsys)
    assert code == 0 and f"removed shift {weekly_id}" in out
    code, _, err = await run(["remove", str(weekly_id)], capsys)
    assert code == 1 and "no shift" in err


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        ([], "required"),
        (["add", "--user-id", "1", "--specialty", "astrology"], "invalid choice"),
        (
            [
                "add",
                "--telegram-id",
                "5",
                "--specialty",
                "radiology",
                "--day",
                "mon",
                "--from",
                "08:00",
                "--to",
                "10:00",
            ],
            "nobody with Telegram id 5",
        ),
        (
            [
                "add",
                "--user-id",
                "1",
                "--specialty",
                "radiology",
                "--day",
                "funday",
                "--from",
                "08:00",
                "--to",
                "10:00",
            ],
            "not a day of the week",
        ),
        (
            [
                "add",
                "--user-id",
                "1",
                "--specialty",
                "radiology",
                "--day",
                "mon",
                "--from",
                "08:00",
                "--to",
                "10:00",
                "--off",
            ],
            "--off",
        ),
        (
            [
                "add",
                "--user-id",
                "1",
                "--specialty",
                "radiology",
                "--date",
                "2026-13-01",
                "--from",
                "08:00",
                "--to",
                "10:00",
            ],
            "not a date",
        ),
        (
            [
                "add",
                "--user-id",
                "999",
                "--specialty",
                "radiology",
                "--date",
                "2026-12-01",
                "--from",
                "8",
                "--to",
                "10:00",
            ],
            "time of day",
        ),
        (["oncall", "--at", "yesterday"], "not a date-time"),
        (["remove", "x"], "invalid int"),
    ],
)
async def test_errors_are_readable(
    cli_env: None, capsys: pytest.CaptureFixture[str], argv: list[str], message: str
) -> None:
    code, _, err = await run(argv, capsys)
    assert code == 2
    assert message in err
    assert "Traceback" not in err


async def test_unreachable_database_is_a_message(
    cli_env: None, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("DATABASE_URL", "postgresql://nobody@127.0.0.1:1/none")
    code, _, err = await run(["list"], capsys)
    assert code == 1
    assert "not reachable" in err and "Traceback" not in err
