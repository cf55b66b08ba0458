"""What every reader yields: one Record per input record, valid or with located problems."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Any

from pydantic import ValidationError

from disinfodb.cases import Case
from disinfodb.errors import Location, Problem


@dataclass
class Record:
    """One record of the input: a valid Case, or the problems that stop it being one."""

    source: str
    line: int
    case: Case | None = None
    problems: list[Problem] = field(default_factory=list)


_URL = re.compile(r"https?://[^\s<>\"')\]]+[^\s<>\"')\].,;:!?]")


def decoded(raw: bytes, first: bool) -> str:
    """A line of bytes as UTF-8 text, without the byte-order mark that may start a file
    (UnicodeDecodeError for binary input or another encoding: see `not_utf8`)."""
    text = raw.decode("utf-8")
    return text.removeprefix("\ufeff") if first else text


def not_utf8(error: UnicodeDecodeError) -> str:
    """What a reader says of input that does not decode."""
    return f"not UTF-8 text ({error.reason} at byte {error.start})"


def urls_in(text: str) -> list[str]:
    """The http(s) URLs cited in a text, in order: a disproof's sources become its links."""
    return list(dict.fromkeys(_URL.findall(text)))


def split_list(value: str, separator: str) -> list[str]:
    """Split a multi-valued cell, dropping empty parts."""
    return [part.strip() for part in value.split(separator) if part.strip()]


def parse_date(value: str, formats: tuple[str, ...]) -> date:
    """Parse a date in the first of `formats` that fits; the error lists the ones tried."""
    value = value.strip()
    for fmt in formats:
        try:
            return datetime.strptime(value, fmt).date()
        except ValueError:
            continue
    shown = " or ".join(f.replace("%d", "DD").replace("%m", "MM").replace("%Y", "YYYY")
                        .replace("%y", "YY") for f in formats)
    raise ValueError(f"{value!r} is not a date ({shown})")


def build_record(source: str, line: int, data: dict[str, Any]) -> Record:
    """Validate `data` as a Case; turn validation errors into located problems."""
    try:
        return Record(source, line, case=Case.model_validate(data))
    except ValidationError as error:
        return Record(source, line, problems=problems_of(error, source, line))


def problems_of(error: ValidationError, source: str, line: int) -> list[Problem]:
    """One Problem per pydantic error, naming the field path."""
    problems = []
    for detail in error.errors():
        field_path = ".".join(str(part) for part in detail["loc"]) or None
        message = str(detail["msg"]).removeprefix("Value error, ")
        problems.append(Problem(Location(source, line, field_path), message))
    return problems


def problem_record(source: str, line: int, message: str, field_name: str | None = None) -> Record:
    """A record that failed before it could become a Case."""
    return Record(source, line, problems=[Problem(Location(source, line, field_name), message)])
