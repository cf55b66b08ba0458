"""The `disinfodb` command line: a thin layer over the library, one module per group of
commands (cases, matching, suggest, serve, accounts, narratives, review, rebuttals, scan, watch, backup).

Exit codes: 0 ok, 1 a user error (message on stderr), 2 a usage error (from Typer).
Every read command takes --json for machine output.
"""

from __future__ import annotations

from collections.abc import Callable

import typer

from disinfodb.cli import cases, matching
from disinfodb.cli.accounts import token_app, user_app
from disinfodb.cli.backup import backup_command, migrate_command, restore_command
from disinfodb.cli.narratives import narratives_app
from disinfodb.cli.rebuttals import rebuttals
from disinfodb.cli.review import review
from disinfodb.cli.scan import scan
from disinfodb.cli.serve import serve
from disinfodb.cli.suggest import suggest
from disinfodb.cli.watch import watch

app = typer.Typer(help="Keep, search and use a database of debunked disinformation cases.",
                  no_args_is_help=True, add_completion=False, pretty_exceptions_enable=False)

COMMANDS: tuple[Callable[..., None], ...] = (cases.search, cases.show, cases.history, cases.stats, cases.export,
                                            matching.match, matching.related, suggest, serve)
app.command()(cases.init)
app.command("import")(cases.import_)
for command in COMMANDS:
    app.command()(command)
app.add_typer(user_app, name="user")
app.add_typer(token_app, name="token")
for command in (rebuttals, review, scan, watch):
    app.command()(command)
app.add_typer(narratives_app, name="narratives")
app.command("backup")(backup_command)
app.command("restore")(restore_command)
app.command("migrate")(migrate_command)
app.add_typer(matching.models_app, name="models")


def main() -> None:
    app()


if __name__ == "__main__":
    main()
