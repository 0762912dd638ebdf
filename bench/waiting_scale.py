"""5. Scale of waiting: resuming one thread among 1,000 or among 1,000,000 pending approvals.

Two databases per backend (SQLite, PostgreSQL), each migrated and holding waiting threads: a thread
row, its two events (the request and the approval request) and its pending request row, copied in
bulk by SQL from one thread the product itself created (INSERT ... SELECT over a generated series).
A `signoff serve` runs on each; alternating between them, the benchmark launches a thread through
the API, waits until it waits, and measures from POSTing the decision to the approved tool starting
(as in bench/resume.py). Baseline: the database with 1,000 pending; figure: the one with 1,000,000.

Run: python -m bench.waiting_scale [--smoke]
"""

from __future__ import annotations

import contextlib
import sys
import time
from collections.abc import Iterator
from pathlib import Path

from sqlalchemy import text

from bench._common import Row, alternate, median, table, workdir
from bench._model_process import model_process
from bench.resume import OursResume

NAME = "5 waiting scale"


def _series(dialect: str, n: int) -> str:
    if dialect == "postgresql":
        return f"generate_series(1, {n}) AS s(i)"
    return f"(WITH RECURSIVE g(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM g WHERE i < {n}) SELECT i FROM g) AS s"


def populate(url: str, pending: int) -> float:
    """Fill a migrated database with `pending` waiting threads; returns the seconds it took."""
    from agent.events import ApprovalRequested, HumanMessage
    from storage import migrate
    from storage.db import Database
    from storage.models import EventRow, RequestRow, ThreadRow
    from storage.store import Store

    started = time.monotonic()
    db = Database(url)
    migrate.upgrade(db)
    store = Store(db)
    template = store.create_thread(agent="bench", first=HumanMessage(text="please act", by="bob"), requested_by="bob")
    assert template is not None
    store.append(
        template.id,
        [
            ApprovalRequested(
                request_id="template-request", call_id="template-call", tool="act", arguments={"n": 1}, digest="d"
            )
        ],
    )
    overrides = {
        ThreadRow.__table__: {"id": "'bulk-' || s.i", "origin_key": "NULL"},
        EventRow.__table__: {"id": None, "thread_id": "'bulk-' || s.i"},
        RequestRow.__table__: {"id": "'bulk-request-' || s.i", "thread_id": "'bulk-' || s.i", "call_id": "'c' || s.i"},
    }
    key = {ThreadRow.__table__: "id", EventRow.__table__: "thread_id", RequestRow.__table__: "thread_id"}
    with db.engine.begin() as conn:
        for table_, changes in overrides.items():
            columns = [c.name for c in table_.columns if changes.get(c.name, "") is not None]
            values = [changes.get(c, f"t.{c}") for c in columns]
            conn.execute(
                text(
                    f"INSERT INTO {table_.name} ({', '.join(columns)}) SELECT {', '.join(values)} "
                    f"FROM {table_.name} AS t, {_series(db.dialect, pending - 1)} WHERE t.{key[table_]} = :id"
                ),
                {"id": template.id},
            )
    if not db.is_sqlite:
        with db.engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
            conn.exec_driver_sql("ANALYZE")  # what autovacuum would have done by then
    with db.engine.connect() as conn:
        counted = conn.execute(text("SELECT count(*) FROM requests WHERE status = 'pending'")).scalar_one()
    assert counted == pending, counted
    db.dispose()
    return time.monotonic() - started


@contextlib.contextmanager
def databases(directory: Path, backend: str) -> Iterator[tuple[str, str]]:
    if backend == "sqlite":
        yield f"sqlite:///{directory / 'small.db'}", f"sqlite:///{directory / 'large.db'}"
        return
    from tests.support.databases import postgres_database

    with postgres_database() as small, postgres_database() as large:
        yield small, large


def run(smoke: bool = False, postgres: bool = True) -> list[Row]:
    small_n, large_n = (100, 2_000) if smoke else (1_000, 1_000_000)
    rounds, samples = (1, 2) if smoke else (3, 15)
    rows = []
    for backend in ("sqlite", "postgresql") if postgres else ("sqlite",):
        with (
            workdir(f"scale-{backend}") as directory,
            model_process("approve-once") as model_url,
            databases(directory, backend) as (small_url, large_url),
        ):
            loaded = populate(large_url, large_n)
            populate(small_url, small_n)
            (directory / "small").mkdir()
            (directory / "large").mkdir()
            small = OursResume(directory / "small", model_url, small_url)
            large = OursResume(directory / "large", model_url, large_url)
            try:
                if not smoke:  # the first resumes pay for imports and connections
                    small.decision_to_tool(2)
                    large.decision_to_tool(2)
                measured_small, measured_large = alternate(
                    rounds, lambda s=small: s.decision_to_tool(samples), lambda s=large: s.decision_to_tool(samples)
                )
            finally:
                small.close()
                large.close()
        rows.append(
            Row(
                NAME,
                f"resume one, {large_n:,} vs {small_n:,} pending, {backend}",
                median([median(r) for r in measured_large]) * 1000,
                median([median(r) for r in measured_small]) * 1000,
                "ms",
                target=("<=", 1.2),
                baseline_name=f"{small_n:,} pending",
                note=f"loading {large_n:,} waiting threads took {loaded:.0f} s",
            )
        )
    return rows


if __name__ == "__main__":
    print(table(run(smoke="--smoke" in sys.argv)))
