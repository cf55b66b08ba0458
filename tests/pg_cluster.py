"""A real, throwaway PostgreSQL server for the tests, started from the installed server binaries.

Why not a mock or a shared server: the PostgreSQL behaviour the tests care about (transactions,
locks, crash recovery, identifiers, encodings) is only real on a real server, and a server of the
tests' own, in a temporary folder on a free port, can be created, crashed and thrown away without
touching anything else on the machine.

The cluster is tuned for tests, never for data that matters: `fsync = off` (the OS does not crash
during a test run; a killed or immediately stopped postgres has still written its WAL into the page
cache, so committed transactions survive it), trust authentication, TCP on 127.0.0.1 only.
"""

from __future__ import annotations

import os
import pwd
import re
import shutil
import signal
import socket
import subprocess
import tempfile
import time
import uuid
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from types import TracebackType
from typing import Literal
from urllib.parse import quote

import psycopg
from psycopg import sql
from psycopg.rows import TupleRow

BINARIES = ("initdb", "pg_ctl", "postgres")
DEBIAN_ROOT = Path("/usr/lib/postgresql")
# PostgreSQL refuses to run as root; Debian's postgresql package creates this OS user.
OS_USER = "postgres"
# The database superuser, whatever OS user runs the server (initdb -U).
SUPERUSER = "postgres"
HOST = "127.0.0.1"

StopMode = Literal["fast", "immediate"]


class PostgresMissing(RuntimeError):
    """The PostgreSQL server binaries (initdb, pg_ctl, postgres) cannot be found or used.

    A separate class so that a test session can skip (or, in CI, fail) on exactly this and
    nothing else: any other error starting the server is a real failure.
    """


class PostgresError(RuntimeError):
    """A PostgreSQL command failed; the message carries its output and the end of the server log."""


