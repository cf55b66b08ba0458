"""Shared fixtures: real SQLite stores in tmp_path, and the real data in ../shared."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from disinfodb.cases import Case
from disinfodb.ingest import read_file
from disinfodb.ingest.pipeline import ImportReport, import_records
from disinfodb.store import SQLiteStore, open_store

REPO = Path(__file__).resolve().parents[1]
SHARED = REPO.parent / "shared"
SEED = SHARED / "seeds" / "000_4ffc5d384efea8bd.txt"
CSV_2017 = SHARED / "data" / "euvsdisinfo-2015-2017" / "cases.csv"
CSV_2021 = SHARED / "data" / "euvsdisinfo-2015-2021" / "cases.csv"
FIXTURES = Path(__file__).resolve().parent / "fixtures"


def require(path: Path) -> Path:
    """Skip the test when a shared data file is not checked out beside the repository."""
    if not path.is_file():
        pytest.skip(f"shared data not available: {path}")
    return path


@pytest.fixture(scope="session")
def shared() -> Path:
    if not SHARED.is_dir():
        pytest.skip(f"shared data folder not available: {SHARED}")
    return SHARED


@pytest.fixture(scope="session")
def seed_path(shared: Path) -> Path:
    return require(SEED)


@pytest.fixture
def store(tmp_path: Path) -> Iterator[SQLiteStore]:
    opened = open_store(str(tmp_path / "cases.sqlite"))
    yield opened
    opened.close()


@pytest.fixture
def seed_store(store: SQLiteStore, seed_path: Path) -> SQLiteStore:
    report = import_records(store, read_file(str(seed_path)))
    assert report.created == 4
    return store


def seed_case(store: SQLiteStore, title_start: str) -> Case:
    """The one case of a store whose title starts with `title_start`."""
    found = [case for case in store.iter_cases() if case.title.startswith(title_start)]
    assert len(found) == 1, f"{len(found)} cases start with {title_start!r}"
    return found[0]


@dataclass
class RealData:
    """A store with both real CSV files imported (2017 first), and what each import reported."""

    store: SQLiteStore
    report_2017: ImportReport
    report_2021: ImportReport
    cases: list[Case]


@pytest.fixture(scope="session")
def real_data(shared: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[RealData]:
    """Imported once per session: the 10,892-case file takes seconds."""
    path_2017, path_2021 = require(CSV_2017), require(CSV_2021)
    opened = open_store(str(tmp_path_factory.mktemp("real") / "real.sqlite"))
    report_2017 = import_records(opened, read_file(str(path_2017)))
    report_2021 = import_records(opened, read_file(str(path_2021)))
    yield RealData(opened, report_2017, report_2021, list(opened.iter_cases()))
    opened.close()


@pytest.fixture(scope="session")
def real_store(real_data: RealData) -> SQLiteStore:
    return real_data.store
