"""What every revision does: run its step in the engine's own dialect."""

from __future__ import annotations

from typing import Any

from alembic import op

from disinfodb.store.schema import DIALECTS, STEPS


def apply_step(number: int) -> None:
    """Step `number` (1-based) in the engine's dialect; on SQLite also its PRAGMA
    user_version, which the fast check on opening and a restore read. Statements go to the
    driver as written: no bind-parameter parsing of DDL."""
    bind = op.get_bind()
    for statement in STEPS[number - 1].statements(DIALECTS[bind.dialect.name]):
        bind.exec_driver_sql(statement)
    if bind.dialect.name == "sqlite":
        bind.exec_driver_sql(f"PRAGMA user_version = {number}")


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
