"""The audit's hash chain, on SQLite and PostgreSQL: every audited event is chained as it is appended,
replicas appending at once never fork it, and a row changed, removed or inserted with SQL is named."""

from __future__ import annotations

import json
from concurrent.futures import ThreadPoolExecutor

from sqlalchemy import text

from agent.events import AgentReply, ApprovalDecided, ApprovalRequested, HumanMessage, QuestionAsked, ToolCall
from agent.thread import arguments_digest
from storage.audit_chain import GENESIS, ChainRecord, verify_records
from storage.db import Database
from storage.store import Store
from tests.support.databases import empty_tables


def _thread(store: Store, text: str = "restart web") -> str:
    row = store.create_thread(agent="ops", first=HumanMessage(text=text, by="bob"), requested_by="bob")
    assert row is not None
    return row.id


def _approval(request_id: str) -> ApprovalRequested:
    args = {"name": "web"}
    return ApprovalRequested(
        request_id=request_id,
        call_id=f"c-{request_id}",
        tool="restart_service",
        arguments=args,
        digest=arguments_digest("restart_service", args),
        approvers=["alice"],
    )


def _audited_history(store: Store) -> str:
    thread_id = _thread(store)
    store.append(thread_id, [_approval("r1")])
    store.resolve("r1", ApprovalDecided(request_id="r1", approved=True, by="alice"))
    store.append(
        thread_id,
        [
            ToolCall(call_id="c2", tool="read_logs", arguments={}, rule="reads need no approval"),
            QuestionAsked(request_id="q1", question="which region?"),
            AgentReply(text="asked", final=False),
        ],
    )
    return thread_id


def test_audited_events_are_chained_in_order_and_verify(store: Store) -> None:
    thread_id = _audited_history(store)
    records = list(store.chain_records())
    # The request, its decision, the call a rule let run, the question: not the message or the reply.
    assert [(r.thread_id, r.seq) for r in records] == [(thread_id, 2), (thread_id, 3), (thread_id, 4), (thread_id, 5)]
    assert records[0].prev_hash == GENESIS
    assert all(later.prev_hash == earlier.hash for earlier, later in zip(records, records[1:], strict=False))
    verdict = store.verify_chain()
    assert verdict.ok, verdict.reason
    assert (verdict.records, verdict.head) == (4, records[-1].hash)


def test_a_triggers_message_is_chained_and_a_plain_one_is_not(store: Store) -> None:
    """A schedule's firing or a webhook's delivery is in the audit; a person's message is not, and a
    trigger's message stored before triggers were audited (no `trigger`) stays out of the chain."""
    fired = HumanMessage(text="nightly check", by="schedule:nightly", trigger="schedule:nightly:2026-12-07T03:00:00Z")
    started = store.create_thread(agent="ops", first=fired, requested_by="schedule:nightly")
    assert started is not None
    store.append(started.id, [HumanMessage(text="and search", by="bob")])
    older = store.create_thread(agent="ops", first=HumanMessage(text="old", by="hook:github"), requested_by="hook:x")
    assert older is not None
    assert [(r.thread_id, r.seq) for r in store.chain_records()] == [(started.id, 1)]
    verdict = store.verify_chain()
    assert verdict.ok, verdict.reason


def test_an_event_changed_with_sql_is_named(store: Store, database: Database) -> None:
    thread_id = _audited_history(store)
    with database.write() as session:
        session.execute(
            text("UPDATE events SET data = replace(data, :was, :now) WHERE seq = 3"),
            {"was": '"approved":true', "now": '"approved":false'},
        )
        session.commit()
    verdict = store.verify_chain()
    assert not verdict.ok
    assert verdict.records == 1
    assert verdict.broken_at is not None and (verdict.broken_at.thread_id, verdict.broken_at.seq) == (thread_id, 3)
    assert "changed" in verdict.reason


def test_a_chain_row_removed_or_an_event_deleted_is_named(store: Store, database: Database) -> None:
    _audited_history(store)
    with database.write() as session:
        session.execute(text("DELETE FROM audit_chain WHERE seq = 3"))
        session.commit()
    verdict = store.verify_chain()
    assert not verdict.ok and verdict.broken_at is not None and verdict.broken_at.seq == 4
    assert "does not follow" in verdict.reason

    with database.write() as session:
        session.execute(text("DELETE FROM audit_chain"))
        session.execute(text("DELETE FROM events WHERE seq = 5"))
        session.commit()
    verdict = store.verify_chain()
    assert not verdict.ok and "no chain record" in verdict.reason


def test_an_event_inserted_with_sql_is_named(store: Store, database: Database) -> None:
    thread_id = _audited_history(store)
    forged = '{"type":"approval_decided","request_id":"r9","approved":true,"by":"mallory"}'
    with database.write() as session:
        session.execute(
            text(
                "INSERT INTO events (thread_id, seq, type, data, created_at) VALUES (:t, 99, 'approval_decided', :d, :at)"
            ),
            {"t": thread_id, "d": forged, "at": store.stored_events(thread_id)[-1].created_at},
        )
        session.commit()
    verdict = store.verify_chain()
    assert not verdict.ok
    assert f"thread {thread_id}, event 99" in verdict.reason


def test_an_export_verifies_offline_and_an_edit_to_it_fails(store: Store) -> None:
    _audited_history(store)
    exported = [ChainRecord.from_export(json.dumps(r.export())) for r in store.chain_records()]
    assert verify_records(exported).ok
    edited = exported[1].data.replace("alice", "mallory")  # type: ignore[union-attr]
    exported[1] = ChainRecord(**{**exported[1].__dict__, "data": edited})
    verdict = verify_records(exported)
    assert not verdict.ok and verdict.records == 1


def test_replicas_appending_at_once_on_postgresql_never_fork_the_chain(postgres_url: str) -> None:
    database = Database(postgres_url)
    empty_tables(database)
    store = Store(database)
    threads = [_thread(store, f"thread {i}") for i in range(8)]

    def work(thread_id: str) -> None:
        replica = Store(Database(postgres_url))  # its own engine and connections, as another replica has
        for n in range(15):
            replica.append(thread_id, [_approval(f"{thread_id}-{n}")])
        replica.db.dispose()

    with ThreadPoolExecutor(max_workers=8) as pool:
        list(pool.map(work, threads))
    verdict = store.verify_chain()
    database.dispose()
    assert verdict.ok, verdict.reason
    assert verdict.records == 8 * 15
