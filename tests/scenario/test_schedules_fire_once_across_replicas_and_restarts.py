"""A schedule fires each due time once: with two replicas on one PostgreSQL database each time makes
one thread; after a restart that spanned its time, `catch_up = "once"` fires the latest missed time
once and `catch_up = "skip"` records it skipped; `signoff schedules list` shows both. Real `signoff
serve` processes; schedules to the second (croniter's sixth field), checked every 0.5 s."""

from __future__ import annotations

import re
import time
from datetime import UTC, datetime
from pathlib import Path

from storage.db import Database
from storage.models import ThreadRow
from storage.schedules import Schedules
from storage.store import Store
from tests.scenario.test_cli_as_an_operator_uses_it import signoff_cli
from tests.support.deployments import deployment_env
from tests.support.fake_model import FakeModelServer, text
from tests.support.signoff_process import SignoffProcess, wait_until


def schedule(name: str, seconds: int, catch_up: str) -> str:
    return f"""
[schedules.{name}]
agent = "ops"
cron = "* * * * * */{seconds}"
message = "Check on the services ({name})."
catch_up = "{catch_up}"
"""


def fired(url: str, name: str) -> list[ThreadRow]:
    database = Database(url)
    try:
        rows = Store(database).list_threads(limit=1000)
    finally:
        database.dispose()
    return [r for r in rows if r.origin_channel == "schedule" and (r.origin_key or "").startswith(f"schedule:{name}:")]


def due_of(row: ThreadRow) -> datetime:
    stamp = (row.origin_key or "").split(":", 2)[2]  # schedule:<name>:<due time>
    return datetime.strptime(stamp, "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=UTC)


def counts(line: str) -> tuple[int, int]:
    found = re.search(r"\((\d+) fired, (\d+) skipped\)", line)
    assert found, line
    return int(found.group(1)), int(found.group(2))


def test_two_replicas_on_postgresql_fire_each_time_once(
    database_url: str, model: FakeModelServer, tmp_path: Path
) -> None:
    model.default = lambda _body: text("All services are up.")
    env = {
        "SIGNOFF_DATABASE_URL": database_url,
        "SIGNOFF_APPROVERS": "alice@example.com",
        "SIGNOFF_SCHEDULE_INTERVAL": "0.5",
        **model.settings(),
        **deployment_env(tmp_path, schedule("tick", 3, "skip")),
    }
    replicas = [SignoffProcess(env, tmp_path / name) for name in ("a", "b")]
    for replica in replicas:
        replica.workdir.mkdir()
    try:
        for replica in replicas:
            replica.start()
        wait_until(lambda: len(fired(database_url, "tick")) >= 4, timeout=60, message="four firings")
    finally:
        for replica in replicas:
            replica.stop()
    rows = fired(database_url, "tick")
    dues = sorted(due_of(r) for r in rows)
    assert len(dues) == len(set(dues)) >= 4  # each time once, whichever replica fired it
    database = Database(database_url)
    try:
        state = Schedules(database).all()["tick"]
    finally:
        database.dispose()
    assert state.fired == len(dues) and state.last_due == dues[-1]
    assert all(r.agent == "ops" and r.requested_by == "schedule:tick" for r in rows)


def test_after_a_restart_spanning_its_time_once_fires_once_and_skip_skips(
    model: FakeModelServer, tmp_path: Path
) -> None:
    model.default = lambda _body: text("All services are up.")
    url = f"sqlite:///{tmp_path / 'signoff.db'}"
    env = {
        "SIGNOFF_DATABASE_URL": url,
        "SIGNOFF_APPROVERS": "alice@example.com",
        "SIGNOFF_SCHEDULE_INTERVAL": "0.5",
        **model.settings(),
        **deployment_env(tmp_path, schedule("late", 15, "once") + schedule("never", 15, "skip")),
    }
    server = SignoffProcess(env, tmp_path)
    server.start()
    try:
        wait_until(lambda: fired(url, "late") and fired(url, "never"), timeout=40, message="first firings")
    finally:
        server.stop()
    stopped = time.time()
    before = {name: len(fired(url, name)) for name in ("late", "never")}
    # Down over the next due time and past its grace (2 s): started 3 s after it, so that time is
    # the latest missed one (the one after is 15 s later).
    time.sleep(15 - stopped % 15 + 3)
    restarted = datetime.now(UTC)
    server.start()
    try:
        caught_up = wait_until(
            lambda: [r for r in fired(url, "late") if stopped < due_of(r).timestamp() < restarted.timestamp()],
            timeout=20,
            message="catch-up",
        )
        listing = signoff_cli("schedules", "list", env=env, cwd=tmp_path)
    finally:
        server.stop()
    assert len(caught_up) == 1  # the latest missed time, once
    assert not [r for r in fired(url, "never") if stopped < due_of(r).timestamp() < restarted.timestamp()]
    assert len(fired(url, "late")) > before["late"]
    assert listing.returncode == 0, listing.stderr
    lines = {line.split()[0]: line for line in listing.stdout.splitlines()}
    assert "catch-up once" in lines["late"] and "catch-up skip" in lines["never"]
    assert counts(lines["never"])[1] >= 1 and counts(lines["late"])[1] == 0
