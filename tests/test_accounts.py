"""Accounts: users, roles, API tokens and web sessions, through the library and the CLI,
over a real SQLite file (read back with sqlite3 to see what is really stored)."""

from __future__ import annotations

import hashlib
import json
import sqlite3
from pathlib import Path

import pytest
from typer.testing import CliRunner, Result

from disinfodb.accounts import MIN_PASSWORD, TOKEN_PREFIX, Accounts, Role, User
from disinfodb.cases import Case
from disinfodb.cli import app
from disinfodb.errors import AccountError
from disinfodb.store import SQLStore, open_store

runner = CliRunner(env={"COLUMNS": "200", "DISINFODB_DB": None})
PASSWORD = "correct horse battery staple"


@pytest.fixture
def accounts(store: SQLStore) -> Accounts:
    return Accounts(store)


def stored_bytes(path: Path) -> bytes:
    """Everything SQLite keeps of a database: the file and its WAL, if any is left."""
    parts = [path, path.with_name(path.name + "-wal"), path.with_name(path.name + "-shm")]
    return b"".join(part.read_bytes() for part in parts if part.exists())


def stored_text(path: Path) -> list[str]:
    """Every text value of every table, read with plain sqlite3."""
    db = sqlite3.connect(path)
    try:
        values: list[str] = []
        for (table,) in db.execute("SELECT name FROM sqlite_master WHERE type = 'table'").fetchall():
            for row in db.execute(f'SELECT * FROM "{table}"'):  # table names from sqlite_master
                values += [v for v in row if isinstance(v, str)]
        return values
    finally:
        db.close()


# -- users ------------------------------------------------------------------------------

def test_add_and_list_users(accounts: Accounts) -> None:
    assert accounts.add_user("ed", Role.EDITOR, PASSWORD) == User("ed", Role.EDITOR, has_password=True)
    assert accounts.add_user("ann.admin@example.org", "admin") == User("ann.admin@example.org", Role.ADMIN)
    assert accounts.add_user("r_1-x", "reader").role is Role.READER
    assert [(u.name, u.role, u.has_password) for u in accounts.users()] == [
        ("ann.admin@example.org", Role.ADMIN, False), ("ed", Role.EDITOR, True), ("r_1-x", Role.READER, False)]
    assert accounts.find_user("nobody") is None
    with pytest.raises(AccountError, match="no user named 'nobody'"):
        accounts.user("nobody")


def test_add_user_errors_leave_nothing_behind(accounts: Accounts) -> None:
    accounts.add_user("ed", Role.EDITOR)
    with pytest.raises(AccountError, match="already exists"):
        accounts.add_user("ed", Role.ADMIN, PASSWORD)
    assert accounts.user("ed") == User("ed", Role.EDITOR, has_password=False)  # the first one, untouched
    for bad_name in ["", "two words", "x" * 65, "semi;colon", "sl/ash", "émile", "tab\tname"]:
        with pytest.raises(AccountError, match="must be 1-64 letters"):
            accounts.add_user(bad_name, Role.READER)
    assert accounts.add_user("x" * 64, Role.READER).name == "x" * 64  # the longest allowed
    with pytest.raises(AccountError, match="role must be one of reader, editor, admin"):
        accounts.add_user("wiz", "wizard")
    with pytest.raises(AccountError, match=f"at least {MIN_PASSWORD} characters"):
        accounts.add_user("shorty", Role.EDITOR, "x" * (MIN_PASSWORD - 1))
    assert accounts.find_user("wiz") is None and accounts.find_user("shorty") is None
    assert [u.name for u in accounts.users()] == ["ed", "x" * 64]


