"""Standalone requests (POST /api/approvals, /api/questions) in storage, on SQLite and PostgreSQL:
one request per idempotency key, their thread never runnable, the decision's messages and callback
written with it, an expiry recorded once however many replicas race for it."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from datetime import timedelta

from agent.events import ApprovalDecided, QuestionAnswered
from storage.models import utcnow
from storage.standalone import StandaloneSpec, outcome_outbox
from storage.status import RequestKind
from storage.store import Store


def _spec(key: str | None = "k1", **changes: object) -> StandaloneSpec:
    values: dict[str, object] = {
        "kind": RequestKind.APPROVAL,
        "creator": "service",
        "allowed": ["alice@example.com", "U0ALICE"],
        "channels": ["slack", "email"],
        "requested_by": "ci-bot",
        "action": "drop_table",
        "arguments": {"name": "users"},
        "reason": "cleanup",
        "origin_data": {"standalone": True, "channel": "C0APPROVALS", "subject": "Approval needed: drop_table"},
        "idempotency_key": key,
        "callback_url": "http://127.0.0.1:9/hook",
        "callback_secret": "s" * 32,
    }
    values.update(changes)
    return StandaloneSpec(**values)  # type: ignore[arg-type]


def test_a_request_gets_its_thread_its_cards_and_no_agent(store: Store) -> None:
    created = store.create_standalone(_spec())
    assert created.created and created.request.status == "pending" and created.request.tool == "drop_table"
    thread = store.get_thread(created.standalone.thread_id)
    assert thread is not None and thread.status == "waiting" and thread.agent == "signoff:standalone"
    assert [(o.channel, o.kind) for o in store.outbox_for_thread(thread.id)] == [
        ("slack", "approval_request"),
        ("email", "approval_request"),
    ]
    assert thread.id not in store.runnable_threads()

    result = store.resolve(
        created.request.id,
        ApprovalDecided(request_id=created.request.id, approved=True, by="U0ALICE"),
        outbox=lambda row, _recorded: outcome_outbox(row, created.request.id),
        bind_digest=True,
    )
    assert result.status == "accepted"
    thread = store.get_thread(thread.id)
    assert thread is not None and thread.status == "done"  # decided: done, never `running`
    assert thread.id not in store.runnable_threads()
    assert [(o.channel, o.kind) for o in store.outbox_for_thread(thread.id)][2:] == [
        ("slack", "decision"),
        ("email", "decision"),
        ("callback", "callback"),
    ]
    assert store.decided_among([created.request.id, "nope"]) == [created.request.id]


def test_an_idempotency_key_makes_one_request_even_when_retries_race(store: Store) -> None:
    with ThreadPoolExecutor(8) as pool:
        results = list(pool.map(lambda _: store.create_standalone(_spec("race")), range(8)))
    assert len({r.request.id for r in results}) == 1
    assert sum(r.created for r in results) == 1
    assert all(r.same for r in results)
    assert len(store.list_requests()) == 1
    # The same key for something else: no second request, and the caller is told it differs.
    other = store.create_standalone(_spec("race", arguments={"name": "orders"}))
    assert not other.created and not other.same and other.request.id == results[0].request.id
    # Another creator's key is their own.
    theirs = store.create_standalone(_spec("race", creator="someone-else"))
    assert theirs.created and theirs.request.id != results[0].request.id


def test_an_expiry_is_recorded_once_with_its_messages(store: Store) -> None:
    now = utcnow()
    due = store.create_standalone(_spec(None, expires_at=now - timedelta(seconds=1)))
    later = store.create_standalone(_spec(None, expires_at=now + timedelta(hours=1)))
    question = store.create_standalone(
        _spec(None, kind=RequestKind.QUESTION, action="", arguments={}, question="which?", expires_at=now)
    )
    with ThreadPoolExecutor(4) as pool:
        closed = [i for ids in pool.map(lambda _: store.expire_due(now), range(4)) for i in ids]
    assert sorted(closed) == sorted([due.request.id, question.request.id])
    for request_id in (due.request.id, question.request.id):
        request = store.get_request(request_id)
        assert request is not None and request.status == "expired" and request.decided_by == "signoff"
        events = [e.type for e in store.snapshot(request.thread_id).events]
        assert events.count("request_expired") == 1
        kinds = [o.kind for o in store.outbox_for_thread(request.thread_id)]
        assert kinds.count("decision") == 2 and kinds.count("callback") == 1
    assert store.get_request(later.request.id).status == "pending"  # type: ignore[union-attr]
    # An expired request takes no late answer.
    late = store.resolve(
        question.request.id, QuestionAnswered(request_id=question.request.id, answer="a", by="U0ALICE")
    )
    assert late.status == "already_decided"
