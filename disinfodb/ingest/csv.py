"""Readers for CSV: our own columns, and the two public EUvsDisinfo scrapes as they are.

Which columns mean what is a `Profile`, picked from the header row, so a new scrape is a
new table of columns rather than a new parser.
"""

from __future__ import annotations

import csv
import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any, TextIO

from disinfodb.errors import UnknownFormat
from disinfodb.ingest.base import (
    Record,
    build_record,
    parse_date,
    problem_record,
    split_list,
    urls_in,
)

csv.field_size_limit(16 * 1024 * 1024)

LIST_SEPARATOR = ";"
OUTLET_COLUMNS = ("outlet_names", "outlet_urls", "outlet_archive_urls", "outlet_dates")
# Our own columns: Case fields, multi-valued ones joined by ";" (escaped as "\;").
OWN_COLUMNS = ("id", "url", "title", "summary", "disproof", "published", "issue",
               "languages", "countries", "keywords", *OUTLET_COLUMNS, "links",
               "related", "narratives", "reported_by")
OWN_LIST_COLUMNS = {"languages", "countries", "keywords", "links", "related", "narratives",
                    *OUTLET_COLUMNS}


def join_escaped(values: list[str]) -> str:
    """Join a list into one cell; a ";" or "\\" inside a value is escaped with "\\"."""
    return LIST_SEPARATOR.join(v.replace("\\", "\\\\").replace(";", "\\;") for v in values)


# A cell a spreadsheet would run as a formula: = + - @ (or a tab or CR before one). Our
# CSV export prefixes such cells with ' (the spreadsheet convention for "this is text"),
# and a cell that already starts with quotes before such a character gets one more, so
# the reader can drop exactly one and the round trip restores the text.
_FORMULA = re.compile(r"'*[=+\-@\t\r]")


def neutralised(cell: str) -> str:
    """The cell as a spreadsheet will show it as text, never run it (OWASP's CSV injection)."""
    return "'" + cell if _FORMULA.match(cell) else cell


def restored(cell: str) -> str:
    """Inverse of `neutralised`."""
    return cell[1:] if cell.startswith("'") and _FORMULA.match(cell) else cell


def split_escaped(cell: str) -> list[str]:
    """Inverse of join_escaped. Empty positions are kept (outlet columns are positional)."""
    if not cell:
        return []
    parts, current, chars = [], [], iter(cell)
    for char in chars:
        if char == "\\":
            current.append(next(chars, "\\"))
        elif char == LIST_SEPARATOR:
            parts.append("".join(current))
            current = []
        else:
            current.append(char)
    parts.append("".join(current))
    return [part.strip() for part in parts]


def _own_row(raw: dict[str, str]) -> dict[str, Any]:
    row = {column: restored(cell or "") for column, cell in raw.items()}
    data: dict[str, Any] = {}
    for column in OWN_COLUMNS:
        cell = (row.get(column) or "").strip()
        if column in OUTLET_COLUMNS:
            continue
        if column in OWN_LIST_COLUMNS:
            data[column] = [v for v in split_escaped(cell) if v]
        elif column in ("published", "issue"):
            data[column] = cell or None
        elif column in row:
            data[column] = cell
    names, urls, archives, dates = (split_escaped(row.get(c) or "") for c in OUTLET_COLUMNS)
    width = max(len(names), len(urls), len(archives))
    data["outlets"] = [
        {"name": _at(names, i), "url": _at(urls, i) or None, "archive_url": _at(archives, i) or None,
         "published": _at(dates, i) or None}
        for i in range(width)
    ]
    return data


def _at(values: list[str], index: int) -> str:
    return values[index] if index < len(values) else ""


