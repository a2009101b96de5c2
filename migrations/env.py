"""Alembic environment: migrations are plain SQL run as the administrative DATABASE_URL role."""
from alembic import context
from sqlalchemy import create_engine, pool

from services.migrate import sqlalchemy_url

config = context.config


def run_migrations_online() -> None:
    url = config.attributes.get("database_url") or sqlalchemy_url()
    engine = create_engine(url, poolclass=pool.NullPool)
    with engine.connect() as connection:
        context.configure(connection=connection, transaction_per_migration=True)
        with context.begin_transaction():
            context.run_migrations()


if context.is_offline_mode():
    raise SystemExit("offline SQL generation is not supported; run `flask db upgrade`")
run_migrations_online()
