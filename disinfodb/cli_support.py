"""What every command module shares: consoles, the --db/--json options, clean failures."""

from __future__ import annotations

import json
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Annotated, Any, NoReturn

import typer
from rich.console import Console
from rich.markup import escape

from disinfodb.errors import DisinfoError
from disinfodb.store import SQLStore, open_store

out = Console(highlight=False)
err = Console(stderr=True, highlight=False, soft_wrap=True)  # messages stay one line per problem

DbOption = Annotated[str | None, typer.Option(
    "--db", envvar="DISINFODB_DB", help="SQLite file (default ./disinfodb.sqlite).",
    show_default=False)]
JsonOption = Annotated[bool, typer.Option("--json", help="Print JSON for machines.")]
SHOWN_WARNINGS = 10


def fail(message: str) -> NoReturn:
    err.print(f"[bold red]error:[/] {escape(message)}")
    raise typer.Exit(1)


@contextmanager
def opened(db: str | None) -> Iterator[SQLStore]:
    """Open the store and turn library errors into a clean exit 1."""
    store = None
    try:
        store = open_store(db)
        yield store
    except DisinfoError as error:
        fail(str(error))
    finally:
        if store is not None:
            store.close()


def print_json(data: Any) -> None:
    sys.stdout.write(json.dumps(data, ensure_ascii=False, indent=2, default=str) + "\n")
