"""`signoff serve` either starts on a database it may serve on, or exits non-zero at once with one line
naming the fix: a required setting missing, the database unreachable, its schema older (on
PostgreSQL: `signoff db upgrade` is the operator's step) or newer than this code may run on.
`/readyz` says the same to an orchestrator while the server runs. On SQLite (the embedded
quickstart) `serve` still creates and upgrades the file itself.
"""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from sqlalchemy import text

from storage import migrate
from storage.db import Database
from tests.scenario.test_one_request_in_several_places_is_decided_once import PLACES_AGENT
from tests.support.databases import postgres_database, set_reachable
from tests.support.people import directory
from tests.support.signoff_process import SignoffProcess, free_port

APPROVER = "alice@example.com"


@pytest.fixture(params=["sqlite", "postgres"])
def fresh_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """An empty database of this test's own, on each backend."""
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'signoff.db'}"
        return
    request.getfixturevalue("postgres_url")  # skips (or fails in CI) without PostgreSQL
    with postgres_database() as url:
        yield url


def signoff(workdir: Path, *args: str, **env: str) -> subprocess.CompletedProcess[str]:
    """Run a `signoff` command as an operator would; `serve` is expected to exit by itself here (a
    server that starts instead fails the test at the timeout)."""
    return subprocess.run(
        [sys.executable, "-m", "bot", *args],
        env={
            **os.environ,
            "SIGNOFF_ENV_FILE": str(workdir / "none.env"),
            "SIGNOFF_HOST": "127.0.0.1",
            "SIGNOFF_PORT": str(free_port()),
            "SIGNOFF_APPROVERS": APPROVER,
            **env,
        },
        cwd=workdir,
        capture_output=True,
        text=True,
        timeout=60,
    )


def one_line(run: subprocess.CompletedProcess[str]) -> str:
    """The whole of what a refused command printed: exactly one line, and a non-zero exit."""
    assert run.returncode != 0, run.stdout + run.stderr
    lines = (run.stdout + run.stderr).strip().splitlines()
    assert len(lines) == 1, lines
    return lines[0]


def at_revision(url: str, revision: str) -> None:
    db = Database(url)
    try:
        migrate.upgrade(db, revision)
    finally:
        db.dispose()


def stamp_newer(url: str, *, oldest_compatible: str) -> None:
    """Make the database look migrated by a later release: a revision unknown here, and the oldest
    revision that release says may still run on it."""
    db = Database(url)
    try:
        migrate.upgrade(db)
        with db.engine.begin() as connection:
            connection.execute(text("UPDATE alembic_version SET version_num = '0999'"))
            connection.execute(text("UPDATE schema_compat SET oldest_compatible = :o"), {"o": oldest_compatible})
    finally:
        db.dispose()


def revision_of(url: str) -> str | None:
    db = Database(url)
    try:
        return migrate.current_revision(db)
    finally:
        db.dispose()


def test_a_missing_or_wrong_setting_stops_the_start_with_one_line(tmp_path: Path) -> None:
    line = one_line(signoff(tmp_path, "serve", SIGNOFF_APPROVERS=""))
    assert "SIGNOFF_APPROVERS" in line

    line = one_line(signoff(tmp_path, "serve", SIGNOFF_PORT="eighty", SIGNOFF_WORKERS="0"))
    assert "SIGNOFF_PORT" in line and "SIGNOFF_WORKERS" in line


def test_an_unreachable_database_stops_the_start_with_one_line(tmp_path: Path) -> None:
    closed = free_port()  # nothing listens there
    url = f"postgresql://signoff:s3cret@127.0.0.1:{closed}/signoff"
    for command in (["serve"], ["db", "upgrade"]):
        line = one_line(signoff(tmp_path, *command, SIGNOFF_DATABASE_URL=url))
        assert "cannot reach the database" in line and "SIGNOFF_DATABASE_URL" in line, line
        assert "s3cret" not in line  # the password never reaches a log


def test_an_older_postgresql_schema_waits_for_the_operators_upgrade(tmp_path: Path, postgres_url: str) -> None:
    with postgres_database() as url:
        at_revision(url, "0003")
        line = one_line(signoff(tmp_path, "serve", SIGNOFF_DATABASE_URL=url))
        assert "revision 0003" in line and "older" in line and "run `signoff db upgrade`" in line
        assert revision_of(url) == "0003"  # serve never upgrades a shared database behind the operator

        upgraded = signoff(tmp_path, "db", "upgrade", SIGNOFF_DATABASE_URL=url)
        assert upgraded.returncode == 0, upgraded.stderr
        assert revision_of(url) == migrate.head_revision()