def test_roles_and_removal(accounts: Accounts, store: SQLStore) -> None:
    assert not Role.READER.can_write and Role.EDITOR.can_write and Role.ADMIN.can_write
    accounts.add_user("ed", Role.READER)
    assert accounts.set_role("ed", "editor") == User("ed", Role.EDITOR)
    with pytest.raises(AccountError, match="role must be one of"):
        accounts.set_role("ed", "root")
    assert accounts.user("ed").role is Role.EDITOR
    for action in (lambda: accounts.set_role("ghost", Role.ADMIN), lambda: accounts.remove_user("ghost"),
                   lambda: accounts.set_password("ghost", PASSWORD), lambda: accounts.create_token("ghost")):
        with pytest.raises(AccountError, match="no user named 'ghost'"):
            action()

    token = accounts.create_token("ed")
    session = accounts.start_session("ed")
    created = store.create(Case(title="A case written by ed before leaving"), actor="ed")
    accounts.remove_user("ed")
    assert accounts.find_user("ed") is None
    assert accounts.user_for_token(token) is None and accounts.tokens() == []
    assert accounts.user_for_session(session) is None
    assert [(e.action, e.actor) for e in store.history(created.id)] == [("create", "ed")]  # history stays


# -- passwords and sessions ---------------------------------------------------------------

def test_authenticate(accounts: Accounts) -> None:
    accounts.add_user("ed", Role.EDITOR, PASSWORD)
    accounts.add_user("tokens-only", Role.EDITOR)
    assert accounts.authenticate("ed", PASSWORD) == User("ed", Role.EDITOR, has_password=True)
    for name, password in [("ed", PASSWORD + " "), ("ed", PASSWORD.upper()), ("ed", ""), ("nobody", PASSWORD),
                           ("tokens-only", ""), ("tokens-only", PASSWORD)]:
        assert accounts.authenticate(name, password) is None, (name, password)

    session = accounts.start_session("ed")
    accounts.set_password("ed", "a new password")
    assert accounts.authenticate("ed", PASSWORD) is None
    assert accounts.authenticate("ed", "a new password") is not None
    assert accounts.user_for_session(session) is None  # a new password signs out every session
    with pytest.raises(AccountError, match="at least"):
        accounts.set_password("ed", "short")
    assert accounts.authenticate("ed", "a new password") is not None  # the refused change changed nothing
    accounts.set_password("ed", None)
    assert accounts.authenticate("ed", "a new password") is None and not accounts.user("ed").has_password


def test_sessions_start_and_end(accounts: Accounts) -> None:
    accounts.add_user("ed", Role.EDITOR, PASSWORD)
    first, second = accounts.start_session("ed"), accounts.start_session("ed")
    assert first != second and len(first) >= 32
    assert accounts.user_for_session(first) == accounts.user_for_session(second) == accounts.user("ed")
    accounts.end_session(first)
    assert accounts.user_for_session(first) is None
    assert accounts.user_for_session(second) is not None  # only the one signed out
    accounts.end_session(first)  # twice is harmless
    assert accounts.user_for_session("not-a-session") is None
    expired = accounts.start_session("ed", hours=-1)
    assert accounts.user_for_session(expired) is None


# -- tokens -------------------------------------------------------------------------------

def test_secrets_are_stored_only_as_hashes(tmp_path: Path) -> None:
    path = tmp_path / "secrets.sqlite"
    store = open_store(str(path))
    accounts = Accounts(store)
    accounts.add_user("ed", Role.EDITOR, PASSWORD)
    token = accounts.create_token("ed", label="laptop")
    session = accounts.start_session("ed")
    assert accounts.user_for_token(token) == accounts.user("ed")  # also writes last_used_at
    store.close()

    assert token.startswith(TOKEN_PREFIX) and len(token) > 40
    everything = stored_bytes(path)
    texts = stored_text(path)
    for secret in (token, token.removeprefix(TOKEN_PREFIX), session, PASSWORD):
        assert secret.encode() not in everything, secret
        assert not any(secret in text for text in texts), secret
    # ... while their hashes are what is kept (so the search above looked in the right place):
    assert hashlib.sha256(token.encode()).hexdigest() in texts
    assert hashlib.sha256(session.encode()).hexdigest() in texts
    assert any(text.startswith("scrypt$") for text in texts)


