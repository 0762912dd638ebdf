"""Shared fixtures: databases (SQLite and PostgreSQL), the scripted model, a real `signoff serve`."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest

os.environ.setdefault("LITELLM_LOCAL_MODEL_COST_MAP", "True")

from storage.db import Database  # noqa: E402
from storage.store import Store  # noqa: E402
from tests.support.databases import (  # noqa: E402
    empty_tables,
    migrated,
    postgres_available,
    postgres_database,
)
from tests.support.fake_model import FakeModelServer  # noqa: E402
from tests.support.signoff_process import SignoffProcess  # noqa: E402

IN_CI = bool(os.environ.get("CI"))


def skip_or_fail(reason: str) -> None:
    """Skip on a developer's machine; in CI nothing may skip."""
    if IN_CI:
        pytest.fail(f"required in CI: {reason}")
    pytest.skip(reason)


@pytest.fixture(scope="session")
def postgres_url() -> Iterator[str]:
    ok, reason = postgres_available()
    if not ok:
        skip_or_fail(reason)
    with postgres_database() as url:
        migrated(url).dispose()
        yield url


@pytest.fixture(params=["sqlite", "postgres"])
def database(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Database]:
    """A migrated, empty database: each test using it runs on SQLite and on PostgreSQL."""
    if request.param == "sqlite":
        db = migrated(f"sqlite:///{tmp_path / 'signoff.db'}")
    else:
        db = Database(request.getfixturevalue("postgres_url"))
        empty_tables(db)
    yield db
    db.dispose()


@pytest.fixture
def store(database: Database) -> Store:
    return Store(database)


@pytest.fixture
def model() -> Iterator[FakeModelServer]:
    with FakeModelServer() as server:
        yield server


@pytest.fixture
def sqlite_url(tmp_path: Path) -> str:
    return f"sqlite:///{tmp_path / 'signoff.db'}"


@pytest.fixture
def signoff(model: FakeModelServer, sqlite_url: str, tmp_path: Path) -> Iterator[SignoffProcess]:
    """A real `signoff serve` on loopback, SQLite, talking to the scripted model."""
    process = SignoffProcess(
        {
            "SIGNOFF_DATABASE_URL": sqlite_url,
            "SIGNOFF_MODEL": "openai/fake",
            "SIGNOFF_MODEL_API_BASE": model.url,
            "SIGNOFF_MODEL_API_KEY": "x",
            "SIGNOFF_APPROVERS": "alice@example.com,U0ALICE",
        },
        tmp_path,
    )
    process.start()
    yield process
    process.stop()
