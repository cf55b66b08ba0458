"""Bring a database, SQLite or PostgreSQL, to the current schema with Alembic.

One chain of revisions (`disinfodb/store/migrations/versions`, '0001'..) describes both
engines: revision N runs step N of `schema.STEPS` in the engine's dialect. Opening an
up-to-date database costs one
query (SQLite's PRAGMA user_version, which every step also sets, or PostgreSQL's
alembic_version): Alembic and SQLAlchemy load only when there is something to apply.

Two processes opening a new database at once must not both build it: on SQLite the
migrations run in one BEGIN IMMEDIATE transaction (Alembic reads the version inside it),
on PostgreSQL under an advisory lock.
"""

from __future__ import annotations

import sqlite3
from pathlib import Path
from typing import Any

import psycopg

from disinfodb.errors import DisinfoError
from disinfodb.store.schema import STEPS

_MIGRATION_LOCK = 0x64697367  # pg_advisory_lock key: one process migrates at a time
_SQLITE_BUSY_TIMEOUT_S = 10
_CONNECT_TIMEOUT_S = 10


HEAD = f"{len(STEPS):04d}"  # Alembic's id of the last step ('0004')


def upgrade_sqlite(path: str) -> None:
    """Apply the steps a SQLite file lacks."""
    with sqlite3.connect(path) as probe:
        current = int(probe.execute("PRAGMA user_version").fetchone()[0])
    probe.close()
    if current < len(STEPS):
        _run_alembic(f"sqlite:///{path}")


def upgrade_postgres(conninfo: str) -> None:
    """Apply the steps a PostgreSQL database lacks."""
    with psycopg.connect(conninfo, autocommit=True, connect_timeout=_CONNECT_TIMEOUT_S) as connection:
        current = _postgres_revision(connection)
        if current == HEAD:
            return
        if current is not None and current.isdigit() and int(current) > len(STEPS):
            raise DisinfoError(f"the database has schema version {int(current)}, newer than this disinfodb"
                               f" knows ({len(STEPS)}): upgrade disinfodb")
        connection.execute("SELECT pg_advisory_lock(%s)", (_MIGRATION_LOCK,))
        try:
            if _postgres_revision(connection) != HEAD:  # another process may have just done it
                _run_alembic(conninfo.replace("postgresql://", "postgresql+psycopg://", 1))
        finally:
            connection.execute("SELECT pg_advisory_unlock(%s)", (_MIGRATION_LOCK,))


def _postgres_revision(connection: psycopg.Connection[Any]) -> str | None:
    exists = connection.execute("SELECT to_regclass('alembic_version') IS NOT NULL").fetchone()
    if not exists or not exists[0]:
        return None
    row = connection.execute("SELECT version_num FROM alembic_version").fetchone()
    return str(row[0]) if row else None


def _run_alembic(url: str) -> None:
    from alembic import command  # noqa: PLC0415 - only when a migration is due
    from alembic.config import Config  # noqa: PLC0415
    from sqlalchemy import create_engine, event  # noqa: PLC0415

    sqlite = url.startswith("sqlite")
    engine = create_engine(url, connect_args={"timeout": _SQLITE_BUSY_TIMEOUT_S} if sqlite else {})
    if sqlite:
        # pysqlite would run DDL outside any transaction: take the transaction ourselves,
        # IMMEDIATE so that a second process waits, then finds the steps done.
        @event.listens_for(engine, "connect")
        def _no_implicit_transactions(dbapi_connection: Any, _record: Any) -> None:
            dbapi_connection.isolation_level = None

        @event.listens_for(engine, "begin")
        def _begin_immediate(connection: Any) -> None:
            connection.exec_driver_sql("BEGIN IMMEDIATE")

    try:
        with engine.begin() as connection:
            config = Config()
            config.set_main_option("script_location", str(Path(__file__).with_name("migrations")))
            config.attributes["connection"] = connection
            command.upgrade(config, "head")
    finally:
        engine.dispose()
