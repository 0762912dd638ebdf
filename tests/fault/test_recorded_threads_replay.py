"""Case 3: threads recorded by earlier versions replay through the current reducer to the state
stored beside them. A change that breaks old threads (a renamed or removed field, another status,
another next step, a request that no longer closes) fails here.

The fixtures (tests/fixtures/threads/*.json) are real threads written by `signoff serve`, recorded
with `python -m tests.support.record_threads`; new kinds of threads are added, old ones are kept.
Every fault test also replays every thread of its own database (tests/support/replay.py).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from agent.context import render_context
from agent.events import dump_event, parse_event
from agent.reducer import next_step
from bot.example_agent import agent as example_agent
from storage.db import Database
from storage.store import Store
from tests.support.databases import migrated
from tests.support.replay import database_problems, sequence_problems, state_problems

FIXTURES = sorted((Path(__file__).parents[1] / "fixtures" / "threads").glob("*.json"))


def load(path: Path) -> dict[str, Any]:
    return json.loads(path.read_text())


def test_there_are_recorded_threads_of_every_status() -> None:
    statuses = {load(p)["status"] for p in FIXTURES}
    assert statuses == {"done", "waiting", "failed"}


@pytest.mark.parametrize("path", FIXTURES, ids=[p.stem for p in FIXTURES])
def test_a_recorded_thread_replays_to_its_stored_state(path: Path) -> None:
    recorded = load(path)
    events = [parse_event(e) for e in recorded["events"]]
    # Nothing recorded was dropped or renamed on the way in.
    for stored, parsed in zip(recorded["events"], events, strict=True):
        assert stored.items() <= dump_event(parsed).items(), f"{stored['type']} lost fields"
    pending = {r for r, status in recorded["requests"].items() if status == "pending"}
    assert state_problems(events, status=recorded["status"], pending=pending, outcomes=recorded["requests"]) == []
    assert sequence_problems(example_agent, events) == []
    assert type(next_step(example_agent, events, lambda: "new")).__name__ == recorded["next_step"]
    render_context(example_agent, events)  # the model can still be shown it


@pytest.mark.parametrize("url", ["sqlite", "postgres"])
def test_recorded_threads_stored_again_give_the_same_state(
    url: str, tmp_path: Path, request: pytest.FixtureRequest
) -> None:
    """Storage derives status and requests from the events as it did when they were recorded."""
    db: Database = migrated(f"sqlite:///{tmp_path / 'replay.db'}") if url == "sqlite" else _empty_postgres(request)
    try:
        store = Store(db)
        expected: dict[str, dict[str, Any]] = {}
        for path in FIXTURES:
            recorded = load(path)
            events = [parse_event(e) for e in recorded["events"]]
            row = store.create_thread(agent=example_agent.name, first=events[0], requested_by=events[0].by)  # type: ignore[union-attr]
            assert row is not None
            for event in events[1:]:  # one at a time, as they were written
                store.append(row.id, [event])
            expected[row.id] = recorded
        assert database_problems(db, example_agent) == {}
        for thread_id, recorded in expected.items():
            assert store.get_thread(thread_id).status == recorded["status"]  # type: ignore[union-attr]
            assert {r.id: r.status for r in store.list_requests(thread_id=thread_id)} == recorded["requests"]
    finally:
        db.dispose()


def _empty_postgres(request: pytest.FixtureRequest) -> Database:
    from tests.support.databases import empty_tables

    db = Database(request.getfixturevalue("postgres_url"))
    empty_tables(db)
    return db
