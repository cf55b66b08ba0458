"""Stores: where cases live. `open_store` picks the backend from a path or URL."""

from __future__ import annotations

import os
from pathlib import Path

from disinfodb.errors import DisinfoError
from disinfodb.store.protocol import AuditEntry, Outcome, Store
from disinfodb.store.sql_store import SQLStore
from disinfodb.store.sqlite import SQLiteStore

DEFAULT_DB = "disinfodb.sqlite"

__all__ = ["DEFAULT_DB", "AuditEntry", "Outcome", "SQLStore", "SQLiteStore", "Store", "default_location",
           "is_postgres_url", "open_store"]


def default_location() -> str:
    """`$DISINFODB_DB`, else ./disinfodb.sqlite."""
    return os.environ.get("DISINFODB_DB") or DEFAULT_DB


def is_postgres_url(location: str) -> bool:
    return location.lower().startswith(("postgresql://", "postgres://", "postgresql+psycopg://"))


def open_store(location: str | None = None) -> SQLStore:
    """Open (creating and migrating it if needed) the database at a SQLite path, a
    `sqlite:///path` URL or a `postgresql://` URL."""
    location = location or default_location()
    if is_postgres_url(location):
        from disinfodb.store.postgres import PostgresStore  # noqa: PLC0415 - SQLAlchemy only when used

        return PostgresStore(location)
    path = location.removeprefix("sqlite:///")
    parent = Path(path).parent
    if not parent.exists():
        raise DisinfoError(f"cannot create database {path}: folder {parent} does not exist")
    return SQLiteStore(path)
