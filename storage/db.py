"""Engines and transactions for SQLite (the embedded default) and PostgreSQL."""

from __future__ import annotations

import fcntl
import logging
import os
import threading
from collections.abc import Iterator
from contextlib import contextmanager, nullcontext
from pathlib import Path
from typing import Any

from sqlalchemy import event
from sqlalchemy.engine import Connection, Engine, make_url
from sqlalchemy.exc import OperationalError
from sqlmodel import Session, create_engine

from storage.errors import DatabaseUnavailable, StorageConfigError

log = logging.getLogger(__name__)


def normalize_url(url: str) -> str:
    """Accept the URLs people paste (`postgres://`, `postgresql://`) and pick our drivers."""
    if url.startswith("postgres://"):
        url = "postgresql://" + url[len("postgres://") :]
    if url.startswith("postgresql://"):
        url = "postgresql+psycopg://" + url[len("postgresql://") :]
    return url


class Database:
    """One engine and the rules for opening write transactions on it.

    SQLite allows one writer at a time: write transactions start with BEGIN IMMEDIATE (so two
    writers queue on busy_timeout instead of failing when upgrading a read lock), and writers
    inside this process take a lock first so they never spin on each other; writers in other
    processes on the same file queue on the file's writer lock (`WriterLock`).
    """

    def __init__(self, url: str, *, echo: bool = False, checkpoints: bool = True) -> None:
        self.url = normalize_url(url)
        try:
            parsed = make_url(self.url)
        except Exception as exc:
            raise StorageConfigError(
                f"SIGNOFF_DATABASE_URL is not a database URL ({exc}); "
                "use sqlite:///path/to/signoff.db or postgresql://user@host/db"
            ) from exc
        self.dialect = parsed.get_backend_name()
        if self.dialect not in ("sqlite", "postgresql"):
            raise StorageConfigError(
                f"SIGNOFF_DATABASE_URL uses {self.dialect!r}; Signoff supports sqlite and postgresql"
            )
        self.is_sqlite = self.dialect == "sqlite"
        self._write_lock = threading.Lock() if self.is_sqlite else None
        database = parsed.database if self.is_sqlite else None
        on_disk = bool(database) and database != ":memory:" and not str(database).startswith("file:")
        self._file = Path(str(database)).expanduser().absolute() if on_disk else None
        self._writers = WriterLock(self._file) if self._file is not None else None
        self.engine = self._make_engine(echo, checkpoints)
        self._beside: dict[str, Database] = {}

    @property
    def safe_url(self) -> str:
        """The URL without its password, for messages and logs."""
        return make_url(self.url).render_as_string(hide_password=True)

    @property
    def sqlite_file_missing(self) -> bool:
        """True for a SQLite file that does not exist yet (connecting would create it)."""
        if not self.is_sqlite:
            return False
        database = make_url(self.url).database
        if not database or database == ":memory:":
            return False
        return not Path(database).expanduser().exists()

    def _make_engine(self, echo: bool, checkpoints: bool) -> Engine:
        if self.is_sqlite:
            database = make_url(self.url).database
            if database and database != ":memory:":
                Path(database).expanduser().parent.mkdir(parents=True, exist_ok=True)
            engine = create_engine(
                self.url,
                echo=echo,
                connect_args={"check_same_thread": False, "timeout": 30, "isolation_level": None},
            )
            event.listen(engine, "connect", _sqlite_on_connect)
            if not checkpoints:
                event.listen(engine, "connect", _no_autocheckpoint)
            event.listen(engine, "begin", _sqlite_on_begin)
            return engine
        return create_engine(
            self.url, echo=echo, pool_pre_ping=True, pool_size=10, max_overflow=10, connect_args={"connect_timeout": 5}
        )

    @contextmanager
    def session(self) -> Iterator[Session]:
        """A read (or write) transaction; commits on success, rolls back on error."""
        try:
            with Session(self.engine, expire_on_commit=False) as session:
                with session.begin():
                    yield session
        except OperationalError as exc:
            raise DatabaseUnavailable(str(exc).splitlines()[0]) from exc

    @contextmanager
    def write(self) -> Iterator[Session]:
        if self._write_lock is None:
            with self.session() as session:
                yield session
            return
        with self._write_lock, self._writers or nullcontext(), self.session() as session:
            session.connection(execution_options={"sqlite_begin": "IMMEDIATE"})
            yield session

    @contextmanager
    def write_connection(self) -> Iterator[Connection]:
        """A write transaction on a plain connection, no ORM session: for a hot statement or two
        (a Slack ack's one INSERT), where a session's own bookkeeping would cost more than the write."""
        try:
            with (
                self._write_lock or nullcontext(),
                self._writers or nullcontext(),
                self.engine.connect() as connection,
            ):
                if self.is_sqlite:
                    connection = connection.execution_options(sqlite_begin="IMMEDIATE")
                with connection.begin():
                    yield connection
        except OperationalError as exc:
            raise DatabaseUnavailable(str(exc).splitlines()[0]) from exc

    def beside(self, suffix: str) -> Database | None:
        """A SQLite file of its own next to this one (`signoff.db-<suffix>`), with its own writer
        lock, so its writes never wait on this file's; None where there is no such file to put it
        beside (PostgreSQL, an in-memory database). Opened once, disposed with this one.

        Its commits never checkpoint the WAL into the file (a checkpoint writes and fsyncs in the
        committing connection: on a busy disk, a stall of the write that happened to cross the
        threshold); whoever owns it calls `checkpoint()` off the hot path."""
        if self._file is None:
            return None
        if suffix not in self._beside:
            path = self._file.with_name(f"{self._file.name}-{suffix}")
            self._beside[suffix] = Database(f"sqlite:///{path}", checkpoints=False)
        return self._beside[suffix]

    def checkpoint(self) -> None:
        """Copy the WAL into the file where no reader needs it (PASSIVE: waits on nobody)."""
        if self.is_sqlite:
            with self.engine.connect() as connection:
                connection.exec_driver_sql("PRAGMA wal_checkpoint(PASSIVE)")

    def dispose(self) -> None:
        for companion in self._beside.values():
            companion.dispose()
        self.engine.dispose()
        if self._writers is not None:
            self._writers.close()


