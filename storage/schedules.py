"""Schedules' progress, shared by every replica: each due time is dealt with once.

A firing is made once by its thread's receipt (`schedule:<name>:<due time>`, storage/receipts.py);
this table records how far each schedule got, so a restart knows what it missed, and
`signoff schedules list` shows it. `advance` moves a schedule forward only, so two replicas that
both dealt with a due time record it once.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime

from sqlalchemy import or_, update
from sqlalchemy.dialects.postgresql import insert as postgresql_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlmodel import col, select

from storage._sql import table
from storage.db import Database
from storage.schedule_models import ScheduleRow


class Schedules:
    def __init__(self, db: Database) -> None:
        self.db = db

    def ensure(self, names: Iterable[str], now: datetime) -> None:
        """A row for each schedule not seen before, `since` now."""
        rows = [{"name": n, "since": now, "updated_at": now, "fired": 0, "skipped": 0} for n in names]
        if not rows:
            return
        insert_for = sqlite_insert if self.db.is_sqlite else postgresql_insert
        statement = insert_for(table(ScheduleRow)).on_conflict_do_nothing(index_elements=["name"])
        with self.db.write_connection() as connection:
            connection.execute(statement, rows)

    def all(self) -> dict[str, ScheduleRow]:
        with self.db.session() as session:
            return {row.name: row for row in session.exec(select(ScheduleRow))}

    def advance(self, name: str, due: datetime, outcome: str, thread_id: str | None, now: datetime) -> bool:
        """Record `due` as dealt with (`fired` or `skipped`); False when it (or a later one) already was."""
        rows = table(ScheduleRow)
        counter = rows.c.fired if outcome == "fired" else rows.c.skipped
        statement = (
            update(rows)
            .where(rows.c.name == name, or_(rows.c.last_due.is_(None), rows.c.last_due < due))
            .values(
                {
                    rows.c.last_due: due,
                    rows.c.last_outcome: outcome,
                    rows.c.last_thread_id: thread_id,
                    counter: counter + 1,
                    rows.c.updated_at: now,
                }
            )
        )
        with self.db.write_connection() as connection:
            return bool(connection.execute(statement).rowcount)

    def names(self) -> list[str]:
        with self.db.session() as session:
            return list(session.exec(select(col(ScheduleRow.name))))
