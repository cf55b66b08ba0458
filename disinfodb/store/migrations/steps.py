"""What every revision does: run its step in the engine's own dialect."""

from __future__ import annotations

import sqlite3
from typing import Any

from alembic import op

from disinfodb.store.schema import MIGRATIONS, POSTGRES_MIGRATIONS


def apply_step(number: int) -> None:
    """Step `number` (1-based): SQLite's script (and its PRAGMA user_version, which the
    fast check on opening and `disinfodb restore` read) or PostgreSQL's statements.
    Statements go to the driver as written: no bind-parameter parsing of DDL."""
    bind = op.get_bind()
    if bind.dialect.name == "sqlite":
        for statement in sqlite_statements(MIGRATIONS[number - 1]):
            bind.exec_driver_sql(statement)
        bind.exec_driver_sql(f"PRAGMA user_version = {number}")
    else:
        for statement in POSTGRES_MIGRATIONS[number - 1]:
            bind.exec_driver_sql(statement)


def refuse_downgrade(number: int) -> None:
    raise NotImplementedError(f"migration {number} cannot be undone: restore a backup instead")


def adopt_sqlite_file(connection: Any) -> None:
    """A SQLite file migrated before Alembic ran them has only its user_version: record
    that revision for Alembic, so it applies only the later steps."""
    if connection.dialect.name != "sqlite":
        return
    if connection.exec_driver_sql("SELECT 1 FROM sqlite_master WHERE name = 'alembic_version'").first():
        return
    current = int(connection.exec_driver_sql("PRAGMA user_version").scalar() or 0)
    if current:
        connection.exec_driver_sql("CREATE TABLE alembic_version (version_num VARCHAR(32) NOT NULL"
                                   " CONSTRAINT alembic_version_pkc PRIMARY KEY)")
        connection.exec_driver_sql(f"INSERT INTO alembic_version VALUES ('{current:04d}')")


def sqlite_statements(script: str) -> list[str]:
    """Split a script into statements (sqlite3.complete_statement knows triggers' BEGIN..END)."""
    statements, current = [], ""
    for line in script.splitlines(keepends=True):
        current += line
        if sqlite3.complete_statement(current):
            statements.append(current.strip())
            current = ""
    return [s for s in statements if s]
