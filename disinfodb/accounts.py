"""Users, roles, API tokens and web sessions.

Secrets are shown once and never stored: passwords as scrypt hashes (slow on purpose,
salted), tokens and session cookies as SHA-256 digests (they are 256 random bits, so a
fast hash is enough and lets a lookup be one indexed query).
"""

from __future__ import annotations

import hashlib
import hmac
import re
import secrets
import threading
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from enum import StrEnum

from disinfodb.errors import AccountError
from disinfodb.store import Store
from disinfodb.store.accounts import UserRow

TOKEN_PREFIX = "ddb_"
SESSION_HOURS = 12
_NAME = re.compile(r"[A-Za-z0-9_.@-]{1,64}")
_SCRYPT = {"n": 2**14, "r": 8, "p": 1}
MIN_PASSWORD = 8
_USE_RESOLUTION = timedelta(minutes=1)


class Role(StrEnum):
    """What a user may do: readers read (a private instance), editors also write, admins
    also manage users."""

    READER = "reader"
    EDITOR = "editor"
    ADMIN = "admin"

    @property
    def can_write(self) -> bool:
        return self in (Role.EDITOR, Role.ADMIN)


@dataclass(frozen=True)
class User:
    name: str
    role: Role
    has_password: bool = False


@dataclass(frozen=True)
class TokenInfo:
    """A token as listed: never the token itself, only a short prefix of its hash."""

    token_id: str
    user: str
    label: str
    created_at: str
    last_used_at: str | None


def hash_password(password: str) -> str:
    salt = secrets.token_bytes(16)
    digest = hashlib.scrypt(password.encode(), salt=salt, **_SCRYPT)
    return f"scrypt${salt.hex()}${digest.hex()}"


def verify_password(password: str, stored: str) -> bool:
    try:
        scheme, salt, digest = stored.split("$")
    except ValueError:
        return False
    if scheme != "scrypt":
        return False
    candidate = hashlib.scrypt(password.encode(), salt=bytes.fromhex(salt), **_SCRYPT)
    return hmac.compare_digest(candidate.hex(), digest)


