"""9. Queue scale: a worker's step with 100,000 runnable threads in the database vs 1,000.

Measured: what a worker process does to find work and advance one thread, through the product's
`storage.store.Store`, called as bot/worker.py calls it: `runnable_threads(limit=32)` (the worker's
poll: SIGNOFF_WORKERS x 4), `claim_snapshot` of the first one (its lease and its events, one
transaction), `append` of the step's event (a model's tool call) under the lease with the expected
sequence number, and `release`. The append moves the thread's `updated_at`, so it goes to the back
of the queue: the backlog stays N runnable threads throughout and every step takes another one.

Why the storage path and not a real `signoff serve`: with a zero-latency model a real worker works
the backlog itself, and a thread launched meanwhile waits behind it for a slot, so its time would be
the queue's wait, not a step's cost. What a step does besides (the model call, rendering the
context, running a tool) does not read other threads; what can grow with N is the database's work,
measured here whole. The time of the find-work query alone is in the row's note.

The databases (SQLite and PostgreSQL, one with 1,000 and one with 100,000 runnable threads) are
migrated by the product, then filled with bulk INSERTs through the real tables: copies of a thread
the product created (`create_thread`, its first event a person's message), each with its own id and
its own `updated_at` a millisecond apart, as a burst of mentions leaves them. On PostgreSQL, then
ANALYZE (what autovacuum would have done by then). The benchmark checks with EXPLAIN (QUERY PLAN) that
the statement the product runs (captured from the engine) uses `ix_threads_status_updated`, and
fails if it does not. Rounds alternate between the two databases; the figure is the median over
rounds of each round's median step.

Run: python -m bench.queue_scale [--smoke] [--no-postgres]
"""

from __future__ import annotations

import contextlib
import re
import sys
import time
from collections.abc import Iterator
from datetime import timedelta
from functools import partial
from pathlib import Path
from typing import Any

from sqlalchemy import event, insert, select

from bench._common import Row, alternate, median, table, workdir

NAME = "9 queue scale"
INDEX = "ix_threads_status_updated"
POLL_LIMIT = 8 * 4  # the worker's poll: SIGNOFF_WORKERS (default 8) x 4
LEASE = timedelta(seconds=30)


def populate(url: str, runnable: int) -> float:
    """Fill a migrated database with `runnable` threads waiting for a worker; the seconds it took."""
    from agent.events import HumanMessage
    from storage import migrate
    from storage._sql import table as sql_table
    from storage.db import Database
    from storage.models import EventRow, ThreadRow
    from storage.store import Store

    started = time.monotonic()
    db = Database(url)
    migrate.upgrade(db)
    store = Store(db)
    template = store.create_thread(agent="bench", first=HumanMessage(text="look up", by="bob"), requested_by="bob")
    assert template is not None and template.status == "running"
    threads, events = sql_table(ThreadRow), sql_table(EventRow)
    with db.engine.begin() as conn:
        thread = dict(conn.execute(select(threads).where(threads.c.id == template.id)).mappings().one())
        first = dict(conn.execute(select(events).where(events.c.thread_id == template.id)).mappings().one())
        first.pop("id")
        oldest = thread["updated_at"] - timedelta(milliseconds=runnable)
        batch = 5_000
        for start in range(0, runnable - 1, batch):
            ids = range(start, min(start + batch, runnable - 1))
            when = [oldest + timedelta(milliseconds=i) for i in ids]
            conn.execute(
                insert(threads),
                [
                    {**thread, "id": f"bulk-{i}", "created_at": w, "updated_at": w}
                    for i, w in zip(ids, when, strict=True)
                ],
            )
            conn.execute(
                insert(events),
                [{**first, "thread_id": f"bulk-{i}", "created_at": w} for i, w in zip(ids, when, strict=True)],
            )
    if not db.is_sqlite:  # what autovacuum would have done by then; SQLite has no such thing
        with db.engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
            conn.exec_driver_sql("ANALYZE")
    counted = store.status_counts().get("running", 0)
    assert counted == runnable, counted
    db.dispose()
    return time.monotonic() - started


