"""Settings: the one place that reads the environment (and an optional ``.env``).

Every setting has an embedded default so a first run needs nothing installed: SQLite and
files under ``./var/``, an in-process Redis stand-in when ``REDIS_URL`` is unset, and
development key material generated on first run.
"""

from __future__ import annotations

from ipaddress import ip_network
from pathlib import Path
from urllib.parse import urlsplit

from pydantic import Field, SecretStr, ValidationError, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict


class ConfigError(Exception):
    """A setting is missing or malformed; the message says which and how to fix it."""


def _check_url(value: str, schemes: tuple[str, ...], name: str) -> str:
    parts = urlsplit(value)
    scheme = parts.scheme.split("+", 1)[0]
    if scheme not in schemes or not (parts.netloc or parts.path):
        raise ValueError(f"{name} must be a URL starting with one of {', '.join(schemes)}")
    return value


class Settings(BaseSettings):
    """Runtime configuration; field names map to upper-case environment variables."""

    model_config = SettingsConfigDict(env_file=".env", extra="ignore", env_file_encoding="utf-8")

    telegram_bot_token: str = Field(default="", repr=False)
    telegram_api_base: str = "https://api.telegram.org"
    bot_username: str = "SamparkBot"

    data_dir: Path = Path("var")
    database_url: str = ""
    redis_url: str = ""
    keys_file: Path | None = None
    master_keys: SecretStr | None = Field(default=None, validation_alias="SAMPARK_MASTER_KEYS")

    locales_dir: Path | None = None
    default_language: str = "en"
    invite_default_ttl_hours: int = 7 * 24
    imaging_workers: int = 2
    link_ttl_hours: int = 24
    upload_max_mb: int = 500  # largest file through an upload link
    upload_ttl_hours: int = 24  # lifetime of an upload link
    web_host: str = "127.0.0.1"  # the aiohttp side: viewer, uploads, webhook, /healthz
    web_port: int = 8080
    trusted_proxies: list[str] = []  # reverse proxies whose X-Forwarded-For is believed
    public_url: str = "http://127.0.0.1:8080"  # how phones reach the web side (https in prod)
    webhook_url: str = ""  # receive updates by webhook at this https URL (`run --webhook`)
    webhook_secret: SecretStr | None = Field(default=None, repr=False)  # default: new per start
    health_timeout_seconds: float = 2.0  # each /healthz dependency check
    metrics_token: SecretStr | None = Field(default=None, repr=False)  # /metrics bearer token
    send_rate_per_second: float = 28.0  # the outbox's budget for the whole token
    send_private_per_second: float = 1.0
    send_group_per_minute: float = 20.0
    send_retries: int = 5  # 5xx and network errors, with exponential backoff
    roster_timezone: str = "Asia/Kolkata"
    escalation_emergency_minutes: int = 5
    escalation_urgent_minutes: int = 30
    escalation_routine_minutes: int = 240
    report_reminder_emergency_minutes: int = 15  # unacknowledged report: remind, then alert
    report_reminder_urgent_minutes: int = 120
    scheduler_interval_seconds: float = 5.0
    log_level: str = "INFO"
    log_json: bool = False

    @field_validator("telegram_api_base")
    @classmethod
    def _api_base(cls, value: str) -> str:
        return _check_url(value, ("http", "https"), "TELEGRAM_API_BASE").rstrip("/")

    @field_validator("public_url")
    @classmethod
    def _public_url(cls, value: str) -> str:
        return _check_url(value, ("http", "https"), "PUBLIC_URL").rstrip("/")

    @field_validator("trusted_proxies")
    @classmethod
    def _trusted_proxies(cls, value: list[str]) -> list[str]:
        for network in value:
            try:
                ip_network(network)
            except ValueError:
                raise ValueError(f"{network!r} is not an address or network") from None
        return value

    @field_validator("database_url")
    @classmethod
    def _database_url(cls, value: str) -> str:
        return _check_url(value, ("sqlite", "postgresql"), "DATABASE_URL") if value else value

    @field_validator("redis_url")
    @classmethod
    def _redis_url(cls, value: str) -> str:
        return _check_url(value, ("redis", "rediss", "unix"), "REDIS_URL") if value else value

    @property
    def effective_database_url(self) -> str:
        """The configured database, or SQLite under the data directory."""
        if self.database_url:
            url = self.database_url
            if url.startswith("postgresql://"):
                url = "postgresql+asyncpg://" + url.removeprefix("postgresql://")
            if url.startswith("sqlite://") and not url.startswith("sqlite+"):
                url = "sqlite+aiosqlite://" + url.removeprefix("sqlite://")
            return url
        return f"sqlite+aiosqlite:///{(self.data_dir / 'sampark.db').resolve()}"

    @property
    def effective_keys_file(self) -> Path:
        """Where master keys live; development keys are generated here on first run."""
        return self.keys_file or self.data_dir / "keys" / "master-keys.json"

    @property
    def blob_dir(self) -> Path:
        """Root of the encrypted object store."""
        return self.data_dir / "blobs"

    def require_token(self) -> str:
        """The bot token, or a ``ConfigError`` telling the operator how to set it."""
        if not self.telegram_bot_token:
            raise ConfigError(
                "TELEGRAM_BOT_TOKEN is not set. Get a token from @BotFather and run "
                "`TELEGRAM_BOT_TOKEN=123:ABC sampark run` (or put it in .env)."
            )
        return self.telegram_bot_token


def load_settings(**overrides: object) -> Settings:
    """Read settings, turning validation failures into one readable ``ConfigError``."""
    try:
        return Settings(**overrides)  # type: ignore[arg-type]
    except ValidationError as exc:
        lines = []
        for error in exc.errors():
            field = ".".join(str(part) for part in error["loc"]).upper() or "settings"
            lines.append(f"{field}: {error['msg'].removeprefix('Value error, ')}")
        raise ConfigError("Invalid configuration:\n  " + "\n  ".join(lines)) from None
