from __future__ import annotations

from pathlib import Path

import pytest

from bot.config import ConfigError, Settings, load_settings


def test_embedded_defaults_need_nothing(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.chdir(tmp_path)
    settings = Settings(_env_file=None)  # type: ignore[call-arg]
    assert settings.effective_database_url.startswith("sqlite+aiosqlite:///")
    assert settings.effective_database_url.endswith("var/sampark.db")
    assert settings.redis_url == ""
    assert settings.effective_keys_file == Path("var/keys/master-keys.json")


def test_postgres_url_gets_the_async_driver() -> None:
    settings = Settings(_env_file=None, database_url="postgresql://u:p@db/sampark")  # type: ignore[call-arg]
    assert settings.effective_database_url == "postgresql+asyncpg://u:p@db/sampark"


@pytest.mark.parametrize(
    ("variable", "value"),
    [
        ("DATABASE_URL", "mysql://x/y"),
        ("REDIS_URL", "localhost:6379"),
        ("TELEGRAM_API_BASE", "api.telegram.org"),
    ],
)
def test_malformed_urls_are_one_readable_error(
    monkeypatch: pytest.MonkeyPatch, variable: str, value: str
) -> None:
    monkeypatch.setenv(variable, value)
    with pytest.raises(ConfigError) as error:
        load_settings(_env_file=None)
    assert variable in str(error.value)
    assert "Traceback" not in str(error.value)


def test_missing_token_says_how_to_fix_it() -> None:
    with pytest.raises(ConfigError, match="BotFather"):
        Settings(_env_file=None).require_token()  # type: ignore[call-arg]


def test_token_is_not_in_the_repr() -> None:
    settings = Settings(_env_file=None, telegram_bot_token="123456:" + "A" * 35)  # type: ignore[call-arg]
    assert "AAAA" not in repr(settings)
