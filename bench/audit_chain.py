"""12. What the audit's hash chain costs: audited appends per second with the chain and without it.

The same append, in alternating rounds: a `tool_call` that a policy let run without approval (`rule`
set: audited, so chained: on PostgreSQL an advisory lock, the head's hash read, a SHA-256, an INSERT)
against the same call with no rule (not audited: no chain work), each `Store.append` its own
transaction, as a worker appends a step. On SQLite one writer; on PostgreSQL also 4 writers at once,
each with its own engine as replicas have, where the chain's lock serialises the chained appends.

Run: python -m bench.audit_chain [--smoke] [--no-postgres]
"""

from __future__ import annotations

import sys
import time
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from bench._common import Row, alternate, median, table, workdir

NAME = "12 audit chain"


def _append_rate(url: str, thread_ids: list[str], appends: int, *, audited: bool) -> float:
    """Appends per second across `thread_ids`, one writer (engine) per thread id, at once."""
    from agent.events import ToolCall
    from storage.db import Database
    from storage.store import Store

    rule = "reads need no approval" if audited else ""
    stores = [Store(Database(url)) for _ in thread_ids]

    def work(index: int) -> None:
        store, thread_id = stores[index], thread_ids[index]
        for n in range(appends):
            store.append(thread_id, [ToolCall(call_id=f"c{n}", tool="read_logs", arguments={"n": n}, rule=rule)])

    started = time.perf_counter()
    with ThreadPoolExecutor(max_workers=len(thread_ids)) as pool:
        list(pool.map(work, range(len(thread_ids))))
    elapsed = time.perf_counter() - started
    for store in stores:
        store.db.dispose()
    return appends * len(thread_ids) / elapsed


def _threads(url: str, count: int) -> list[str]:
    from agent.events import HumanMessage
    from storage.db import Database
    from storage.store import Store

    store = Store(Database(url))
    ids = []
    for i in range(count):
        row = store.create_thread(agent="ops", first=HumanMessage(text=f"t{i}", by="bob"), requested_by="bob")
        assert row is not None
        ids.append(row.id)
    store.db.dispose()
    return ids


def _measure(url: str, writers: int, appends: int, rounds: int, label: str) -> Row:
    from storage.db import Database
    from storage.store import Store

    chained_threads, plain_threads = _threads(url, writers), _threads(url, writers)
    chained, plain = alternate(
        rounds,
        lambda: _append_rate(url, chained_threads, appends, audited=True),
        lambda: _append_rate(url, plain_threads, appends, audited=False),
    )
    store = Store(Database(url))
    verdict = store.verify_chain()
    store.db.dispose()
    if not verdict.ok:
        raise RuntimeError(f"the chain did not verify after the benchmark: {verdict.reason}")
    return Row(
        NAME,
        f"audited appends/s, {label}",
        median(chained),
        median(plain),
        "appends/s",
        baseline_name="the same append, not audited",
        note=f"{rounds} alternating rounds of {writers} x {appends} appends; "
        f"the chain verified: {verdict.records} records",
    )


def run(smoke: bool = False, postgres: bool = True) -> list[Row]:
    from storage import migrate
    from storage.db import Database

    appends, rounds = (20, 2) if smoke else (300, 5)
    rows: list[Row] = []
    with workdir("audit") as directory:
        url = f"sqlite:///{directory / 'audit.db'}"
        migrate.upgrade(Database(url))
        rows.append(_measure(url, 1, appends, rounds, "SQLite, 1 writer"))
    if postgres:
        from tests.support.databases import postgres_database

        with postgres_database() as pg_url:
            db: Any = Database(pg_url)
            migrate.upgrade(db)
            db.dispose()
            rows.append(_measure(pg_url, 1, appends, rounds, "PostgreSQL, 1 writer"))
            rows.append(_measure(pg_url, 4, appends // 2, rounds, "PostgreSQL, 4 writers at once"))
    return rows


if __name__ == "__main__":
    print(table(run(smoke="--smoke" in sys.argv, postgres="--no-postgres" not in sys.argv)))
