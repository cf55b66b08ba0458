"""The Store interface every backend implements, and the small types it returns."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import AbstractContextManager
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from typing import Any, Protocol

from disinfodb.cases import Case
from disinfodb.search import Results, SearchQuery


class Outcome(StrEnum):
    """What an upsert did."""

    CREATED = "created"
    UPDATED = "updated"
    UNCHANGED = "unchanged"


@dataclass(frozen=True)
class AuditEntry:
    """One recorded write: who did what to which case, and the case as it was before."""

    seq: int
    case_id: str
    action: str
    version: int
    actor: str
    at: datetime
    previous: Case | None


class Store(Protocol):
    """A database of cases. Writes outside `transaction()` commit one by one."""

    def transaction(self) -> AbstractContextManager[None]: ...
    def upsert(self, case: Case, actor: str = "system") -> tuple[Outcome, Case]: ...
    def get(self, case_id: str) -> Case: ...
    def create(self, case: Case, actor: str = "system") -> Case: ...
    def replace(self, case_id: str, case: Case, actor: str = "system",
                expected_version: int | None = None) -> tuple[Outcome, Case]: ...
    def delete(self, case_id: str, actor: str = "system", expected_version: int | None = None) -> None: ...
    def count(self) -> int: ...
    def iter_cases(self, query: SearchQuery | None = None) -> Iterator[Case]: ...
    def history(self, case_id: str) -> list[AuditEntry]: ...
    def search(self, query: SearchQuery) -> Results: ...
    def stats(self) -> dict[str, Any]: ...
    def close(self) -> None: ...
