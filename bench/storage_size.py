"""3. Storage per paused thread after 10, 50 and 200 events: ours against LangGraph's checkpoints.

The same recorded threads (bench/recorded.py), paused on an approval request, stored for real:
- ours: `Store.create_thread` and one `Store.append` per event, as the worker appends step by step,
  into a migrated SQLite file (events, the thread row, the pending request, their indexes);
- LangGraph: the graph of bench/langgraph_agent.py's shape replaying the same messages on
  SqliteSaver (each user message an `invoke`, each model answer and tool result a superstep, the
  last tool call paused by `interrupt()`), so it writes the checkpoints it writes in use. Its state
  holds plain message dicts, without the system prompt (the lightest state it can keep).
Bytes on disk: both files are VACUUMed and checkpointed (WAL folded in); the size of the same empty
schema is subtracted, and the difference divided by the number of threads.

Run: python -m bench.storage_size [--smoke]
"""

from __future__ import annotations

import operator
import sqlite3
import sys
from pathlib import Path
from typing import Annotated, Any, TypedDict

from bench._common import Row, needs_langgraph, table, workdir

NAME = "3 storage"
SIZES = (10, 50, 200)


def file_bytes(path: Path) -> int:
    conn = sqlite3.connect(str(path))
    try:
        conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
        conn.execute("VACUUM")
        conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    finally:
        conn.close()
    wal = path.with_name(path.name + "-wal")
    return path.stat().st_size + (wal.stat().st_size if wal.exists() else 0)


def ours(directory: Path, n_events: int, threads: int) -> float:
    from bench.recorded import recorded_thread
    from storage import migrate
    from storage.db import Database
    from storage.store import Store

    path = directory / f"signoff-{n_events}.db"
    db = Database(f"sqlite:///{path}")
    migrate.upgrade(db)
    db.dispose()
    empty = file_bytes(path)
    db = Database(f"sqlite:///{path}")
    store = Store(db)
    for i in range(threads):
        events = recorded_thread(n_events, seed=i)
        row = store.create_thread(
            agent="signoff-ops",
            first=events[0],
            requested_by="U024BE7LH",
            origin_channel="slack",
            origin_key=f"T0:C0:{i}.000100",
            origin_data={"channel": "C0", "thread_ts": f"{i}.000100"},
        )
        assert row is not None
        for event in events[1:]:
            store.append(row.id, [event])
        assert store.get_thread(row.id).status == "waiting"  # type: ignore[union-attr]
    db.dispose()
    return (file_bytes(path) - empty) / threads


class _State(TypedDict):
    messages: Annotated[list[dict[str, Any]], operator.add]


def langgraph(directory: Path, n_events: int, threads: int) -> float:
    from langgraph.checkpoint.sqlite import SqliteSaver
    from langgraph.graph import END, START, StateGraph
    from langgraph.types import interrupt

    from bench.recorded import as_chat_messages, recorded_thread

    path = directory / f"langgraph-{n_events}.db"
    conn = sqlite3.connect(str(path), check_same_thread=False)
    saver = SqliteSaver(conn)
    saver.setup()
    empty = file_bytes(path)
    script: list[dict[str, Any]] = []

    def model(_state: _State) -> dict[str, Any]:
        return {"messages": [script.pop(0)]}

    def tools(_state: _State) -> dict[str, Any]:
        if not script:
            interrupt({"approval": "restart_service"})
        return {"messages": [script.pop(0)]}

    graph = StateGraph(_State)
    graph.add_node("model", model)
    graph.add_node("tools", tools)
    graph.add_edge(START, "model")
    graph.add_conditional_edges("model", lambda s: "tools" if s["messages"][-1].get("tool_calls") else END)
    graph.add_edge("tools", "model")
    app = graph.compile(checkpointer=saver)

    for i in range(threads):
        chat = as_chat_messages(recorded_thread(n_events, seed=i), system="")[1:]
        config: Any = {"configurable": {"thread_id": f"thread-{i}"}}
        runs: list[list[dict[str, Any]]] = []
        for message in chat:
            if message["role"] == "user":
                runs.append([message])
            else:
                runs[-1].append(message)
        for first, *rest in runs:
            script[:] = rest
            app.invoke({"messages": [first]}, config)
        assert app.get_state(config).next == ("tools",)  # paused before the gated tool
    conn.close()
    return (file_bytes(path) - empty) / threads


def run(smoke: bool = False) -> list[Row]:
    if (missing := needs_langgraph()) is not None:
        raise RuntimeError(missing)
    sizes, threads = ((10, 50), 2) if smoke else (SIZES, 8)
    measured: dict[int, tuple[float, float]] = {}
    with workdir("storage") as directory:
        for n in sizes:
            measured[n] = (ours(directory, n, threads), langgraph(directory, n, threads))
    rows = [
        Row(
            NAME,
            f"bytes per paused thread, {n} events",
            o,
            lg,
            "B",
            target=("<=", 0.1) if n == 50 else None,
            baseline_name="LangGraph",
        )
        for n, (o, lg) in measured.items()
    ]
    if len(sizes) == 3:
        (o10, l10), (o50, l50), (o200, l200) = (measured[n] for n in sizes)
        rows.append(
            Row(
                NAME,
                "bytes per event, 50->200 vs 10->50",
                (o200 - o50) / 150,
                (o50 - o10) / 40,
                "B/event",
                target=("<=", 1.25),
                baseline_name="ours 10->50",
                note=(
                    "linear growth means a constant cost per event (ratio ~1); LangGraph's per event: "
                    f"{(l50 - l10) / 40:,.0f} B then {(l200 - l50) / 150:,.0f} B (it stores the whole state "
                    "at every step)"
                ),
            )
        )
    return rows


if __name__ == "__main__":
    print(table(run(smoke="--smoke" in sys.argv)))
