"""Scratch tables outside the database: what an import must remember of the records it has
read (for duplicate detection), on disk so that memory stays flat on a 1 GB file."""

from __future__ import annotations

import hashlib
import sqlite3


class SeenKeys:
    """Keys already met in this import and the line that brought each, on disk."""

    def __init__(self) -> None:
        self._db = sqlite3.connect("", isolation_level=None)  # "" = private temporary file
        self._db.execute("CREATE TABLE seen (key BLOB PRIMARY KEY, source TEXT, line INTEGER)")

    def first(self, keys: list[str], source: str, line: int) -> tuple[str, int] | None:
        """Where the first of `keys` was seen before, else record them all and return None."""
        digests = [hashlib.blake2b(k.encode(), digest_size=12).digest() for k in keys]
        for digest in digests:
            row = self._db.execute("SELECT source, line FROM seen WHERE key = ?", (digest,)).fetchone()
            if row:
                return row[0], row[1]
        self._db.executemany("INSERT OR IGNORE INTO seen VALUES (?, ?, ?)",
                             [(d, source, line) for d in digests])
        return None

    def close(self) -> None:
        self._db.close()
