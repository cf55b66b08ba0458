"""Import records into a store: all of a file in one transaction, or nothing.

Readers stream, and so does this: the per-record state is the set of keys already seen
in this import (for duplicate detection), kept in a private on-disk SQLite table so memory
stays flat on a 1 GB file, and the cases waiting to be written, a batch at a time
(`Store.upsert_many`: a few statements per batch, where a case at a time cost a few each).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass, field

from disinfodb.cases import Case
from disinfodb.errors import CaseConflict, ImportRejected, Location, Problem
from disinfodb.ingest.base import Record
from disinfodb.store.protocol import Outcome, Store
from disinfodb.store.scratch import SeenKeys

BATCH = 1_000  # cases per upsert_many: its statements are per batch, its memory per case


@dataclass
class ImportReport:
    """What an import did, record by record (counts) and problem by problem (located)."""

    created: int = 0
    updated: int = 0
    unchanged: int = 0
    duplicates: list[Problem] = field(default_factory=list)
    conflicts: list[Problem] = field(default_factory=list)
    problems: list[Problem] = field(default_factory=list)
    dry_run: bool = False

    @property
    def records(self) -> int:
        return self.created + self.updated + self.unchanged + len(self.duplicates) + len(self.conflicts)

    def as_dict(self) -> dict[str, object]:
        return {
            "created": self.created, "updated": self.updated, "unchanged": self.unchanged,
            "duplicates": [str(p) for p in self.duplicates],
            "conflicts": [str(p) for p in self.conflicts],
            "problems": [str(p) for p in self.problems],
            "dry_run": self.dry_run,
        }


def _identity_keys(case: Case) -> list[str]:
    keys = [f"id:{case.id}"] if case.id else []
    keys += [f"url:{case.url}"] if case.url else []
    return keys or [f"content:{case.content_id}"]


def import_records(
    store: Store,
    records: Iterable[Record],
    *,
    actor: str = "import",
    dry_run: bool = False,
    skip_invalid: bool = False,
    progress: Callable[[Record], None] | None = None,
) -> ImportReport:
    """Write valid records; on any bad record write nothing (unless `skip_invalid`).

    Exact duplicate records are reported and skipped; a record naming the same case as an
    earlier one of this import with different values is reported as a conflict and
    skipped (the first wins), so importing a file twice gives the same database.
    """
    report = ImportReport(dry_run=dry_run)
    seen_content, seen_identity = SeenKeys(), SeenKeys()
    try:
        with store.transaction():
            batch = _Batch(store, report, actor)
            for record in records:
                if progress:
                    progress(record)
                case = _admitted(record, report, seen_content, seen_identity)
                if case is not None:
                    batch.add(case, Location(record.source, record.line))
            batch.write()
            if report.problems and not skip_invalid:
                raise ImportRejected(report.problems)
            if dry_run:
                raise _DryRun
    except _DryRun:
        pass
    finally:
        seen_content.close()
        seen_identity.close()
    return report


class _DryRun(Exception):
    """Raised inside the transaction to roll a dry run back."""


def _admitted(record: Record, report: ImportReport, seen_content: SeenKeys,
              seen_identity: SeenKeys) -> Case | None:
    """The record's case if it is to be written; else None, with the reason reported."""
    if record.problems or record.case is None:
        report.problems.extend(record.problems)
        return None
    case, here = record.case, Location(record.source, record.line)
    earlier = seen_content.first([case.model_dump_json()], record.source, record.line)
    if earlier:
        report.duplicates.append(Problem(here, f"exact duplicate of line {earlier[1]}; skipped"))
        return None
    earlier = seen_identity.first(_identity_keys(case), record.source, record.line)
    if earlier:
        report.conflicts.append(Problem(
            here, f"same case as line {earlier[1]} ({_identity_keys(case)[0].split(':')[0]}) "
                  "but with other values; kept the first, skipped this one"))
        return None
    return case


class _Batch:
    """Admitted cases waiting for `upsert_many`, each with where it came from and how many
    problems were reported before it: a case the store refuses gets its problem in that
    place, so the report reads in the order of the file, as if written one by one."""

    def __init__(self, store: Store, report: ImportReport, actor: str) -> None:
        self._store, self._report, self._actor = store, report, actor
        self._waiting: list[tuple[Case, Location, int]] = []

    def add(self, case: Case, here: Location) -> None:
        self._waiting.append((case, here, len(self._report.problems)))
        if len(self._waiting) >= BATCH:
            self.write()

    def write(self) -> None:
        """Upsert the waiting cases and count what each did."""
        results = self._store.upsert_many([case for case, _, _ in self._waiting], self._actor)
        placed = 0  # problems inserted so far: each moves the later places by one
        for (_, here, before), result in zip(self._waiting, results, strict=True):
            if isinstance(result, CaseConflict):
                self._report.problems.insert(before + placed, Problem(here, str(result)))
                placed += 1
            elif result[0] is Outcome.CREATED:
                self._report.created += 1
            elif result[0] is Outcome.UPDATED:
                self._report.updated += 1
            else:
                self._report.unchanged += 1
        self._waiting.clear()
