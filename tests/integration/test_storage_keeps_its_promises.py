"""Storage on SQLite and on PostgreSQL: ordering, first-decision-wins, once-only inbox, leases."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from datetime import timedelta

from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlmodel import SQLModel

from agent.events import (
    AgentReply,
    ApprovalDecided,
    ApprovalRequested,
    DeliveryFailed,
    HumanMessage,
    QuestionAnswered,
    QuestionAsked,
)
from agent.thread import arguments_digest
from storage.db import Database
from storage.intake import Built, IntakeQueue
from storage.store import OutboxDraft, Store


def _thread(store: Store, text: str = "restart web") -> str:
    row = store.create_thread(agent="ops", first=HumanMessage(text=text, by="bob"), requested_by="bob")
    assert row is not None
    return row.id


def _approval(request_id: str = "r1") -> ApprovalRequested:
    args = {"name": "web"}
    return ApprovalRequested(
        request_id=request_id,
        call_id=f"c-{request_id}",
        tool="restart_service",
        arguments=args,
        digest=arguments_digest("restart_service", args),
        approvers=["alice", "U1"],
    )


def test_events_keep_their_order_and_status_is_derived(store: Store) -> None:
    thread_id = _thread(store)
    assert store.get_thread(thread_id).status == "running"  # type: ignore[union-attr]
    store.append(thread_id, [_approval()])
    assert store.get_thread(thread_id).status == "waiting"  # type: ignore[union-attr]
    store.resolve("r1", ApprovalDecided(request_id="r1", approved=False, by="alice", comment="no"))
    store.append(thread_id, [AgentReply(text="ok, not restarting")])
    stored = store.stored_events(thread_id)
    assert [s.seq for s in stored] == [1, 2, 3, 4]
    assert [s.event.type for s in stored] == ["human_message", "approval_requested", "approval_decided", "agent_reply"]
    assert store.get_thread(thread_id).status == "done"  # type: ignore[union-attr]
    assert store.get_request("r1").status == "denied"  # type: ignore[union-attr]


def test_first_decision_wins_when_many_race(store: Store) -> None:
    thread_id = _thread(store)
    store.append(thread_id, [_approval()])
    deciders = ["alice", "U1"] * 6

    def decide(i: int) -> str:
        by = deciders[i]
        return store.resolve("r1", ApprovalDecided(request_id="r1", approved=i % 2 == 0, by=by)).status

    with ThreadPoolExecutor(max_workers=6) as pool:
        outcomes = list(pool.map(decide, range(len(deciders))))
    assert outcomes.count("accepted") == 1
    assert outcomes.count("already_decided") == len(deciders) - 1
    decisions = [s.event for s in store.stored_events(thread_id) if s.event.type == "approval_decided"]
    assert len(decisions) == 1


def test_only_allowed_people_decide_and_kinds_are_checked(store: Store) -> None:
    thread_id = _thread(store)
    store.append(thread_id, [_approval(), QuestionAsked(request_id="q1", question="which web?")])
    assert store.resolve("r1", ApprovalDecided(request_id="r1", approved=True, by="mallory")).status == "not_allowed"
    assert store.resolve("r1", QuestionAnswered(request_id="r1", answer="x", by="alice")).status == "invalid"
    assert store.resolve("nope", ApprovalDecided(request_id="nope", approved=True, by="alice")).status == "unknown"
    # An empty answerer list means anyone in the conversation may answer.
    assert store.resolve("q1", QuestionAnswered(request_id="q1", answer="prod", by="anyone")).status == "accepted"
    assert store.get_request("r1").status == "pending"  # type: ignore[union-attr]
    assert len(store.stored_events(thread_id)) == 4


def test_a_look_alike_of_an_allowed_address_may_not_decide(store: Store) -> None:
    """#22.4: `by` matches an allowed identity in any ASCII case, never through Unicode folding."""
    thread_id = _thread(store)
    asked = _approval().model_copy(update={"approvers": ["kate@example.com"]})
    store.append(thread_id, [asked])
    kelvin = ApprovalDecided(request_id="r1", approved=True, by="\u212aate@example.com")
    assert store.resolve("r1", kelvin).status == "not_allowed"
    assert store.resolve("r1", ApprovalDecided(request_id="r1", approved=True, by="KATE@example.com")).status == (
        "accepted"
    )