def test_an_older_sqlite_file_is_upgraded_by_serve_itself(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'signoff.db'}"
    at_revision(url, "0003")
    server = SignoffProcess({"SIGNOFF_DATABASE_URL": url, "SIGNOFF_APPROVERS": APPROVER}, tmp_path).start()
    try:
        ready = httpx.get(f"{server.url}/readyz", timeout=10)
        assert ready.status_code == 200 and ready.json()["schema"] == "current", ready.text
    finally:
        server.stop()
    assert revision_of(url) == migrate.head_revision()


def test_a_contracted_newer_schema_stops_the_start_and_the_upgrade(tmp_path: Path, fresh_url: str) -> None:
    stamp_newer(fresh_url, oldest_compatible="0999")
    for command in (["serve"], ["db", "upgrade"]):
        line = one_line(signoff(tmp_path, *command, SIGNOFF_DATABASE_URL=fresh_url))
        assert "revision 0999" in line and "newer than this Signoff knows" in line, line
        assert "needs at least 0999" in line
    assert revision_of(fresh_url) == "0999"


def test_an_expanded_newer_schema_is_served_and_ready(tmp_path: Path, fresh_url: str) -> None:
    stamp_newer(fresh_url, oldest_compatible=str(migrate.head_revision()))
    server = SignoffProcess({"SIGNOFF_DATABASE_URL": fresh_url, "SIGNOFF_APPROVERS": APPROVER}, tmp_path).start()
    try:
        ready = httpx.get(f"{server.url}/readyz", timeout=10)
        assert ready.status_code == 200, ready.text
        head = migrate.head_revision()
        assert ready.json() == {"status": "ready", "schema": "ahead", "revision": "0999", "head": head}
    finally:
        server.stop()
    assert "newer than this release's" in server.logs()
    upgrade = signoff(tmp_path, "db", "upgrade", SIGNOFF_DATABASE_URL=fresh_url)
    assert upgrade.returncode == 0 and "nothing to do" in upgrade.stdout, upgrade.stdout + upgrade.stderr


def test_readyz_reports_a_schema_changed_under_a_running_server(tmp_path: Path, fresh_url: str) -> None:
    """The first `serve` creates the schema in an empty database (both backends); then the schema is
    moved under it: /readyz turns 503 with the reason and no URL, /healthz stays 200 (alive)."""
    server = SignoffProcess({"SIGNOFF_DATABASE_URL": fresh_url, "SIGNOFF_APPROVERS": APPROVER}, tmp_path).start()
    try:
        ready = httpx.get(f"{server.url}/readyz", timeout=10)
        assert ready.status_code == 200 and ready.json()["schema"] == "current", ready.text

        stamp_newer(fresh_url, oldest_compatible="0999")
        ready = httpx.get(f"{server.url}/readyz", timeout=10)
        assert ready.status_code == 503, ready.text
        assert ready.json()["status"] == "unready" and "newer than this Signoff knows" in ready.json()["reason"]
        assert "postgresql" not in ready.text and "sqlite" not in ready.text  # no URL for an anonymous caller

        db = Database(fresh_url)
        try:
            with db.engine.begin() as connection:
                connection.execute(text("UPDATE alembic_version SET version_num = '0003'"))
        finally:
            db.dispose()
        ready = httpx.get(f"{server.url}/readyz", timeout=10)
        assert ready.status_code == 503 and "run `signoff db upgrade`" in ready.json()["reason"], ready.text
        assert httpx.get(f"{server.url}/healthz", timeout=10).status_code == 200
    finally:
        server.stop()


def test_readyz_reports_an_unreachable_database(tmp_path: Path, postgres_url: str) -> None:
    with postgres_database() as url:
        server = SignoffProcess({"SIGNOFF_DATABASE_URL": url, "SIGNOFF_APPROVERS": APPROVER}, tmp_path).start()
        try:
            assert httpx.get(f"{server.url}/readyz", timeout=10).status_code == 200
            set_reachable(url, False)
            try:
                ready = httpx.get(f"{server.url}/readyz", timeout=30)
                assert ready.status_code == 503, ready.text
                assert ready.json() == {"status": "unready", "reason": "database unavailable"}
            finally:
                set_reachable(url, True)
            ready = httpx.get(f"{server.url}/readyz", timeout=30)
            assert ready.status_code == 200, ready.text
        finally:
            server.stop()


def test_an_agent_whose_requests_go_to_a_channel_not_configured_is_refused(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'signoff.db'}"
    directory(url)  # its approvers are the directory's alice and bob
    line = one_line(signoff(tmp_path, "serve", SIGNOFF_DATABASE_URL=url, **PLACES_AGENT))
    assert "no channel is configured" in line
    assert "agent ops: slack:C0APPROVERS (set SLACK_BOT_TOKEN" in line and "slack:dm" in line
    assert "tool deploy_prod: email (set SIGNOFF_EMAIL_ADDRESS" in line
