"""An upgrade across a thread that waits on a human: the thread paused on an approval under the
previous release's schema (the head one revision down), the operator runs `signoff db upgrade`, and
the approval decided after the migration runs the tool once and the thread completes. On SQLite
and on PostgreSQL.

Also the rules every migration follows (expand-then-contract, storage/migrate.py): each declares
`oldest_compatible`, a revision at or before itself, so a replica of an older release can tell
whether it may keep serving on the schema it leaves.
"""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from alembic.script import ScriptDirectory
from sqlalchemy import text

from storage import migrate
from storage.db import Database
from tests.fault.test_sigterm_drains_in_flight_steps import APPROVER, slow_model, slow_signoff
from tests.support.databases import postgres_database
from tests.support.fake_model import FakeModelServer
from tests.support.signoff_process import SignoffProcess, wait_until
from tests.support.slow_agent import journal


@pytest.fixture(params=["sqlite", "postgres"])
def fresh_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'signoff.db'}"
        return
    request.getfixturevalue("postgres_url")  # skips (or fails in CI) without PostgreSQL
    with postgres_database() as url:
        yield url


@pytest.fixture
def model() -> Iterator[FakeModelServer]:
    with FakeModelServer(default=slow_model) as server:
        yield server


def pending(server: SignoffProcess) -> list[dict]:  # type: ignore[type-arg]
    with server.client() as api:
        return list(api.get("/api/requests", params={"status": "pending"}).json()["requests"])


def test_a_thread_waiting_on_a_human_resumes_after_the_upgrade(
    model: FakeModelServer, fresh_url: str, tmp_path: Path
) -> None:
    server = slow_signoff(model, tmp_path, SIGNOFF_DATABASE_URL=fresh_url).start()
    try:
        with server.client() as api:
            thread_id = api.post(
                "/api/threads", json={"message": "change payments with slow_change taking 0.2s", "by": "bob@x.test"}
            ).json()["id"]
        [request] = wait_until(lambda: pending(server), message="the approval request")
    finally:
        server.stop()

    # The previous release's schema: the head one revision down, the waiting thread in it.
    db = Database(fresh_url)
    try:
        migrate.downgrade(db, "-1")
        previous = migrate.current_revision(db)
        assert previous is not None and previous != migrate.head_revision()
        with db.engine.connect() as connection:
            status = connection.execute(text("SELECT status FROM threads WHERE id = :id"), {"id": thread_id}).scalar()
        assert status == "waiting"
    finally:
        db.dispose()

    upgraded = subprocess.run(
        [sys.executable, "-m", "bot", "db", "upgrade"],
        env={**os.environ, "SIGNOFF_DATABASE_URL": fresh_url, "SIGNOFF_ENV_FILE": str(tmp_path / "none.env")},
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert upgraded.returncode == 0, upgraded.stderr
    assert f"database at revision {migrate.head_revision()}" in upgraded.stdout
    db = Database(fresh_url)
    try:
        with db.engine.connect() as connection:
            assert connection.execute(text("SELECT oldest_compatible FROM schema_compat")).scalars().all() == [previous]
    finally:
        db.dispose()

    server.start()
    try:
        assert [r["id"] for r in pending(server)] == [request["id"]]  # still waiting, on the same request
        assert journal(tmp_path / "journal") == []  # nothing ran before the decision
        with server.client() as api:
            decided = api.post(f"/api/requests/{request['id']}/decision", json={"decision": "approve", "by": APPROVER})
            assert decided.status_code == 200, decided.text
            done = wait_until(
                lambda: (t := api.get(f"/api/threads/{thread_id}").json())["status"] == "done" and t,
                message="the thread done",
            )
    finally:
        server.stop()
    [call_id] = {c for _, _, c in journal(tmp_path / "journal")}
    assert journal(tmp_path / "journal") == [("start", "slow_change", call_id), ("finish", "slow_change", call_id)]
    assert [e["call_id"] for e in done["events"] if e["type"] == "tool_result"] == [call_id]
    assert done["events"][-1]["text"] == "Changed payments."


def test_every_migration_says_which_releases_may_still_run_on_it() -> None:
    scripts = ScriptDirectory(str(migrate.MIGRATIONS))
    history = [s.revision for s in reversed(list(scripts.walk_revisions()))]
    assert history[0] == "0001" and history[-1] == migrate.head_revision()
    for script in scripts.walk_revisions():
        if history.index(script.revision) < history.index("0006"):
            continue  # before schema_compat existed
        oldest = getattr(script.module, "oldest_compatible", None)
        assert oldest in history[: history.index(script.revision) + 1], (
            f"migration {script.revision} must declare oldest_compatible: the oldest revision whose code still "
            "runs on the schema it leaves (the one before it, for an expand; itself, for a contract)"
        )