def test_tokens_authenticate_list_and_revoke(accounts: Accounts) -> None:
    accounts.add_user("ed", Role.EDITOR)
    accounts.add_user("rita", Role.READER)
    laptop, ci, rita = accounts.create_token("ed", "laptop"), accounts.create_token("ed", "ci"), \
        accounts.create_token("rita")
    assert len({laptop, ci, rita}) == 3
    assert accounts.user_for_token(laptop) == accounts.user_for_token(ci) == User("ed", Role.EDITOR)
    assert accounts.user_for_token(rita) == User("rita", Role.READER)
    for wrong in ["", "ddb_", laptop[:-1], laptop + "x", laptop.upper(), hashlib.sha256(laptop.encode()).hexdigest()]:
        assert accounts.user_for_token(wrong) is None, wrong

    listed = accounts.tokens()
    assert [(t.user, t.label) for t in listed] == [("ed", "laptop"), ("ed", "ci"), ("rita", "")]
    assert [t.token_id for t in listed] == [hashlib.sha256(t.encode()).hexdigest()[:12] for t in (laptop, ci, rita)]
    assert all(t.last_used_at is not None for t in listed)  # each was used above
    assert [t.label for t in accounts.tokens("ed")] == ["laptop", "ci"]
    assert accounts.tokens("nobody") == []

    accounts.revoke_token(listed[0].token_id)
    assert accounts.user_for_token(laptop) is None
    assert accounts.user_for_token(ci) is not None and accounts.user_for_token(rita) is not None
    assert [t.label for t in accounts.tokens("ed")] == ["ci"]
    with pytest.raises(AccountError, match="no token with id"):
        accounts.revoke_token(listed[0].token_id)  # already gone
    with pytest.raises(AccountError, match="at least 8 characters"):
        accounts.revoke_token(listed[1].token_id[:7])
    accounts.revoke_token(listed[1].token_id[:8])  # a prefix of the id is enough when it is unique
    assert accounts.user_for_token(ci) is None


def test_revoke_takes_an_id_not_a_pattern(accounts: Accounts) -> None:
    """The id is a hash prefix: SQL LIKE wildcards in it must not match (and revoke) a token."""
    accounts.add_user("ed", Role.EDITOR)
    token = accounts.create_token("ed")
    [listed] = accounts.tokens()
    for pattern in ("%" * 8, "_" * 8, "_" * 16, listed.token_id[:7] + "%", listed.token_id[:7] + "_"):
        with pytest.raises(AccountError, match="no token with id"):
            accounts.revoke_token(pattern)
    assert accounts.user_for_token(token) is not None
    accounts.revoke_token(listed.token_id.upper())  # the id itself, in either case, does
    assert accounts.user_for_token(token) is None


# -- the command line ---------------------------------------------------------------------

class Cli:
    def __init__(self, db: Path) -> None:
        self.db = db

    def __call__(self, *args: str, stdin: str | None = None) -> Result:
        group, command, *rest = args
        return runner.invoke(app, [group, command, "--db", str(self.db), *rest], input=stdin)

    def accounts(self) -> tuple[SQLStore, Accounts]:
        store = open_store(str(self.db))
        return store, Accounts(store)


@pytest.fixture
def cli(tmp_path: Path) -> Cli:
    return Cli(tmp_path / "cli.sqlite")


def test_cli_user_add_with_password_from_stdin(cli: Cli) -> None:
    result = cli("user", "add", "alice", "--role", "editor", "--password-stdin", stdin=PASSWORD + "\n")
    assert result.exit_code == 0, result.stderr
    assert "Added user alice (editor) with a password" in result.stdout
    assert PASSWORD not in result.stdout + result.stderr
    store, accounts = cli.accounts()
    try:
        assert accounts.authenticate("alice", PASSWORD) == User("alice", Role.EDITOR, has_password=True)
        assert accounts.authenticate("alice", PASSWORD + "\n") is None  # the newline is not part of it
    finally:
        store.close()

    result = cli("user", "add", "bob")  # no password: reader, signs in with tokens only
    assert result.exit_code == 0, result.stderr
    assert "Added user bob (reader)." in result.stdout
    listed = json.loads(cli("user", "list", "--json").stdout)
    assert listed == [{"name": "alice", "role": "editor", "has_password": True},
                      {"name": "bob", "role": "reader", "has_password": False}]


