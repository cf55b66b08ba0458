"""The account tables: users, API tokens and web sessions, as rows.

What the rows mean (roles, password and token hashing, when a token's use is recorded)
is `disinfodb.accounts`; writes run inside the caller's `store.transaction()`, so a check
and the write it guards are one transaction.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from disinfodb.store.sql_store import SQLStore

UserRow = tuple[str, str, bool]  # name, role, whether a password is set
TokenRow = tuple[str, str, str, str, str | None]  # hash, user, label, created_at, last_used_at
_USER = "u.name, u.role, u.password_hash IS NOT NULL"


class AccountTables:
    def __init__(self, store: SQLStore) -> None:
        self.store = store

    def _write(self, sql: str, parameters: tuple[object, ...]) -> None:
        self.store._db.execute(sql, parameters)

    # -- users -------------------------------------------------------------------------

    def user(self, name: str) -> UserRow | None:
        rows = self.store.fetch_all(f"SELECT {_USER} FROM users u WHERE u.name = ?", (name,))
        return _user_row(rows[0]) if rows else None

    def users(self) -> list[UserRow]:
        return [_user_row(row) for row in self.store.fetch_all(f"SELECT {_USER} FROM users u ORDER BY u.name")]

    def password_hash(self, name: str) -> tuple[bool, str | None]:
        """(whether the user exists, their password hash)."""
        rows = self.store.fetch_all("SELECT password_hash FROM users WHERE name = ?", (name,))
        return (True, rows[0][0]) if rows else (False, None)

    def add_user(self, name: str, role: str, password_hash: str | None, created_at: str) -> None:
        self._write("INSERT INTO users (name, role, password_hash, created_at) VALUES (?, ?, ?, ?)",
                    (name, role, password_hash, created_at))

    def set_password_hash(self, name: str, password_hash: str | None) -> None:
        """A new password hash; the user's web sessions end with the old password."""
        self._write("UPDATE users SET password_hash = ? WHERE name = ?", (password_hash, name))
        self._write("DELETE FROM sessions WHERE user_name = ?", (name,))

    def set_role(self, name: str, role: str) -> None:
        self._write("UPDATE users SET role = ? WHERE name = ?", (role, name))

    def remove_user(self, name: str) -> None:
        """The user and (by foreign key) their tokens and sessions."""
        self._write("DELETE FROM users WHERE name = ?", (name,))

    # -- API tokens ----------------------------------------------------------------------

    def add_token(self, token_hash: str, name: str, label: str, created_at: str) -> None:
        self._write("INSERT INTO tokens (hash, user_name, label, created_at) VALUES (?, ?, ?, ?)",
                    (token_hash, name, label, created_at))

    def tokens(self, name: str | None = None) -> list[TokenRow]:
        return [(str(h), str(u), str(label), str(created), used) for h, u, label, created, used in self.store.fetch_all(
            "SELECT hash, user_name, label, created_at, last_used_at FROM tokens"
            " WHERE CAST(? AS TEXT) IS NULL OR user_name = ? ORDER BY created_at", (name, name))]

    def token_hashes(self, prefix: str) -> list[str]:
        """The token hashes that start with `prefix` (compared by substring: no LIKE wildcards)."""
        return [str(h) for (h,) in self.store.fetch_all("SELECT hash FROM tokens WHERE substr(hash, 1, ?) = ?",
                                                        (len(prefix), prefix))]

    def remove_token(self, token_hash: str) -> None:
        self._write("DELETE FROM tokens WHERE hash = ?", (token_hash,))

    def user_of_token(self, token_hash: str) -> UserRow | None:
        rows = self.store.fetch_all(f"SELECT {_USER} FROM tokens t JOIN users u ON u.name = t.user_name"
                                    " WHERE t.hash = ?", (token_hash,))
        return _user_row(rows[0]) if rows else None

    def record_uses(self, uses: list[tuple[str, str]]) -> None:
        """(last used at, token hash) pairs."""
        self.store._db.executemany("UPDATE tokens SET last_used_at = ? WHERE hash = ?", uses)

    # -- web sessions --------------------------------------------------------------------

    def add_session(self, session_hash: str, name: str, expires_at: str, now: str) -> None:
        """A new session (and the expired ones gone)."""
        self._write("DELETE FROM sessions WHERE expires_at < ?", (now,))
        self._write("INSERT INTO sessions (hash, user_name, expires_at) VALUES (?, ?, ?)",
                    (session_hash, name, expires_at))

    def user_of_session(self, session_hash: str, now: str) -> UserRow | None:
        rows = self.store.fetch_all(f"SELECT {_USER} FROM sessions s JOIN users u ON u.name = s.user_name"
                                    " WHERE s.hash = ? AND s.expires_at > ?", (session_hash, now))
        return _user_row(rows[0]) if rows else None

    def remove_session(self, session_hash: str) -> None:
        self._write("DELETE FROM sessions WHERE hash = ?", (session_hash,))


def _user_row(row: tuple[object, ...]) -> UserRow:
    return str(row[0]), str(row[1]), bool(row[2])
