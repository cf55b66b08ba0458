"""`disinfodb backup` and `disinfodb restore`."""

from __future__ import annotations

from typing import Annotated

import typer

from disinfodb.backup import backup, restore
from disinfodb.cli_support import DbOption, JsonOption, fail, opened, out, print_json
from disinfodb.errors import DisinfoError
from disinfodb.store import default_location


def backup_command(target: Annotated[str, typer.Argument(help="The backup file to write.")],
                   db: DbOption = None, as_json: JsonOption = False) -> None:
    """Copy the database to a file: a consistent snapshot, even while it is in use."""
    with opened(db) as store:
        snapshot = backup(store, target)
    if as_json:
        print_json(snapshot.__dict__)
        return
    out.print(f"Backed up {snapshot.cases:,} cases ({snapshot.audit_entries:,} audit entries) to {snapshot.path};"
              f" checksum {snapshot.checksum[:16]}")


def restore_command(source: Annotated[str, typer.Argument(help="A file written by `disinfodb backup`.")],
                    force: Annotated[bool, typer.Option("--force", help="Replace a database that has cases.")] = False,
                    db: DbOption = None, as_json: JsonOption = False) -> None:
    """Replace the database with a backup, whole or not at all (checked before and after)."""
    try:
        snapshot = restore(source, db or default_location(), force=force)
    except DisinfoError as error:
        fail(str(error))
    if as_json:
        print_json(snapshot.__dict__)
        return
    out.print(f"Restored {snapshot.cases:,} cases ({snapshot.audit_entries:,} audit entries) into {snapshot.path};"
              f" checksum {snapshot.checksum[:16]} matches the backup")
