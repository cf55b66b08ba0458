"""Stores: where cases live. `open_store` picks the backend from a path or URL."""

from __future__ import annotations

import os
from pathlib import Path

from disinfodb.errors import DisinfoError
from disinfodb.store.base import AuditEntry, Outcome, Store
from disinfodb.store.sqlite import SQLiteStore

DEFAULT_DB = "disinfodb.sqlite"

__all__ = ["DEFAULT_DB", "AuditEntry", "Outcome", "SQLiteStore", "Store", "default_location", "open_store"]


def default_location() -> str:
    """`$DISINFODB_DB`, else ./disinfodb.sqlite."""
    return os.environ.get("DISINFODB_DB") or DEFAULT_DB


def open_store(location: str | None = None) -> SQLiteStore:
    """Open (creating it if needed) the database at a path or `sqlite:///path` URL."""
    location = location or default_location()
    if location.startswith(("postgresql://", "postgres://")):
        raise DisinfoError("the PostgreSQL backend is not available yet; use a SQLite path")
    path = location.removeprefix("sqlite:///")
    parent = Path(path).parent
    if not parent.exists():
        raise DisinfoError(f"cannot create database {path}: folder {parent} does not exist")
    return SQLiteStore(path)