def test_cli_user_errors(cli: Cli) -> None:
    assert cli("user", "add", "alice", "--role", "admin").exit_code == 0
    duplicate = cli("user", "add", "alice", "--role", "reader")
    assert duplicate.exit_code == 1 and "already exists" in duplicate.stderr
    bad_name = cli("user", "add", "two words")
    assert bad_name.exit_code == 1 and "must be 1-64 letters" in bad_name.stderr
    short = cli("user", "add", "carol", "--password-stdin", stdin="short\n")
    assert short.exit_code == 1 and f"at least {MIN_PASSWORD} characters" in short.stderr
    bad_role = cli("user", "add", "dave", "--role", "wizard")
    assert bad_role.exit_code == 2 and "wizard" in bad_role.stderr
    assert "Traceback" not in duplicate.stderr + bad_name.stderr + short.stderr + bad_role.stderr
    assert [u["name"] for u in json.loads(cli("user", "list", "--json").stdout)] == ["alice"]
    unknown = cli("user", "role", "ghost", "editor")
    assert unknown.exit_code == 1 and "no user named 'ghost'" in unknown.stderr


def test_cli_role_password_and_remove(cli: Cli) -> None:
    assert cli("user", "add", "alice", "--role", "reader").exit_code == 0
    role = cli("user", "role", "alice", "admin")
    assert role.exit_code == 0 and "alice is now admin" in role.stdout
    password = cli("user", "password", "alice", "--password-stdin", stdin="a fine new password\n")
    assert password.exit_code == 0, password.stderr
    store, accounts = cli.accounts()
    try:
        assert accounts.authenticate("alice", "a fine new password") == User("alice", Role.ADMIN, True)
    finally:
        store.close()
    token = cli("token", "create", "alice").stdout.strip()
    removed = cli("user", "remove", "alice")
    assert removed.exit_code == 0 and "Removed alice" in removed.stdout
    store, accounts = cli.accounts()
    try:
        assert accounts.users() == [] and accounts.user_for_token(token) is None
    finally:
        store.close()


def test_cli_tokens(cli: Cli) -> None:
    assert cli("user", "add", "alice", "--role", "editor").exit_code == 0
    created = cli("token", "create", "alice", "--label", "ci runner")
    assert created.exit_code == 0, created.stderr
    token = created.stdout.strip()
    assert created.stdout == token + "\n" and token.startswith(TOKEN_PREFIX)  # only the token: scripts capture it
    assert "not shown again" in created.stderr
    store, accounts = cli.accounts()
    try:
        assert accounts.user_for_token(token) == User("alice", Role.EDITOR)
        assert accounts.flush_uses() == 1  # the use is recorded off the request path, written here
    finally:
        store.close()

    token_id = hashlib.sha256(token.encode()).hexdigest()[:12]
    table = cli("token", "list")
    as_json = cli("token", "list", "alice", "--json")
    assert table.exit_code == as_json.exit_code == 0
    assert token_id in table.stdout and "ci runner" in table.stdout
    [listed] = json.loads(as_json.stdout)
    assert listed["token_id"] == token_id and listed["user"] == "alice" and listed["label"] == "ci runner"
    assert listed["last_used_at"] is not None  # it authenticated above
    full_hash = hashlib.sha256(token.encode()).hexdigest()
    for output in (table.stdout, table.stderr, as_json.stdout, as_json.stderr):
        assert token not in output and token.removeprefix(TOKEN_PREFIX)[:16] not in output
        assert full_hash not in output

    nobody = cli("token", "create", "ghost")
    assert nobody.exit_code == 1 and "no user named 'ghost'" in nobody.stderr and nobody.stdout == ""
    revoked = cli("token", "revoke", token_id)
    assert revoked.exit_code == 0 and f"Revoked token {token_id}" in revoked.stdout
    again = cli("token", "revoke", token_id)
    assert again.exit_code == 1 and "no token with id" in again.stderr
    assert json.loads(cli("token", "list", "--json").stdout) == []
    store, accounts = cli.accounts()
    try:
        assert accounts.user_for_token(token) is None
    finally:
        store.close()