def secret_hash(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()


def _now() -> datetime:
    return datetime.now(UTC)


class Accounts:
    """The accounts of a store.

    Writes go through `store`; the lookups every request makes (a token, a session) go
    through `reader` when a server gives one, so a request never waits for the writer
    (an import holds it for minutes). When a token was last used is kept in memory and
    written by `flush_uses` (a server does it in the background), not on the request path.
    """

    def __init__(self, store: Store, reader: Store | None = None) -> None:
        self.store = store
        self._tables = store.accounts
        self._lookups = (reader or store).accounts
        self._uses: dict[str, datetime] = {}  # token hash -> last use not yet written
        self._recorded: dict[str, datetime] = {}  # token hash -> last use known to be stored
        self._uses_lock = threading.Lock()

    # -- users ------------------------------------------------------------------------

    def add_user(self, name: str, role: Role | str, password: str | None = None) -> User:
        if not _NAME.fullmatch(name):
            raise AccountError(f"user name {name!r} must be 1-64 letters, digits or . _ @ -")
        role = _role(role)
        with self.store.transaction():
            if self.find_user(name):
                raise AccountError(f"user {name!r} already exists")
            self._tables.add_user(name, role.value, _password_hash(password), _now().isoformat())
        return User(name, role, password is not None)

    def set_password(self, name: str, password: str | None) -> None:
        with self.store.transaction():
            self.user(name)
            self._tables.set_password_hash(name, _password_hash(password))

    def set_role(self, name: str, role: Role | str) -> User:
        with self.store.transaction():
            self.user(name)
            self._tables.set_role(name, _role(role).value)
        return self.user(name)

    def remove_user(self, name: str) -> None:
        """Remove a user with their tokens and sessions (their audit entries stay)."""
        with self.store.transaction():
            self.user(name)
            self._tables.remove_user(name)

    def find_user(self, name: str) -> User | None:
        return _user(self._tables.user(name))

    def user(self, name: str) -> User:
        found = self.find_user(name)
        if found is None:
            raise AccountError(f"no user named {name!r}: add one first (as role editor, say)")
        return found

    def users(self) -> list[User]:
        return [User(n, Role(r), p) for n, r, p in self._tables.users()]

    def authenticate(self, name: str, password: str) -> User | None:
        """The user, if the password is theirs (a user without a password never signs in)."""
        exists, stored = self._tables.password_hash(name)
        if not exists or stored is None:
            hash_password(password)  # same work either way: timing does not reveal names
            return None
        return self.find_user(name) if verify_password(password, stored) else None

    # -- API tokens -------------------------------------------------------------------

    def create_token(self, name: str, label: str = "") -> str:
        """A new API token for a user: returned once, only its hash is kept."""
        token = TOKEN_PREFIX + secrets.token_urlsafe(32)
        with self.store.transaction():
            self.user(name)
            self._tables.add_token(secret_hash(token), name, label, _now().isoformat())
        return token

    def tokens(self, name: str | None = None) -> list[TokenInfo]:
        self.flush_uses()
        return [TokenInfo(h[:12], u, label, c, used) for h, u, label, c, used in self._tables.tokens(name)]

    def revoke_token(self, token_id: str) -> None:
        """Revoke the token whose hash starts with `token_id` (as `tokens()` lists it)."""
        if len(token_id) < 8:
            raise AccountError("give at least 8 characters of the token id")
        with self.store.transaction():
            found = self._tables.token_hashes(token_id.lower())
            if len(found) != 1:
                raise AccountError(f"no token with id {token_id!r}" if not found else f"{token_id!r} is ambiguous")
            self._tables.remove_token(found[0])

    def user_for_token(self, token: str) -> User | None:
        digest = secret_hash(token)
        user = _user(self._lookups.user_of_token(digest))
        if user is None:
            return None
        now = _now()
        with self._uses_lock:
            known = self._uses.get(digest) or self._recorded.get(digest)
            if known is None or known < now - _USE_RESOLUTION:  # at most one write a minute per token
                self._uses[digest] = now
        return user

    def flush_uses(self) -> int:
        """Write when the tokens used since the last flush were last used; how many."""
        with self._uses_lock:
            pending, self._uses = self._uses, {}
        if not pending:
            return 0
        try:
            with self.store.transaction():
                self._tables.record_uses([(at.isoformat(), digest) for digest, at in pending.items()])
        except BaseException:
            with self._uses_lock:  # not written: keep them for the next flush
                self._uses = pending | self._uses
            raise
        with self._uses_lock:
            self._recorded.update(pending)
            if len(self._recorded) > 100_000:  # it is only a cache of what the table says
                self._recorded.clear()
        return len(pending)

    # -- web sessions -----------------------------------------------------------------

    def start_session(self, name: str, hours: int = SESSION_HOURS) -> str:
        """A new session cookie value for a signed-in user (expired sessions are purged)."""
        session = secrets.token_urlsafe(32)
        now = _now()
        with self.store.transaction():
            self._tables.add_session(secret_hash(session), name, (now + timedelta(hours=hours)).isoformat(),
                                     now.isoformat())
        return session

    def user_for_session(self, session: str) -> User | None:
        return _user(self._lookups.user_of_session(secret_hash(session), _now().isoformat()))

    def end_session(self, session: str) -> None:
        with self.store.transaction():
            self._tables.remove_session(secret_hash(session))


def _user(row: UserRow | None) -> User | None:
    return User(row[0], Role(row[1]), row[2]) if row else None


def _role(role: Role | str) -> Role:
    try:
        return Role(role)
    except ValueError:
        raise AccountError(f"role must be one of {', '.join(r.value for r in Role)}, not {role!r}") from None


def _password_hash(password: str | None) -> str | None:
    if password is None:
        return None
    if len(password) < MIN_PASSWORD:
        raise AccountError(f"a password needs at least {MIN_PASSWORD} characters")
    return hash_password(password)
