"""The tests' own PostgreSQL server (tests/pg_cluster.py), against a real postgres: no mocks.

Besides connecting and per-test databases, these pin down what later PostgreSQL tests rely on:
with `fsync = off`, committed rows still survive an immediate shutdown and a SIGKILL of the
postmaster, since the WAL is written to the page cache at commit and the OS itself keeps running.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import psycopg
import pytest
from pg_cluster import PostgresCluster, PostgresMissing, database_name

ROWS = [(1, "Взрывы на складе боеприпасов в Виннице"), (2, "colour revolution"), (3, "O'Brien \"quoted\"")]


def database_names(cluster: PostgresCluster) -> set[str]:
    with cluster.connect() as conn:
        return {name for (name,) in conn.execute("SELECT datname FROM pg_database")}


def write_rows(url: str) -> None:
    """A table with ROWS committed in it."""
    with psycopg.connect(url) as conn:  # the with block commits
        conn.execute("CREATE TABLE claims (id int PRIMARY KEY, title text NOT NULL)")
        with conn.cursor() as cur:
            cur.executemany("INSERT INTO claims VALUES (%s, %s)", ROWS)


def read_rows(url: str) -> list[tuple[int, str]]:
    with psycopg.connect(url) as conn:
        return [(int(row[0]), str(row[1])) for row in conn.execute("SELECT id, title FROM claims ORDER BY id")]


def recoveries(cluster: PostgresCluster) -> int:
    """How many times the server log says a start ran crash recovery."""
    return cluster.log_path.read_text().count("automatic recovery in progress")


@pytest.fixture
def gone_afterwards(postgres_cluster: PostgresCluster) -> Iterator[list[str]]:
    """Names a test appends here must be gone from the server once every later fixture is torn down.

    Requested before postgres_url, this is set up before it and so torn down after it: the check
    sees the state the real postgres_url teardown left behind.
    """
    names: list[str] = []
    yield names
    assert names, "the test recorded no database name"
    assert not database_names(postgres_cluster) & set(names)


def test_cluster_accepts_connections(postgres_cluster: PostgresCluster) -> None:
    assert postgres_cluster.running
    with postgres_cluster.connect() as conn:
        version = conn.execute("SELECT version()").fetchone()
        settings = {str(name): str(value) for name, value in conn.execute(
            "SELECT name, setting FROM pg_settings WHERE name = ANY(%s)",
            (["fsync", "listen_addresses", "max_connections", "server_encoding", "lc_ctype", "port"],),
        )}
        user = conn.execute("SELECT current_user").fetchone()
    assert version is not None and str(version[0]).startswith("PostgreSQL ")
    assert user == ("postgres",)
    assert settings["fsync"] == "off"
    assert settings["listen_addresses"] == "127.0.0.1"
    assert settings["max_connections"] == "200"
    assert settings["server_encoding"] == "UTF8"
    assert settings["lc_ctype"] in {"C.UTF-8", "C"}
    assert settings["port"] == str(postgres_cluster.port)
    assert postgres_cluster.url() == f"postgresql://postgres@127.0.0.1:{postgres_cluster.port}/postgres"
    assert postgres_cluster.log_path.is_file()
    assert postgres_cluster.data_dir.joinpath(f".s.PGSQL.{postgres_cluster.port}").exists()  # the socket


def test_postgres_url_is_a_fresh_writable_database_dropped_afterwards(
        gone_afterwards: list[str], postgres_url: str, postgres_cluster: PostgresCluster) -> None:
    with psycopg.connect(postgres_url) as conn:
        row = conn.execute("SELECT current_database()").fetchone()
        tables = conn.execute("SELECT count(*) FROM pg_tables WHERE schemaname = 'public'").fetchone()
    assert row is not None
    name = str(row[0])
    gone_afterwards.append(name)
    assert name.startswith("t_test_postgres_url_is_a_fresh")
    assert tables == (0,)
    write_rows(postgres_url)
    assert read_rows(postgres_url) == ROWS
    assert name in database_names(postgres_cluster)


def test_temporary_database_is_dropped_despite_open_connections(postgres_cluster: PostgresCluster) -> None:
    """DROP DATABASE ... WITH (FORCE): a connection the test leaked cannot block the teardown."""
    with pytest.raises(ZeroDivisionError), postgres_cluster.temporary_database("leaky") as url:
        leaked = psycopg.connect(url)
        leaked.execute("SELECT 1")
        name = leaked.info.dbname
        _ = 1 / 0
    assert name not in database_names(postgres_cluster)
    with pytest.raises(psycopg.OperationalError):
        leaked.execute("SELECT 1")  # the drop terminated its session
    leaked.close()


def test_identifiers_are_quoted_and_templates_copied(postgres_cluster: PostgresCluster) -> None:
    odd = 'odd "name"; DROP DATABASE postgres; --'
    url = postgres_cluster.create_database(odd)
    try:
        write_rows(url)
        copy = postgres_cluster.create_database(database_name("copy"), template=odd)
        assert read_rows(copy) == ROWS
        postgres_cluster.drop_database(copy.rsplit("/", 1)[1])
    finally:
        postgres_cluster.drop_database(odd)
    names = database_names(postgres_cluster)
    assert "postgres" in names
    assert odd not in names
    postgres_cluster.drop_database(odd, missing_ok=True)  # no error the second time
    with pytest.raises(psycopg.errors.InvalidCatalogName):
        postgres_cluster.drop_database(odd)


def test_committed_rows_survive_an_immediate_restart(postgres_cluster: PostgresCluster, postgres_url: str) -> None:
    write_rows(postgres_url)
    uncommitted = psycopg.connect(postgres_url)
    uncommitted.execute("INSERT INTO claims VALUES (4, 'never committed')")
    before = recoveries(postgres_cluster)

    postgres_cluster.restart("immediate")  # no checkpoint: the next start replays the WAL

    assert postgres_cluster.running
    assert recoveries(postgres_cluster) == before + 1
    assert read_rows(postgres_url) == ROWS
    with pytest.raises(psycopg.OperationalError):
        uncommitted.execute("SELECT 1")  # its session died with the old server
    uncommitted.close()


def test_committed_rows_survive_sigkill(postgres_cluster: PostgresCluster, postgres_url: str) -> None:
    write_rows(postgres_url)
    with psycopg.connect(postgres_url, autocommit=True) as conn:
        conn.execute("UPDATE claims SET title = upper(title) WHERE id = 1")
    old_pid, before = postgres_cluster.pid, recoveries(postgres_cluster)

    postgres_cluster.kill()

    assert not postgres_cluster.running
    with pytest.raises(psycopg.OperationalError):
        psycopg.connect(postgres_url, connect_timeout=2).close()
    postgres_cluster.start_again()
    assert postgres_cluster.running
    assert postgres_cluster.pid != old_pid
    assert recoveries(postgres_cluster) == before + 1
    assert read_rows(postgres_url) == [(1, ROWS[0][1].upper()), *ROWS[1:]]  # C.UTF-8 upper-cases Cyrillic


def test_stop_then_start_keeps_data_and_port(postgres_cluster: PostgresCluster, postgres_url: str) -> None:
    write_rows(postgres_url)
    port = postgres_cluster.port
    postgres_cluster.stop()
    assert not postgres_cluster.running
    postgres_cluster.stop()  # stopping a stopped server does nothing
    postgres_cluster.start()  # an initialised, stopped cluster starts its existing data again
    assert postgres_cluster.port == port
    assert read_rows(postgres_url) == ROWS


def test_missing_binaries_raise_postgres_missing(tmp_path: Path) -> None:
    with pytest.raises(PostgresMissing, match="initdb, pg_ctl, postgres not found"):
        PostgresCluster(bindir=tmp_path)


def test_own_cluster_cleans_up_its_folder(postgres_cluster: PostgresCluster) -> None:
    """A second, private cluster beside the session's: its own port, and nothing left behind."""
    with PostgresCluster(bindir=postgres_cluster.bindir) as own:
        folder = own.data_dir.parent
        assert own.port != postgres_cluster.port
        with own.connect() as conn:
            assert conn.execute("SELECT 1").fetchone() == (1,)
    assert not folder.exists()
    assert not own.running