def _euvsdisinfo_2017_row(row: dict[str, str]) -> dict[str, Any]:
    """kalkun/euvsdisinfo-scraper: MM/DD/YY dates, ", " lists, one outlet + its URL."""
    outlet = {"name": row["outlet"], "url": row["source"].strip() or None}
    disproof = row["disproof"]
    return {
        "title": row["title"],
        "summary": row["summary"],
        "disproof": disproof,
        "published": parse_date(row["date"], ("%m/%d/%y",)) if row["date"].strip() else None,
        "issue": row["issue"].strip() or None,
        "languages": split_list(row["language"], ","),
        "countries": split_list(row["origin"], ","),
        "keywords": split_list(row["keywords"], ","),
        "outlets": [outlet] if row["outlet"].strip() or outlet["url"] else [],
        "links": urls_in(disproof),
        "reported_by": row["reported by"],
    }


def _euvsdisinfo_2021_row(row: dict[str, str]) -> dict[str, Any]:
    """cknabs/EUvsDisinfo posts.csv: ISO dates, "+" lists, the case URL as id."""
    return {
        "url": row["id"],
        "title": row["title"],
        "published": row["date"].strip() or None,
        "languages": split_list(row["languages"], "+"),
        "countries": split_list(row["countries"], "+"),
        "keywords": split_list(row["keywords"], "+"),
        "outlets": [{"name": name} for name in split_list(row["outlets"], "+")],
    }


@dataclass(frozen=True)
class Profile:
    """A CSV dialect of cases: the columns that identify it and how a row becomes a Case."""

    name: str
    required: frozenset[str]
    convert: Callable[[dict[str, str]], dict[str, Any]]


PROFILES = (
    Profile("euvsdisinfo-2017", frozenset({"issue", "date", "outlet", "language", "origin",
                                           "reported by", "keywords", "source", "title",
                                           "summary", "disproof"}), _euvsdisinfo_2017_row),
    Profile("euvsdisinfo-2021", frozenset({"date", "id", "title", "countries", "keywords",
                                           "languages", "outlets"}), _euvsdisinfo_2021_row),
    Profile("csv", frozenset({"title"}), _own_row),
)


def profile_for(header: list[str], name: str | None = None) -> Profile:
    """The profile named, or the first whose required columns the header has."""
    columns = {column.strip() for column in header}
    for profile in PROFILES:
        if name in (None, profile.name) and profile.required <= columns:
            if profile.name == "csv" and (unknown := columns - set(OWN_COLUMNS)):
                raise UnknownFormat(f"unknown CSV column(s): {', '.join(sorted(unknown))}; "
                                    f"expected some of: {', '.join(OWN_COLUMNS)}")
            return profile
    wanted = f"the {name} columns" if name else "a 'title' column"
    raise UnknownFormat(f"CSV header {sorted(columns)} lacks {wanted}")


def read_csv(stream: TextIO, source: str, profile_name: str | None = None) -> Iterator[Record]:
    """Yield one Record per data row; line numbers are those of the row's first line."""
    reader = csv.reader(stream)
    try:
        header = next(reader)
    except StopIteration:
        return
    except csv.Error as error:
        yield problem_record(source, 1, f"malformed CSV header: {error}")
        return
    header = [column.strip().lstrip("\ufeff") for column in header]
    profile = profile_for(header, profile_name)
    start = reader.line_num + 1
    while True:
        try:
            cells = next(reader)
        except StopIteration:
            return
        except csv.Error as error:
            yield problem_record(source, start, f"malformed CSV: {error}")
            return
        line, start = start, reader.line_num + 1
        if not any(cell.strip() for cell in cells):
            continue
        if len(cells) != len(header):
            yield problem_record(source, line, f"row has {len(cells)} cells, header has {len(header)}")
            continue
        try:
            data = profile.convert(dict(zip(header, cells, strict=True)))
        except ValueError as error:
            yield problem_record(source, line, str(error), _field_of(error))
            continue
        yield build_record(source, line, data)


def _field_of(error: ValueError) -> str | None:
    return "published" if "is not a date" in str(error) else None