class WriterLock:
    """The writers of one SQLite file, across processes: an exclusive `flock` on `<file>-writer`,
    held from before BEGIN IMMEDIATE to after COMMIT.

    A writer that finds the file locked by another process's write sleeps and tries again
    (busy_timeout: 1, 2, 5, 10, 15 ms ...), so waiting on a write of 3 ms costs 8. The ingress and
    the workers of one `serve` write to the same file all the time; on this lock the kernel hands
    the file to the next writer as soon as the last one commits. A program that does not take it
    (the sqlite3 shell, an older release) is still waited for by busy_timeout. The lock goes with
    the process, however it ends (the descriptor is close-on-exec: a program a tool runs does not
    keep it; a child forked without exec, which Signoff never makes, would hold it until it ends).
    Taken after the process's own writer lock, so one thread of a process at a time uses the
    descriptor.
    """

    def __init__(self, database: Path) -> None:
        self.path = database.with_name(database.name + "-writer")
        self._fd: int | None = None
        self._unusable = False

    def __enter__(self) -> None:
        if self._fd is None and not self._unusable:
            try:
                self._fd = os.open(self.path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600)
            except OSError as exc:  # a directory we cannot write to: SQLite's busy_timeout alone
                self._unusable = True
                log.warning("cannot open %s (%s): writers from other processes wait by polling", self.path, exc)
        if self._fd is not None:
            fcntl.flock(self._fd, fcntl.LOCK_EX)

    def __exit__(self, *_exc: object) -> None:
        if self._fd is not None:
            fcntl.flock(self._fd, fcntl.LOCK_UN)

    def close(self) -> None:
        if self._fd is not None:
            os.close(self._fd)
            self._fd = None


def _sqlite_on_connect(dbapi_connection: Any, _record: Any) -> None:
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.execute("PRAGMA busy_timeout=30000")
    cursor.close()


def _no_autocheckpoint(dbapi_connection: Any, _record: Any) -> None:
    dbapi_connection.execute("PRAGMA wal_autocheckpoint=0")


def _sqlite_on_begin(connection: Any) -> None:
    mode = connection.get_execution_options().get("sqlite_begin", "")
    connection.exec_driver_sql(f"BEGIN {mode}".strip())
