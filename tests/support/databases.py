"""Databases for tests: a SQLite file per test, and one PostgreSQL database per test run.

PostgreSQL is the local server (127.0.0.1:5432, trust auth). Each run creates its own database
(`signoff_test_<random>`) so runs never see each other's rows, and drops it at the end.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from contextlib import contextmanager

import psycopg
from sqlmodel import SQLModel

import storage.models  # noqa: F401
from storage import migrate
from storage.db import Database

PG_ADMIN_URL = os.environ.get("SIGNOFF_TEST_PG_URL", "postgresql://postgres@127.0.0.1:5432/test")
PG_HOW_TO = (
    "PostgreSQL is not reachable at 127.0.0.1:5432; start it with "
    "`pg_ctlcluster --skip-systemctl-redirect $(ls /etc/postgresql) main start` "
    "or set SIGNOFF_TEST_PG_URL to an admin connection URL"
)


def postgres_available() -> tuple[bool, str]:
    try:
        with psycopg.connect(PG_ADMIN_URL, connect_timeout=3):
            return True, ""
    except Exception as exc:
        return False, f"{PG_HOW_TO} ({str(exc).splitlines()[0] if str(exc) else type(exc).__name__})"


@contextmanager
def postgres_database() -> Iterator[str]:
    """A fresh database for this run; yields its SQLAlchemy URL."""
    name = f"signoff_test_{uuid.uuid4().hex[:10]}"
    with psycopg.connect(PG_ADMIN_URL, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    base = PG_ADMIN_URL.rsplit("/", 1)[0]
    try:
        yield f"{base}/{name}"
    finally:
        with psycopg.connect(PG_ADMIN_URL, autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def set_reachable(database_url: str, reachable: bool, *, spare_pid: int | None = None) -> None:
    """A real outage of one PostgreSQL database: new connections are refused and open ones are
    dropped (all but `spare_pid`'s, a test's observer); `reachable=True` ends it."""
    name = database_url.rsplit("/", 1)[1]
    with psycopg.connect(PG_ADMIN_URL, autocommit=True) as admin:
        admin.execute(f'ALTER DATABASE "{name}" ALLOW_CONNECTIONS {"true" if reachable else "false"}')
        if not reachable:
            admin.execute(
                "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = %s AND pid <> %s",
                (name, spare_pid or 0),
            )


def empty_tables(db: Database) -> None:
    """Delete every row, children first, keeping the migrated schema."""
    with db.engine.begin() as connection:
        for table in reversed(SQLModel.metadata.sorted_tables):
            connection.execute(table.delete())


def migrated(url: str) -> Database:
    db = Database(url)
    migrate.upgrade(db)
    return db
