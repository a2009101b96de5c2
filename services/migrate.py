"""Run Alembic migrations from code (``flask db upgrade``, ``make run`` and the tests)."""
from __future__ import annotations

import os
from pathlib import Path

from alembic import command
from alembic.config import Config

ROOT = Path(__file__).resolve().parent.parent


def sqlalchemy_url(database_url: str | None = None) -> str:
    """The administrative DATABASE_URL in the form SQLAlchemy's psycopg 3 dialect expects."""
    url = database_url or os.environ.get("DATABASE_URL", "")
    if not url:
        raise SystemExit("DATABASE_URL is not set")
    for prefix in ("postgresql://", "postgres://"):
        if url.startswith(prefix):
            return "postgresql+psycopg://" + url[len(prefix):]
    return url


def alembic_config(database_url: str | None = None) -> Config:
    cfg = Config(str(ROOT / "alembic.ini"))
    cfg.set_main_option("script_location", str(ROOT / "migrations"))
    if database_url:
        cfg.attributes["database_url"] = sqlalchemy_url(database_url)
    return cfg


def upgrade(database_url: str | None = None, revision: str = "heads") -> None:
    """Bring the database at ``database_url`` to ``revision``."""
    command.upgrade(alembic_config(database_url), revision)


def downgrade(database_url: str | None = None, revision: str = "base") -> None:
    command.downgrade(alembic_config(database_url), revision)


if __name__ == "__main__":  # python -m services.migrate: the first migration, before the app role exists
    upgrade()
    print("database is at the latest revision")
