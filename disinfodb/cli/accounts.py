"""`disinfodb user ...` and `disinfodb token ...`: accounts for the API and the web pages.

Passwords are read from a prompt (or `--password-stdin` for scripts), never from the
command line, where other users of the machine could see them in the process list.
"""

from __future__ import annotations

import dataclasses
import sys
from typing import Annotated

import typer
from rich.table import Table

from disinfodb.accounts import Accounts, Role
from disinfodb.cli.support import DbOption, JsonOption, err, opened, out, print_json

user_app = typer.Typer(help="Users and their roles (reader, editor, admin).", no_args_is_help=True)
token_app = typer.Typer(help="API tokens (shown once; only their hashes are kept).", no_args_is_help=True)

PasswordOpt = Annotated[bool, typer.Option("--password/--no-password",
                                           help="Ask for a password, for signing in to the web pages.")]
PasswordStdinOpt = Annotated[bool, typer.Option("--password-stdin", help="Read the password from standard input.")]


def _password(ask: bool, from_stdin: bool) -> str | None:
    if from_stdin:
        return sys.stdin.readline().rstrip("\n")
    if ask:
        return str(typer.prompt("Password", hide_input=True, confirmation_prompt=True))
    return None


@user_app.command("add")
def user_add(
    name: str,
    role: Annotated[Role, typer.Option("--role", help="reader, editor or admin.")] = Role.READER,
    password: PasswordOpt = False,
    password_stdin: PasswordStdinOpt = False,
    db: DbOption = None,
) -> None:
    """Add a user (then give them a token, a password, or both)."""
    secret = _password(password, password_stdin)
    with opened(db) as store:
        user = Accounts(store).add_user(name, role, secret)
    out.print(f"Added user {user.name} ({user.role.value}){' with a password' if user.has_password else ''}."
              f" Create an API token with: disinfodb token create {user.name}")


@user_app.command("password")
def user_password(name: str, password_stdin: PasswordStdinOpt = False, db: DbOption = None) -> None:
    """Set a user's password (signs out their web sessions)."""
    secret = _password(True, password_stdin)
    with opened(db) as store:
        Accounts(store).set_password(name, secret)
    out.print(f"Password of {name} set.")


@user_app.command("role")
def user_role(name: str, role: Role, db: DbOption = None) -> None:
    """Change a user's role."""
    with opened(db) as store:
        user = Accounts(store).set_role(name, role)
    out.print(f"{user.name} is now {user.role.value}.")


@user_app.command("remove")
def user_remove(name: str, db: DbOption = None) -> None:
    """Remove a user and their tokens (what they wrote stays, with its history)."""
    with opened(db) as store:
        Accounts(store).remove_user(name)
    out.print(f"Removed {name}.")


@user_app.command("list")
def user_list(db: DbOption = None, as_json: JsonOption = False) -> None:
    """List users and roles."""
    with opened(db) as store:
        users = Accounts(store).users()
    if as_json:
        print_json([{"name": u.name, "role": u.role.value, "has_password": u.has_password} for u in users])
        return
    table = Table("user", "role", "password")
    for u in users:
        table.add_row(u.name, u.role.value, "yes" if u.has_password else "no")
    out.print(table)


@token_app.command("create")
def token_create(name: str, label: Annotated[str, typer.Option("--label", help="What the token is for.")] = "",
                 db: DbOption = None) -> None:
    """Create an API token for a user and print it (the only time it is shown)."""
    with opened(db) as store:
        token = Accounts(store).create_token(name, label)
    err.print(f"API token for {name} (store it now, it is not shown again):")
    print(token)


@token_app.command("list")
def token_list(name: Annotated[str | None, typer.Argument(help="Only this user's tokens.")] = None,
               db: DbOption = None, as_json: JsonOption = False) -> None:
    """List tokens by id (a prefix of their hash), user, label and last use."""
    with opened(db) as store:
        tokens = Accounts(store).tokens(name)
    if as_json:
        print_json([dataclasses.asdict(t) for t in tokens])
        return
    table = Table("id", "user", "label", "created", "last used")
    for t in tokens:
        table.add_row(t.token_id, t.user, t.label, t.created_at[:19], (t.last_used_at or "never")[:19])
    out.print(table)


@token_app.command("revoke")
def token_revoke(token_id: str, db: DbOption = None) -> None:
    """Revoke a token by its id (from `token list`)."""
    with opened(db) as store:
        Accounts(store).revoke_token(token_id)
    out.print(f"Revoked token {token_id}.")