def test_a_delivery_is_recorded_once(store: Store) -> None:
    first = store.create_thread(
        agent="ops",
        first=HumanMessage(text="hi", by="bob"),
        requested_by="bob",
        receipt_key="slack:Ev1",
        origin_channel="slack",
        origin_key="T1:C1:1.0",
    )
    again = store.create_thread(
        agent="ops",
        first=HumanMessage(text="hi", by="bob"),
        requested_by="bob",
        receipt_key="slack:Ev1",
        origin_channel="slack",
        origin_key="T1:C1:1.0",
    )
    assert first is not None and again is None
    assert store.append(first.id, [HumanMessage(text="more", by="bob")], receipt_key="slack:Ev2") is not None
    assert store.append(first.id, [HumanMessage(text="more", by="bob")], receipt_key="slack:Ev2") is None
    assert len(store.stored_events(first.id)) == 2
    assert store.thread_by_origin("slack", "T1:C1:1.0").id == first.id  # type: ignore[union-attr]


def test_an_acknowledged_message_becomes_one_thread(store: Store) -> None:
    queue = IntakeQueue(store.db)

    def opener(n: int, key: str | None = None) -> None:
        data = {"channel": "C1", "thread_ts": f"{n}.0"}
        queue.record(
            key=key or f"slack:T1:C1:{n}.0",
            origin_channel="slack",
            origin_key=f"T1:C1:{n}.0",
            origin_data=data,
            text=f"hi {n}",
            by="bob",
        )

    for n in range(6):
        opener(n)
    opener(0)  # a retry while queued
    assert queue.count() == 6 and queue.waiting("slack", "T1:C1:3.0") and not queue.waiting("slack", "T1:C1:9.0")
    with ThreadPoolExecutor(3) as pool:  # builders racing: each row is built by one of them
        results = list(pool.map(lambda _: queue.build("ops", limit=2), range(3)))
    built = [b for result in results for b in result.threads] + queue.build("ops").threads
    assert sorted(row.key for _, row in built) == [f"slack:T1:C1:{n}.0" for n in range(6)]
    assert queue.count() == 0
    for thread_id, row in built:
        thread = store.get_thread(thread_id)
        assert thread is not None and thread.status == "running" and thread.origin_key == row.origin_key
        assert thread.origin_data == {"channel": "C1", "thread_ts": row.origin_key.split(":")[2]}
        assert [s.event for s in store.stored_events(thread_id)] == [
            HumanMessage(text=row.text, by="bob", channel="slack")
        ]
        assert store.receipt_thread(row.key) == thread_id
    opener(0)  # a retry after the build: dropped
    assert queue.build("ops") == Built(duplicates=1) and queue.count() == 0
    # A conversation that got its thread another way: left to the caller to append.
    opener(0, key="slack:T1:C1:other")
    again = queue.build("ops")
    assert again.threads == [] and [r.key for r in again.leftovers] == ["slack:T1:C1:other"]
    queue.forget(["slack:T1:C1:other"])
    assert queue.count() == 0 and len(store.list_threads()) == 6


def test_one_lease_holder_per_thread(store: Store) -> None:
    thread_id = _thread(store)
    ttl = timedelta(seconds=30)
    with ThreadPoolExecutor(max_workers=8) as pool:
        winners = [
            w
            for w, ok in zip(range(8), pool.map(lambda w: store.claim(thread_id, f"w{w}", ttl), range(8)), strict=True)
            if ok
        ]
    assert len(winners) == 1
    holder = f"w{winners[0]}"
    assert not store.claim(thread_id, "late", ttl)
    assert thread_id not in store.runnable_threads()
    store.release(thread_id, holder)
    assert store.claim(thread_id, "late", ttl)
    # An expired lease can be taken over.
    assert store.claim(thread_id, "late", timedelta(seconds=-1))
    assert store.claim(thread_id, "other", ttl)


