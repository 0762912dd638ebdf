"""On SQLite a message that opens a conversation is recorded in a journal file of its own
(`signoff.db-intake`, storage/intake.py), so its ack does not wait while a worker holds the
database's one write lock; the builder still turns each row into one thread, whatever crash
comes between its two commits, and builds rows an earlier release left in the database itself."""

from __future__ import annotations

import threading
import time
from pathlib import Path

from sqlalchemy import insert

from storage.db import Database
from storage.intake import IntakeQueue
from storage.models import IntakeRow, utcnow
from storage.store import Store
from tests.support.databases import migrated

HOLD = 1.0  # seconds another writer keeps the database's write lock


def record(queue: IntakeQueue, n: int) -> None:
    queue.record(
        key=f"slack:Ev{n}",
        origin_channel="slack",
        origin_key=f"T1:C1:{n}.0",
        origin_data={"channel": "C1"},
        text=f"hi {n}",
        by="bob",
    )


def test_a_message_is_recorded_while_another_process_holds_the_write_lock(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'signoff.db'}"
    db = migrated(url)
    other = Database(url)  # a worker's connection: another Database, as in another process
    try:
        queue = IntakeQueue(db)
        holding, release = threading.Event(), threading.Event()

        def worker_write() -> None:
            with other.write() as session:
                session.get(IntakeRow, "nothing")
                holding.set()
                release.wait(HOLD)

        writer = threading.Thread(target=worker_write)
        writer.start()
        assert holding.wait(10)
        started = time.monotonic()
        record(queue, 1)
        took = time.monotonic() - started
        release.set()
        writer.join()
        assert took < HOLD / 2, f"the record waited {took:.3f} s on the database's write lock"
        assert queue.journal is not None and (tmp_path / "signoff.db-intake").exists()
        assert queue.count() == 1 and queue.waiting("slack", "T1:C1:1.0")
        [(thread_id, row)] = queue.build("ops").threads
        assert row.key == "slack:Ev1" and queue.count() == 0
        assert Store(db).receipt_thread("slack:Ev1") == thread_id
    finally:
        other.dispose()
        db.dispose()


def test_a_row_built_but_not_yet_taken_from_the_journal_is_built_once(tmp_path: Path) -> None:
    """A crash after the threads' commit and before the journal's delete: the rows are still in
    the journal, their receipts in the database; the next build drops them."""
    db = migrated(f"sqlite:///{tmp_path / 'signoff.db'}")
    try:
        queue = IntakeQueue(db)
        for n in range(3):
            record(queue, n)
        journal_rows = _journal_rows(queue)
        assert len(queue.build("ops").threads) == 3
        _put_back(queue, journal_rows)  # as if the delete had never run
        assert queue.count() == 3
        again = queue.build("ops")
        assert again.threads == [] and again.duplicates == 3 and queue.count() == 0
        assert len(Store(db).list_threads()) == 3
    finally:
        db.dispose()


def test_rows_left_in_the_database_by_an_earlier_release_are_built_with_the_journals(tmp_path: Path) -> None:
    db = migrated(f"sqlite:///{tmp_path / 'signoff.db'}")
    try:
        with db.write_connection() as connection:  # acknowledged by the release before the journal
            connection.execute(
                insert(IntakeRow.__table__),  # type: ignore[attr-defined]
                [
                    {
                        "key": "slack:Old",
                        "origin_channel": "slack",
                        "origin_key": "T1:C9:1.0",
                        "origin_data": {},
                        "text": "from before the upgrade",
                        "by": "bob",
                        "received_at": utcnow(),
                    }
                ],
            )
        queue = IntakeQueue(db)
        record(queue, 1)
        assert queue.count() == 2 and queue.waiting("slack", "T1:C9:1.0")
        built = queue.build("ops").threads
        assert sorted(row.key for _, row in built) == ["slack:Ev1", "slack:Old"] and queue.count() == 0
    finally:
        db.dispose()


def _journal_rows(queue: IntakeQueue) -> list[dict[str, object]]:
    assert queue.journal is not None
    with queue.journal.engine.connect() as connection:
        table = IntakeRow.__table__  # type: ignore[attr-defined]
        return [dict(r) for r in connection.execute(table.select()).mappings()]


def _put_back(queue: IntakeQueue, rows: list[dict[str, object]]) -> None:
    assert queue.journal is not None
    with queue.journal.write_connection() as connection:
        connection.execute(insert(IntakeRow.__table__), rows)  # type: ignore[attr-defined]
