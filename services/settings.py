"""Configuration, read once from the environment into a frozen dataclass.

A missing secret stops start-up with a message naming the variable; nothing else in the code
reads ``os.environ``.
"""
from __future__ import annotations

import os
from dataclasses import dataclass, field, replace
from urllib.parse import urlsplit, urlunsplit, quote


class ConfigError(RuntimeError):
    """Start-up configuration is missing or wrong; the message names the setting."""


def _bool(value: str | None, default: bool) -> bool:
    if value is None or value == "":
        return default
    return value.strip().lower() in {"1", "true", "yes", "on"}


def app_url_from(database_url: str, password: str | None) -> str:
    """Derive the application role's URL (user ``qorgau_app``) from the administrative URL."""
    parts = urlsplit(database_url)
    host = parts.hostname or ""
    if parts.port:
        host = f"{host}:{parts.port}"
    cred = "qorgau_app" + (f":{quote(password, safe='')}" if password else "")
    netloc = f"{cred}@{host}"
    return urlunsplit((parts.scheme, netloc, parts.path, parts.query, parts.fragment))


@dataclass(frozen=True)
class Settings:
    """Every setting Qorgau reads; the README has a table of them."""

    database_url: str
    app_database_url: str
    secret_key: str
    base_url: str = "https://localhost"
    redis_url: str | None = None
    broker_url: str | None = None
    smtp_url: str | None = None
    mail_from: str = "qorgau@localhost"
    audit_signing_key: str | None = None
    timezone: str = "Asia/Aqtau"
    log_level: str = "INFO"
    pool_min: int = 1
    pool_max: int = 10
    session_idle_minutes: int = 30
    session_absolute_hours: int = 12
    token_minutes: int = 60
    ratelimit_storage_url: str = "memory://"
    sign_in_rate_limit: str = "20 per minute"
    max_upload_bytes: int = 20 * 1024 * 1024
    # How long a POST's Idempotency-Key keeps its answer; a client retries within minutes.
    idempotency_retention_hours: int = 24
    cookie_secure: bool = True
    testing: bool = False
    extra: dict = field(default_factory=dict)

    @classmethod
    def from_env(cls, env: dict[str, str] | None = None) -> "Settings":
        """Build settings from ``env`` (default ``os.environ``); raise ConfigError if incomplete."""
        env = dict(os.environ if env is None else env)
        database_url = env.get("DATABASE_URL", "").strip()
        # Web, worker and beat may run with only the application role's URL; migrations and the
        # audit verifier need the administrative one.
        if not database_url and env.get("APP_DATABASE_URL"):
            database_url = env["APP_DATABASE_URL"].strip()
        if not database_url:
            raise ConfigError(
                "DATABASE_URL is not set: point it at PostgreSQL "
                "(e.g. postgresql://postgres@127.0.0.1:5432/qorgau) or use `make run`, "
                "which starts an embedded PostgreSQL."
            )
        secret_key = env.get("SECRET_KEY", "").strip()
        if len(secret_key) < 32:
            raise ConfigError(
                "SECRET_KEY is missing or shorter than 32 characters: set it to a long random "
                "value (`make run` generates one into var/secret_key)."
            )
        app_database_url = env.get("APP_DATABASE_URL") or app_url_from(
            database_url, env.get("APP_DB_PASSWORD")
        )
        # Cookies are Secure unless BASE_URL says this is plain-http localhost (make run).
        base_url = env.get("BASE_URL", "https://localhost").rstrip("/")
        host = urlsplit(base_url).hostname or ""
        plain_local = base_url.startswith("http://") and host in {"localhost", "127.0.0.1"}
        redis_url = env.get("REDIS_URL") or None
        retention = env.get("IDEMPOTENCY_RETENTION_HOURS", "24").strip()
        if not retention.isdigit() or int(retention) < 1:
            raise ConfigError("IDEMPOTENCY_RETENTION_HOURS must be a whole number of hours, at least 1.")
        return cls(
            database_url=database_url,
            app_database_url=app_database_url,
            secret_key=secret_key,
            base_url=base_url,
            redis_url=redis_url,
            broker_url=env.get("BROKER_URL") or redis_url,
            smtp_url=env.get("SMTP_URL") or None,
            mail_from=env.get("MAIL_FROM", "qorgau@localhost"),
            audit_signing_key=env.get("AUDIT_SIGNING_KEY") or None,
            timezone=env.get("QORGAU_TIMEZONE", "Asia/Aqtau"),
            log_level=env.get("LOG_LEVEL", "INFO").upper(),
            pool_min=int(env.get("DB_POOL_MIN", "1")),
            pool_max=int(env.get("DB_POOL_MAX", "10")),
            ratelimit_storage_url=env.get("RATELIMIT_STORAGE_URL") or redis_url or "memory://",
            cookie_secure=_bool(env.get("COOKIE_SECURE"), not plain_local),
            sign_in_rate_limit=env.get("SIGN_IN_RATE_LIMIT", "20 per minute"),
            idempotency_retention_hours=int(retention),
        )

    def with_(self, **changes) -> "Settings":
        """A copy with some settings changed (used by tests and the CLI)."""
        return replace(self, **changes)
