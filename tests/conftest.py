"""Shared fixtures: databases (SQLite and PostgreSQL), the scripted model, a real `signoff serve`;
the boundaries a channel talks to (a fake Slack Web API, Dovecot, an SMTP server) and factories that
start `signoff serve` in Slack or email mode against them.

A test file keeps only what is special to it, given to the factory:

    @pytest.fixture
    def bot(make_email_bot: MakeEmailBot) -> EmailSignoff:
        return make_email_bot(SIGNOFF_EMAIL_CC_JOINS="true")

The Slack-mode factory, `make_slack_bot`, is in tests/scenario/conftest.py (only scenarios use it).
"""

from __future__ import annotations

import contextlib
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
from tests.support.dovecot import DovecotServer, dovecot_available  # noqa: E402
from tests.support.email_signoff import AGENT, AGENT_PASSWORD, EmailSignoff, MakeEmailBot, email_signoff  # noqa: E402
from tests.support.fake_model import FakeModelServer, Responder, text  # noqa: E402
from tests.support.fake_slack import FakeSlack  # noqa: E402
from tests.support.signoff_process import SignoffProcess  # noqa: E402
from tests.support.skips import skip_or_fail  # noqa: E402
from tests.support.smtp_server import SmtpServer  # noqa: E402


@pytest.fixture(scope="session")
def postgres_url() -> Iterator[str]:
    ok, reason = postgres_available()
    if not ok:
        skip_or_fail(reason)
    with postgres_database() as url:
        migrated(url).dispose()
        yield url


@pytest.fixture
def database_url(postgres_url: str) -> Iterator[str]:  # postgres_url: skips (or fails in CI) without PostgreSQL
    """An empty PostgreSQL database of its own, for a `signoff serve` that migrates it; dropped after the test."""
    with postgres_database() as url:
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
def noted(model: FakeModelServer) -> FakeModelServer:
    """The scripted model, answering "Noted." to whatever is not scripted."""
    model.default = lambda body: text("Noted.")
    return model


@pytest.fixture
def sqlite_url(tmp_path: Path) -> str:
    return f"sqlite:///{tmp_path / 'signoff.db'}"


@pytest.fixture
def signoff(model: FakeModelServer, sqlite_url: str, tmp_path: Path) -> Iterator[SignoffProcess]:
    """A real `signoff serve` on loopback, SQLite, talking to the scripted model."""
    process = SignoffProcess(
        {
            "SIGNOFF_DATABASE_URL": sqlite_url,
            **model.settings(),
            "SIGNOFF_APPROVERS": "alice@example.com,U0ALICE",
        },
        tmp_path,
    )
    process.start()
    yield process
    process.stop()


# --- Slack ----------------------------------------------------------------------------------------


@pytest.fixture
def fake() -> Iterator[FakeSlack]:
    """Slack's Web API, played by a server on loopback that records and validates every call."""
    with FakeSlack() as server:
        yield server


# --- email ----------------------------------------------------------------------------------------


@pytest.fixture
def dovecot() -> Iterator[DovecotServer]:
    """The agent's mailbox on a real Dovecot (skips, or fails in CI, where Dovecot cannot run)."""
    ok, reason = dovecot_available()
    if not ok:
        skip_or_fail(reason)
    server = DovecotServer.start({AGENT: AGENT_PASSWORD})
    yield server
    server.stop()


@pytest.fixture
def smtp() -> Iterator[SmtpServer]:
    """A recording SMTP server: what the bot sends."""
    server = SmtpServer.start()
    yield server
    server.stop()


@pytest.fixture
def make_email_bot(
    dovecot: DovecotServer, smtp: SmtpServer, model: FakeModelServer, tmp_path: Path
) -> Iterator[MakeEmailBot]:
    """Starts `signoff serve` in email mode (on SQLite, its mailbox in `dovecot`, sending to `smtp`),
    once per test: `make_email_bot(responder=None, **env)`; `responder` becomes the model's default
    answer, a setting given as None is left unset. The server stops at teardown."""
    with contextlib.ExitStack() as running:

        def start(responder: Responder | None = None, **env: str | None) -> EmailSignoff:
            if responder is not None:
                model.default = responder
            return running.enter_context(email_signoff(dovecot, smtp, model, tmp_path, **env))

        yield start
