"""Typed errors of the library.

The CLI and the API turn these into messages and status codes; keeping them typed (and
carrying a location) is what lets a user find the bad line of a 1 GB file.
"""

from __future__ import annotations

import math
from dataclasses import dataclass


class DisinfoError(Exception):
    """Base class: every error the library raises on purpose is one of these."""


@dataclass(frozen=True)
class Location:
    """Where a problem is: the file, the line (or, with `unit` "row", the row of a table)
    and the field."""

    source: str
    line: int | None = None
    field: str | None = None
    unit: str = "line"

    def __str__(self) -> str:
        parts = [self.source]
        if self.line is not None:
            parts.append(f"{self.unit} {self.line}")
        where = ":".join(parts)
        return f"{where} [{self.field}]" if self.field else where


@dataclass(frozen=True)
class Problem:
    """One located problem found while reading input."""

    location: Location
    message: str

    def __str__(self) -> str:
        return f"{self.location}: {self.message}"


class ImportRejected(DisinfoError):
    """An import found bad records and wrote nothing."""

    def __init__(self, problems: list[Problem]) -> None:
        self.problems = problems
        shown = "\n".join(f"  {p}" for p in problems[:20])
        more = f"\n  ... and {len(problems) - 20} more" if len(problems) > 20 else ""
        super().__init__(
            f"{len(problems)} bad record(s); nothing was imported:\n{shown}{more}"
        )


class UnknownFormat(DisinfoError):
    """The input's format could not be recognised (and none was given)."""


class QuerySyntaxError(DisinfoError):
    """A search query the user typed cannot be parsed."""


class CaseNotFound(DisinfoError):
    """No case has the given id."""


class CaseConflict(DisinfoError):
    """A record's identifiers name two different existing cases (e.g. its id one, its URL another)."""


class CaseExists(DisinfoError):
    """A case to create is already in the database (same id, URL or content)."""

    def __init__(self, message: str, case_id: str) -> None:
        super().__init__(message)
        self.case_id = case_id


class VersionConflict(DisinfoError):
    """An edit was based on an older version of the case than the one stored now."""

    def __init__(self, case_id: str, expected: int, current: int) -> None:
        super().__init__(f"case {case_id!r} is at version {current}, not {expected}:"
                         " someone else changed it; reload it and edit again")
        self.case_id = case_id
        self.current_version = current


class VersionRequired(DisinfoError):
    """An edit or delete over the API or a form did not say which version it was based on."""

    def __init__(self, case_id: str, current: int) -> None:
        super().__init__(f"say which version of case {case_id!r} you edited (it is at version {current} now):"
                         " an edit without one could overwrite someone else's")
        self.case_id = case_id
        self.current_version = current


class SearchTooSlow(DisinfoError):
    """A search ran past its time limit and was stopped."""


class AccountError(DisinfoError):
    """A user or token operation is not possible (unknown user, name taken, bad role)."""


class NotSignedIn(DisinfoError):
    """A request needs a user (an API token or a web session) and came without a valid one."""


class NotAllowed(DisinfoError):
    """The signed-in user's role does not allow this."""


class DatabaseUnavailable(DisinfoError):
    """The database server cannot be reached now (restarting, down, or the network): retry."""


class MatchingUnavailable(DisinfoError):
    """No match worker can take the text now (the queue is full, or a worker died and is
    being replaced): retry in `retry_after` seconds. A 503, not a 429: the server is busy,
    not the client over its own limit."""

    def __init__(self, message: str, retry_after: int) -> None:
        self.retry_after = retry_after
        super().__init__(f"{message}; retry in {retry_after} s")


class BadValue(DisinfoError):
    """A value the database cannot store or compare (e.g. a NUL character for PostgreSQL)."""


class BodyTooLarge(DisinfoError):
    """A request body is larger than the server reads."""

    def __init__(self, limit: int) -> None:
        super().__init__(f"the request body is larger than this server accepts ({limit:,} bytes)")
        self.limit = limit


class RateLimited(DisinfoError):
    """A client asked more often (or for more server time) than its limit allows; `retry_after` says when to."""

    def __init__(self, message: str, retry_after: float) -> None:
        self.retry_after = max(1, math.ceil(retry_after))
        super().__init__(f"{message}; retry in {self.retry_after} s")


class NothingToMatch(DisinfoError):
    """The input has no words to compare (empty, binary, or only URLs)."""


class InputTooLarge(DisinfoError):
    """The input is larger than matching accepts."""


class ReviewNotFound(CaseNotFound):
    """No case was reported in the given review issue (a 404, like a missing case)."""


class BackupError(DisinfoError):
    """A backup cannot be written, or a file is not a disinfodb backup."""


class TransferError(DisinfoError):
    """A copy cannot start (the target holds data) or did not arrive whole."""


class CorpusError(DisinfoError):
    """A corpus row cannot be scanned: where (file, line or row, field) and why."""

    def __init__(self, location: Location, message: str) -> None:
        super().__init__(f"{location}: {message}")
        self.location = location


class ModelMissing(DisinfoError):
    """The weights of a model are not on this machine."""


class NarrativeNotFound(DisinfoError):
    """No narrative has the given id."""


class ThemeNotFound(NarrativeNotFound):
    """No theme has the given id (a theme is a group of narratives)."""


class TriageNotFound(DisinfoError):
    """No triage item has the given id."""


class TriageDecided(DisinfoError):
    """The triage item was confirmed or dismissed already: a decision is made once."""

    def __init__(self, item_id: int, status: str) -> None:
        super().__init__(f"triage item {item_id} is {status} already")
        self.item_id = item_id
        self.status = status
