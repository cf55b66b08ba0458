"""Bring a PostgreSQL database to the current schema with Alembic.

The revisions (`disinfodb/store/migrations/versions`) are numbered like SQLite's
`user_version` steps and run the statements of `schema.POSTGRES_MIGRATIONS`, so one
history describes both engines. Opening an up-to-date database costs one query: Alembic
(and SQLAlchemy) load only when there is something to apply, under an advisory lock so
two processes opening a new database do not both build it.
"""

from __future__ import annotations

from pathlib import Path

import psycopg

from disinfodb.store.schema import POSTGRES_MIGRATIONS

_MIGRATION_LOCK = 0x64697367  # pg_advisory_lock key: one process migrates at a time
HEAD = f"{len(POSTGRES_MIGRATIONS):04d}"


def current_revision(connection: psycopg.Connection[tuple[str]]) -> str | None:
    exists = connection.execute("SELECT to_regclass('alembic_version') IS NOT NULL").fetchone()
    if not exists or not exists[0]:
        return None
    row = connection.execute("SELECT version_num FROM alembic_version").fetchone()
    return str(row[0]) if row else None


def upgrade(conninfo: str) -> None:
    """Apply the migrations the database lacks (none: one query, no Alembic)."""
    with psycopg.connect(conninfo, autocommit=True) as connection:
        if current_revision(connection) == HEAD:
            return
        connection.execute("SELECT pg_advisory_lock(%s)", (_MIGRATION_LOCK,))
        try:
            if current_revision(connection) != HEAD:  # another process may have just done it
                _run_alembic(conninfo)
        finally:
            connection.execute("SELECT pg_advisory_unlock(%s)", (_MIGRATION_LOCK,))


def _run_alembic(conninfo: str) -> None:
    from alembic import command  # noqa: PLC0415 - only when a migration is due
    from alembic.config import Config  # noqa: PLC0415
    from sqlalchemy import create_engine  # noqa: PLC0415

    engine = create_engine(conninfo.replace("postgresql://", "postgresql+psycopg://", 1))
    try:
        with engine.begin() as connection:
            config = Config()
            config.set_main_option("script_location", str(Path(__file__).with_name("migrations")))
            config.attributes["connection"] = connection
            command.upgrade(config, "head")
    finally:
        engine.dispose()
