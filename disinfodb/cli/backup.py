"""`disinfodb backup`, `disinfodb restore` and `disinfodb migrate`."""

from __future__ import annotations

from typing import Annotated

import typer

from disinfodb.cli.support import DbOption, JsonOption, fail, opened, out, print_json
from disinfodb.errors import DisinfoError
from disinfodb.store import default_location
from disinfodb.store.backup import backup, restore
from disinfodb.store.transfer import copy_database


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
        fail(error, {"force": "--force"})
    if as_json:
        print_json(snapshot.__dict__)
        return
    out.print(f"Restored {snapshot.cases:,} cases ({snapshot.audit_entries:,} audit entries) into {snapshot.path};"
              f" checksum {snapshot.checksum[:16]} matches the backup")


def migrate_command(
    source: Annotated[str, typer.Option("--from", help="The database to copy: a path or URL.")],
    target: Annotated[str, typer.Option("--to", help="The database to copy into (created and migrated if new).")],
    force: Annotated[bool, typer.Option("--force", help="Replace what the target holds.")] = False,
    as_json: JsonOption = False,
) -> None:
    """Copy a whole database to another, e.g. from SQLite to a PostgreSQL server: every table,
    keys kept, in one transaction; verified by row counts and a checksum of every case."""
    flags = {"replace": "--force"}
    with opened(source, flags) as origin, opened(target, flags) as destination:
        census = copy_database(origin, destination, replace=force)
        where = destination.display_location
    if as_json:
        print_json({"target": where, "rows": census.rows, "checksum": census.checksum})
        return
    rows = ", ".join(f"{count:,} {table}" for table, count in census.rows.items() if count)
    out.print(f"Copied into {where}: {rows}; checksum {census.checksum[:16]} matches the source")
