"""`disinfodb suggest`: keywords, countries and article languages for a new claim."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Annotated

import typer
from rich.markup import escape
from rich.table import Table

from disinfodb.cli.matching import matcher_with_progress
from disinfodb.cli.support import DbOption, JsonOption, ModelOption, fail, opened, out, print_json
from disinfodb.suggest import suggest_metadata


def suggest(
    text: Annotated[str | None, typer.Argument(help="The claim (title and summary); '-' reads standard input.",
                                               show_default=False)] = None,
    file: Annotated[Path | None, typer.Option("--file", "-f", help="Read the claim from a file.")] = None,
    limit: Annotated[int, typer.Option("--limit", "-n", min=1, max=50, help="Values per facet.")] = 5,
    model: ModelOption = None,
    db: DbOption = None,
    as_json: JsonOption = False,
) -> None:
    """Suggest keywords, countries and article languages for a claim, from the archive's cases."""
    if file is not None:
        if not file.is_file():
            fail(f"{file}: no such file")
        body = file.read_bytes().decode("utf-8", errors="replace")
    elif text in (None, "-"):
        body = sys.stdin.read()
    else:
        body = text
    with opened(db) as store:
        found = suggest_metadata(matcher_with_progress(store, model), body, limit)
    if as_json:
        print_json(found.as_json())
        return
    table = Table("facet", "value", "score", "likely")
    for facet, values in found.as_json().items():
        for number, value in enumerate(values):
            table.add_row(facet if number == 0 else "", escape(str(value["value"])), f"{value['score']:.2f}",
                          "yes" if value["likely"] else "", end_section=number == len(values) - 1)
    out.print(table)