class Queue:
    """One database and the product's store on it, stepped as a worker steps it."""

    def __init__(self, url: str) -> None:
        from storage.db import Database
        from storage.store import Store, worker_identity

        self.db = Database(url)
        self.store = Store(self.db)
        self.owner = worker_identity()
        self.calls = 0

    def close(self) -> None:
        self.db.dispose()

    def step(self) -> tuple[float, float]:
        """(seconds for the whole step, seconds for the find-work query alone)."""
        from agent.events import ToolCall

        self.calls += 1
        began = time.perf_counter()
        found = self.store.runnable_threads(limit=POLL_LIMIT)
        queried = time.perf_counter()
        thread_id = found[0]
        snapshot = self.store.claim_snapshot(thread_id, self.owner, LEASE)
        assert snapshot is not None, thread_id
        call = ToolCall(call_id=f"c{self.calls}", tool="lookup", arguments={"key": "k"})
        self.store.append(thread_id, [call], expect_seq=snapshot.thread.last_seq, lease_owner=self.owner)
        self.store.release(thread_id, self.owner)
        return time.perf_counter() - began, queried - began

    def steps(self, n: int) -> list[tuple[float, float]]:
        return [self.step() for _ in range(n)]

    def plan(self) -> str:
        """The database's plan for the find-work statement the product runs, as the engine sent it."""
        captured: list[tuple[str, Any]] = []

        def capture(_conn: Any, _cursor: Any, statement: str, parameters: Any, _context: Any, _many: bool) -> None:
            if "FROM threads" in statement and "ORDER BY" in statement:
                captured.append((statement, parameters))

        event.listen(self.db.engine, "before_cursor_execute", capture)
        try:
            self.store.runnable_threads(limit=POLL_LIMIT)
        finally:
            event.remove(self.db.engine, "before_cursor_execute", capture)
        [(statement, parameters)] = captured
        explain = "EXPLAIN QUERY PLAN " if self.db.is_sqlite else "EXPLAIN "
        with self.db.engine.connect() as conn:
            rows = conn.exec_driver_sql(explain + statement, parameters).all()
        lines = [re.sub(r"\s+\(cost=[^)]*\)", "", str(row[-1])).strip(" ->") for row in rows]
        using = [line for line in lines if INDEX in line]
        if not using:
            raise RuntimeError(f"the find-work query does not use {INDEX}: {'; '.join(lines)}")
        return using[0]


@contextlib.contextmanager
def databases(directory: Path, backend: str) -> Iterator[tuple[str, str]]:
    if backend == "sqlite":
        yield f"sqlite:///{directory / 'small.db'}", f"sqlite:///{directory / 'large.db'}"
        return
    from tests.support.databases import postgres_database

    with postgres_database() as small, postgres_database() as large:
        yield small, large


def run(smoke: bool = False, postgres: bool = True, sizes: tuple[int, int] | None = None) -> list[Row]:
    small_n, large_n = sizes or ((100, 2_000) if smoke else (1_000, 100_000))
    rounds, samples = (1, 5) if smoke else (5, 200)
    rows = []
    for backend in ("sqlite", "postgresql") if postgres else ("sqlite",):
        with workdir(f"queue-{backend}") as directory, databases(directory, backend) as (small_url, large_url):
            loaded = populate(large_url, large_n)
            populate(small_url, small_n)
            small, large = Queue(small_url), Queue(large_url)
            try:
                plan_small, plan_large = small.plan(), large.plan()
                small.steps(samples // 5 + 1)  # connections, statement caches
                large.steps(samples // 5 + 1)
                measured_small, measured_large = alternate(
                    rounds, partial(small.steps, samples), partial(large.steps, samples)
                )
            finally:
                small.close()
                large.close()

        def step(measured: list[list[tuple[float, float]]], part: int) -> float:
            return median([median([s[part] for s in r]) for r in measured]) * 1000

        query_small, query_large = step(measured_small, 1), step(measured_large, 1)
        plan = (
            f"plan at both sizes: {plan_large}"
            if plan_large == plan_small
            else f"plan at {large_n:,}: {plan_large}; at {small_n:,}: {plan_small}"
        )
        rows.append(
            Row(
                NAME,
                f"worker step, {large_n:,} vs {small_n:,} runnable threads, {backend}",
                step(measured_large, 0),
                step(measured_small, 0),
                "ms",
                target=("<=", 1.2),
                baseline_name=f"{small_n:,} runnable",
                note=(
                    f"find-work query alone {query_large:.3g} vs {query_small:.3g} ms "
                    f"({query_large / query_small:.3g}x); {plan}; loading {large_n:,} threads took {loaded:.0f} s"
                ),
            )
        )
    return rows


if __name__ == "__main__":
    print(table(run(smoke="--smoke" in sys.argv, postgres="--no-postgres" not in sys.argv)))