def test_leases_of_dead_local_processes_are_freed(store: Store) -> None:
    from storage.store import worker_identity

    thread_id = _thread(store)
    assert store.claim(thread_id, worker_identity(), timedelta(minutes=5))
    assert store.release_dead_local_leases(lambda pid: True) == 0
    assert store.release_dead_local_leases(lambda pid: False) == 1
    assert thread_id in store.runnable_threads()


def test_outbox_rows_are_claimed_once_and_marked(store: Store) -> None:
    thread_id = _thread(store)
    store.append(thread_id, [_approval()], outbox=[OutboxDraft("slack", "approval_request", request_id="r1")])
    (row,) = store.due_outbox()
    assert row.id is not None
    with ThreadPoolExecutor(max_workers=4) as pool:
        claims = list(pool.map(lambda _: store.claim_outbox(row.id, timedelta(seconds=60)), range(4)))  # type: ignore[arg-type]
    assert claims.count(True) == 1
    assert store.due_outbox() == []
    store.outbox_sent(row.id, {"channel": "C1", "ts": "1.5"})
    assert store.get_request("r1").delivery["ts"] == "1.5"  # type: ignore[union-attr]
    assert store.outbox_for_thread(thread_id)[0].status == "sent"


def test_a_message_given_up_is_marked_failed_with_a_note_that_keeps_the_status(store: Store) -> None:
    thread_id = _thread(store)
    store.append(thread_id, [AgentReply(text="done")], outbox=[OutboxDraft("email", "reply", text="done")])
    (row,) = store.due_outbox()
    assert row.id is not None and store.claim_outbox(row.id, timedelta(seconds=60))
    note = DeliveryFailed(channel="email", kind="reply", error="to bob: 550 rejected")
    store.outbox_failed(row.id, note.error, retry_at=None, note=note)
    assert [s.event for s in store.stored_events(thread_id)][-1] == note
    assert store.get_thread(thread_id).status == "done"  # type: ignore[union-attr]
    (failed,) = store.outbox_for_thread(thread_id)
    assert (failed.status, failed.last_error) == ("failed", note.error)
    assert store.due_outbox() == []


def test_a_threads_messages_on_one_channel_go_out_in_order(store: Store) -> None:
    """A card stuck under a dead sender's claim holds back what follows it (the decision that
    updates it), never another thread's or another channel's messages."""
    first, other = _thread(store), _thread(store, "deploy search")
    store.append(first, [_approval()], outbox=[OutboxDraft("slack", "approval_request", request_id="r1")])
    store.append(other, [AgentReply(text="done")], outbox=[OutboxDraft("slack", "reply", text="done")])
    decided = ApprovalDecided(request_id="r1", approved=True, by="alice")
    store.append(first, [decided], outbox=[OutboxDraft("slack", "decision", request_id="r1")])
    store.append(first, [AgentReply(text="noted")], outbox=[OutboxDraft("email", "reply", text="noted")])
    card, other_reply, email_reply = store.due_outbox()
    assert (card.kind, other_reply.thread_id, email_reply.channel) == ("approval_request", other, "email")
    assert card.id is not None and store.claim_outbox(card.id, timedelta(seconds=60))  # then the sender dies
    assert [r.kind for r in store.due_outbox()] == ["reply", "reply"]
    store.outbox_sent(card.id, {"channel": "C1", "ts": "1.5"})
    assert "decision" in [r.kind for r in store.due_outbox()]


def test_migrations_produce_exactly_the_models(database: Database) -> None:
    # The first migration also made the example agent's tables, before the example owned them.
    import bot.example_agent.models  # noqa: F401

    with database.engine.connect() as connection:
        diff = compare_metadata(MigrationContext.configure(connection), SQLModel.metadata)
    assert diff == []