def find_bindir() -> Path:
    """The folder holding initdb, pg_ctl and postgres: PATH first, else the newest Debian version.

    PATH wins so that a developer can point the tests at any build. Symlinks are resolved:
    pg_ctl looks for `postgres` beside its own real location, so all three must come from one
    installation folder. Debian installs the binaries off PATH, in /usr/lib/postgresql/<v>/bin.
    """
    found = [shutil.which(name) for name in BINARIES]
    if all(found):
        folders = {Path(path).resolve().parent for path in found if path}
        if len(folders) == 1:
            return folders.pop()
    versions: list[tuple[tuple[int, ...], Path]] = []
    if DEBIAN_ROOT.is_dir():
        for bindir in DEBIAN_ROOT.glob("*/bin"):
            version = tuple(int(part) for part in re.findall(r"\d+", bindir.parent.name))
            if version and all(os.access(bindir / name, os.X_OK) for name in BINARIES):
                versions.append((version, bindir))
    if versions:
        return max(versions)[1]
    raise PostgresMissing(
        f"no PostgreSQL server binaries ({', '.join(BINARIES)}) on PATH or under {DEBIAN_ROOT}/*/bin:"
        " install Debian's postgresql package (make postgres)")


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on right now (the OS picks it)."""
    with socket.socket() as probe:
        probe.bind((HOST, 0))
        return int(probe.getsockname()[1])


def database_name(label: str) -> str:
    """A new, unique database name that still says what it is for: `t_<label>_<12 hex digits>`.

    Only lower-case ASCII letters, digits and _ (no quoting needed in psql), and short of
    PostgreSQL's 63-byte limit on identifiers, past which it silently truncates.
    """
    stem = re.sub(r"[^a-z0-9]+", "_", label.lower()).strip("_")[:40].strip("_")
    return f"t_{stem}_{uuid.uuid4().hex[:12]}"


def conf_string(value: str) -> str:
    """A postgresql.conf string literal: single-quoted, embedded quotes doubled."""
    return "'" + value.replace("'", "''") + "'"


def process_alive(pid: int) -> bool:
    """Whether `pid` is a running process; a zombie counts as gone.

    A killed postmaster is re-parented to PID 1, and an init that never reaps leaves it a zombie
    for good: kill(pid, 0) still succeeds on it, so /proc's state is read instead where there is one.
    """
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except FileNotFoundError:
        return False
    except OSError:
        pass  # no /proc (not Linux): fall back to the signal probe
    else:
        state = stat.rsplit(")", 1)[1].split()[0]  # the name in parentheses may hold spaces
        return state not in {"Z", "X"}
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def child_pids(parent: int) -> list[int]:
    """The processes whose parent is `parent` (a postmaster's backends and helpers); [] without /proc."""
    children = []
    for stat_path in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat_path.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue  # exited meanwhile
        if int(fields[1]) == parent:
            children.append(int(stat_path.parent.name))
    return children


def wait_gone(pids: Sequence[int], timeout: float) -> None:
    """Wait until none of `pids` runs any more; raise PostgresError after `timeout` seconds."""
    deadline = time.monotonic() + timeout
    while alive := [pid for pid in pids if process_alive(pid)]:
        if time.monotonic() > deadline:
            raise PostgresError(f"processes {alive} still run {timeout:.0f} s after SIGKILL")
        time.sleep(0.01)


class PostgresCluster:
    """One PostgreSQL server of the tests' own: its data directory, log and socket in one temp folder.

    Life cycle: `start()` (initdb, configure, start), then any of `stop()`, `restart()`, `kill()`,
    `start_again()`, and finally `cleanup()`, which stops the server and deletes the folder.
    It is also a context manager that starts and cleans up.
    """

    def __init__(self, bindir: Path | None = None, base_dir: Path | None = None, timeout: int = 60) -> None:
        """Find the binaries now, so that a missing server shows up before anything is created.

        `bindir` overrides the search (find_bindir); `base_dir` is where the temporary folder goes
        (the system's temp folder by default); `timeout` bounds each pg_ctl wait, in seconds.
        """
        self.bindir = bindir if bindir is not None else find_bindir()
        missing = [name for name in BINARIES if not os.access(self.bindir / name, os.X_OK)]
        if missing:
            raise PostgresMissing(f"{', '.join(missing)} not found in {self.bindir}")
        self.base_dir = base_dir
        self.timeout = timeout
        self.run_as = self._os_user()
        self.root: Path | None = None  # the temporary folder, made by start()
        self.port = 0

    @staticmethod
    def _os_user() -> str | None:
        """The OS user to run the server as: `postgres` when we are root (postgres refuses root), else us."""
        if os.geteuid() != 0:
            return None
        try:
            pwd.getpwnam(OS_USER)
        except KeyError:
            raise PostgresMissing(
                f"running as root and there is no {OS_USER!r} OS user to run the server as:"
                " install Debian's postgresql package (make postgres)") from None
        if not (shutil.which("runuser") or Path("/usr/sbin/runuser").exists()):
            raise PostgresMissing("running as root and runuser (util-linux) is missing")
        return OS_USER

    # -- paths ---------------------------------------------------------------------------------

    def _folder(self) -> Path:
        if self.root is None:
            raise PostgresError("the cluster has not been started (call start())")
        return self.root

    @property
    def data_dir(self) -> Path:
        """The data directory (PGDATA); the Unix socket lives in it too."""
        return self._folder() / "data"

    @property
    def log_path(self) -> Path:
        """The server log (pg_ctl -l): what a failing test should show."""
        return self._folder() / "server.log"

    def log_tail(self, lines: int = 40) -> str:
        """The last `lines` lines of the server log, or '' when there is none yet."""
        try:
            text = self.log_path.read_text(errors="replace")
        except (OSError, PostgresError):
            return ""
        return "\n".join(text.splitlines()[-lines:])

    # -- commands ------------------------------------------------------------------------------

    def _run(self, program: str, *args: str) -> str:
        """Run one server binary (as the postgres OS user when root); its output, or PostgresError."""
        command = [str(self.bindir / program), *args]
        if self.run_as is not None:
            runuser = shutil.which("runuser") or "/usr/sbin/runuser"
            command = [runuser, "-u", self.run_as, "--", *command]
        # PG* variables of the caller (PGDATA, PGPORT, ...) must not steer the test server.
        env = {key: value for key, value in os.environ.items() if not key.startswith("PG")}
        try:
            done = subprocess.run(command, cwd=self._folder(), env=env, capture_output=True, text=True,
                                  timeout=self.timeout + 30, check=False)
        except subprocess.TimeoutExpired as expired:
            raise PostgresError(f"{program} {' '.join(args)} timed out\n{self.log_tail()}") from expired
        if done.returncode != 0:
            raise PostgresError(f"{program} {' '.join(args)} failed ({done.returncode}):\n"
                                f"{done.stdout}{done.stderr}\n--- server log ---\n{self.log_tail()}")
        return done.stdout

    def _pg_ctl(self, action: str, *options: str) -> None:
        self._run("pg_ctl", action, "-w", "-t", str(self.timeout), "-D", str(self.data_dir), *options)

    # -- life cycle ----------------------------------------------------------------------------

    def start(self) -> None:
        """Create a fresh cluster in a new temporary folder and start it on a free port.

        On a cluster that was started before and is now stopped or killed, start the same data
        again (start_again); on a running one, do nothing.
        """
        if self.root is not None:
            if not self.running:
                self.start_again()
            return
        self.root = Path(tempfile.mkdtemp(prefix="disinfodb-pg-", dir=self.base_dir))
        try:
            if self.run_as is not None:
                shutil.chown(self.root, user=self.run_as, group=pwd.getpwnam(self.run_as).pw_gid)
            self._initdb()
            self.port = free_port()
            self._configure()
            self._pg_ctl("start", "-l", str(self.log_path))
        except BaseException:
            self.cleanup()
            raise

    def _initdb(self) -> None:
        """initdb without fsync (-N: ~10x faster, and nothing here must survive a power cut).

        C.UTF-8 gives the right upper/lower for Cyrillic and other non-ASCII text; plain C is the
        fallback for a libc without it.
        """
        for locale in ("C.UTF-8", "C"):
            try:
                self._run("initdb", "-D", str(self.data_dir), "-U", SUPERUSER, "--auth=trust",
                          "--encoding=UTF8", f"--locale={locale}", "--no-sync", "--no-instructions")
                return
            except PostgresError:
                if locale == "C":
                    raise
                shutil.rmtree(self.data_dir, ignore_errors=True)  # initdb may leave a partial one

    def _configure(self) -> None:
        """Append the test settings to postgresql.conf (a later line wins over initdb's)."""
        settings = {
            "listen_addresses": conf_string(HOST),
            "port": str(self.port),
            "unix_socket_directories": conf_string(str(self.data_dir)),
            "fsync": "off",
            "max_connections": "200",
            "shared_buffers": "64MB",
        }
        with open(self.data_dir / "postgresql.conf", "a", encoding="utf-8") as conf:
            conf.write("\n# disinfodb tests (tests/pg_cluster.py)\n")
            conf.writelines(f"{name} = {value}\n" for name, value in settings.items())

    def start_again(self) -> None:
        """Start the existing data directory again (no initdb), e.g. after kill(): crash recovery runs.

        The port is the one picked at the first start, so URLs handed out before stay valid.
        """
        if self.running:
            raise PostgresError("the server is already running")
        self._clear_stale_pidfile()
        self._pg_ctl("start", "-l", str(self.log_path))

    def stop(self, mode: StopMode = "fast") -> None:
        """Stop the server: `fast` rolls back open transactions and checkpoints; `immediate` does
        neither, so the next start runs crash recovery. A stopped server is left alone."""
        if self.running:
            self._pg_ctl("stop", "-m", mode)

    def restart(self, mode: StopMode = "fast") -> None:
        """Stop (`fast` or `immediate`) and start again on the same port and data."""
        self._clear_stale_pidfile()
        self._pg_ctl("restart", "-m", mode, "-l", str(self.log_path))

    def kill(self) -> None:
        """SIGKILL the postmaster, the way an OOM killer would, and wait until it and its children are gone.

        The children (backends, checkpointer, ...) exit by themselves once the postmaster dies; the
        next start must wait for them, since they keep the old shared memory attached.
        postmaster.pid stays behind, as after a real crash; start_again() copes with it.
        """
        pid = self.pid
        if pid is None or not process_alive(pid):
            return
        children = child_pids(pid)
        os.kill(pid, signal.SIGKILL)
        wait_gone([pid, *children], timeout=self.timeout)

    @property
    def pid(self) -> int | None:
        """The postmaster's pid from postmaster.pid, or None when there is no such file."""
        if self.root is None:
            return None
        try:
            first = (self.data_dir / "postmaster.pid").read_text().split("\n", 1)[0]
        except FileNotFoundError:
            return None
        return int(first) if first.strip().isdigit() else None

    @property
    def running(self) -> bool:
        """Whether the postmaster named in postmaster.pid is alive."""
        pid = self.pid
        return pid is not None and process_alive(pid)

    def _clear_stale_pidfile(self) -> None:
        """Remove postmaster.pid and the socket lock file when the postmaster that wrote them is dead.

        PostgreSQL cleans up after a dead postmaster itself, except when that one lingers as an
        unreaped zombie (PID 1 of a container often reaps nothing): its pid still answers
        kill(pid, 0), and postgres refuses to start over either lock file.
        """
        pid = self.pid
        if pid is None or process_alive(pid):
            return
        for lock in self.data_dir.glob(".s.PGSQL.*.lock"):  # unix_socket_directories is the data dir
            lock.unlink(missing_ok=True)
        (self.data_dir / "postmaster.pid").unlink(missing_ok=True)

    def cleanup(self) -> None:
        """Stop the server (killing it if a fast stop fails) and delete the temporary folder."""
        if self.root is None:
            return
        try:
            if self.running:
                try:
                    self.stop("fast")
                except PostgresError:
                    self.kill()
        finally:
            shutil.rmtree(self.root, ignore_errors=True)
            self.root = None

    def __enter__(self) -> PostgresCluster:
        self.start()
        return self

    def __exit__(self, kind: type[BaseException] | None, error: BaseException | None,
                 traceback: TracebackType | None) -> None:
        self.cleanup()

    # -- databases -----------------------------------------------------------------------------

    def url(self, dbname: str = "postgres") -> str:
        """A libpq URL for `dbname` as the superuser, over TCP (trust auth: no password)."""
        if not self.port:
            raise PostgresError("the cluster has not been started (call start())")
        return f"postgresql://{SUPERUSER}@{HOST}:{self.port}/{quote(dbname, safe='')}"

    def connect(self, dbname: str = "postgres", autocommit: bool = True) -> psycopg.Connection[TupleRow]:
        """A new psycopg connection to `dbname` (autocommit by default); the caller closes it."""
        return psycopg.connect(self.url(dbname), autocommit=autocommit, connect_timeout=10)

    def create_database(self, name: str, template: str | None = None) -> str:
        """CREATE DATABASE `name` (from `template`, template1 by default); its URL."""
        query = sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name))
        if template is not None:
            query = sql.SQL("{} TEMPLATE {}").format(query, sql.Identifier(template))
        with self.connect() as conn:
            conn.execute(query)
        return self.url(name)

    def drop_database(self, name: str, missing_ok: bool = False) -> None:
        """DROP DATABASE `name` WITH (FORCE): sessions still connected to it are terminated first,
        so a test that leaked a connection cannot block the teardown (PostgreSQL 13+)."""
        query = sql.SQL("DROP DATABASE {}{} WITH (FORCE)").format(
            sql.SQL("IF EXISTS ") if missing_ok else sql.SQL(""), sql.Identifier(name))
        with self.connect() as conn:
            conn.execute(query)

    @contextmanager
    def temporary_database(self, label: str = "db", template: str | None = None) -> Iterator[str]:
        """A new uniquely named database (database_name) for the `with` block; its URL.

        Dropped afterwards even when the block failed with connections still open. A block that
        left the server stopped or killed gets it started again first, so that the next user of a
        shared cluster finds it up.
        """
        name = database_name(label)
        url = self.create_database(name, template)
        try:
            yield url
        finally:
            if not self.running:
                self.start()
            self.drop_database(name, missing_ok=True)
