"""The request's policy, held atomically by the store on SQLite and PostgreSQL: N of M distinct
approvers (progress, once per person, one denial ends it), no self-approval, the identity and proof
recorded with each decision, and events recorded before identities still readable."""

from __future__ import annotations

import json
from concurrent.futures import ThreadPoolExecutor

from sqlalchemy import insert

from agent.events import (
    ApprovalDecided,
    ApprovalProgress,
    ApprovalRequested,
    DecisionIdentity,
    HumanMessage,
    ProofMethod,
    parse_event,
)
from agent.thread import arguments_digest, pending_requests, status
from storage._sql import table
from storage.models import EventRow, utcnow
from storage.store import Store


def _thread(store: Store) -> str:
    row = store.create_thread(agent="ops", first=HumanMessage(text="deploy", by="bob@example.com"), requested_by="bob")
    assert row is not None
    return row.id


def _request(
    required: int = 1, no_self_approval: bool = True, request_id: str = "r1", approvers: tuple[str, ...] = ()
) -> ApprovalRequested:
    args = {"service": "web", "env": "prod"}
    return ApprovalRequested(
        request_id=request_id,
        call_id=f"c-{request_id}",
        tool="deploy",
        arguments=args,
        digest=arguments_digest("deploy", args),
        approvers=list(approvers or ("alice", "carol", "bob", "dave")),
        required=required,
        no_self_approval=no_self_approval,
        rule="prod needs two SREs",
    )


def _who(name: str, person_id: str | None = None) -> DecisionIdentity:
    return DecisionIdentity(subject=name, method=ProofMethod.SLACK, channel="slack", person_id=person_id, person=name)


def _approve(name: str, person_id: str | None = None, request_id: str = "r1") -> ApprovalDecided:
    return ApprovalDecided(request_id=request_id, approved=True, by=name, identity=_who(name, person_id))


def test_two_of_m_counts_distinct_people_and_decides_once(store: Store) -> None:
    thread_id = _thread(store)
    store.append(thread_id, [_request(required=2)])
    first = store.resolve("r1", _approve("alice", "p_alice"), bind_digest=True)
    assert first.status == "progress"
    assert isinstance(first.events[0], ApprovalProgress) and first.events[0].count == 1
    row = store.get_request("r1")
    assert row is not None and row.status == "pending" and row.required == 2 and row.rule == "prod needs two SREs"
    assert [a["person"] for a in row.approvals or []] == ["alice"]
    # The same person again, however they come (here by another name for the same person id): refused.
    again = store.resolve("r1", _approve("U0ALICE", "p_alice"), identities=["alice"], bind_digest=True)
    assert again.status == "already_approved"
    second = store.resolve("r1", _approve("carol", "p_carol"), bind_digest=True)
    assert second.status == "accepted"
    decided = second.events[0]
    assert isinstance(decided, ApprovalDecided) and [i.person for i in decided.approvals] == ["alice", "carol"]
    row = store.get_request("r1")
    assert row is not None and row.status == "approved" and row.decided_by == "carol"
    events = store.snapshot(thread_id).events
    assert [e.type for e in events] == ["human_message", "approval_requested", "approval_progress", "approval_decided"]
    assert status(events) == "running" and not pending_requests(events)
    assert store.resolve("r1", _approve("dave", "p_dave")).status == "already_decided"


def test_one_denial_ends_n_of_m(store: Store) -> None:
    thread_id = _thread(store)
    store.append(thread_id, [_request(required=3)])
    assert store.resolve("r1", _approve("alice", "p_alice")).status == "progress"
    denied = store.resolve("r1", ApprovalDecided(request_id="r1", approved=False, by="carol", identity=_who("carol")))
    assert denied.status == "accepted"
    assert store.get_request("r1").status == "denied"  # type: ignore[union-attr]
    assert store.resolve("r1", _approve("dave", "p_dave")).status == "already_decided"


def test_concurrent_approvals_toward_two_decide_exactly_once(store: Store) -> None:
    thread_id = _thread(store)
    people = [f"p{i}" for i in range(8)]
    store.append(thread_id, [_request(required=2, approvers=tuple(people))])
    with ThreadPoolExecutor(max_workers=8) as pool:
        results = list(pool.map(lambda p: store.resolve("r1", _approve(p, f"id_{p}")).status, people))
    assert results.count("progress") == 1 and results.count("accepted") == 1
    assert results.count("already_decided") == 6
    events = store.snapshot(thread_id).events
    assert sum(isinstance(e, ApprovalDecided) for e in events) == 1


def test_the_requester_may_not_approve_under_no_self_approval(store: Store) -> None:
    thread_id = _thread(store)
    store.append(thread_id, [_request(), _request(no_self_approval=False, request_id="r2")])
    refused = store.resolve("r1", _approve("bob", "p_bob"), requester="person:p_bob")
    assert refused.status == "self_approval"
    assert store.get_request("r1").status == "pending"  # type: ignore[union-attr]
    assert len(store.snapshot(thread_id).events) == 3  # nothing recorded
    # A denial by the requester withdraws the request; another request allows self-approval.
    assert store.resolve("r2", _approve("bob", "p_bob", "r2"), requester="person:p_bob").status == "accepted"
    withdrawn = ApprovalDecided(request_id="r1", approved=False, by="bob", identity=_who("bob", "p_bob"))
    assert store.resolve("r1", withdrawn, requester="person:p_bob").status == "accepted"


def test_the_identity_is_recorded_and_old_events_stay_readable(store: Store) -> None:
    thread_id = _thread(store)
    store.append(thread_id, [_request(no_self_approval=False)])
    store.resolve("r1", _approve("alice", "p_alice"), bind_digest=True)
    [decided] = [e for e in store.snapshot(thread_id).events if isinstance(e, ApprovalDecided)]
    assert decided.identity == _who("alice", "p_alice") and decided.digest
    # An event stored before identities (and before policies) reads with their defaults.
    old = {"type": "approval_decided", "request_id": "r9", "approved": True, "by": "U1", "comment": ""}
    assert parse_event(old).identity is None  # type: ignore[union-attr]
    old_request = {"type": "approval_requested", "request_id": "r9", "call_id": "c9", "tool": "t", "arguments": {}}
    parsed = parse_event({**old_request, "digest": "d"})
    assert isinstance(parsed, ApprovalRequested) and parsed.required == 1 and not parsed.no_self_approval
    with store.db.write() as session:
        values = {"thread_id": thread_id, "seq": 99, "type": "approval_decided", "data": json.dumps(old)}
        session.execute(insert(table(EventRow)).values(**values, created_at=utcnow()))
    assert store.stored_events(thread_id)[-1].event.identity is None  # type: ignore[union-attr]


def test_the_audit_reads_request_events_across_threads_in_order(store: Store) -> None:
    from datetime import timedelta

    from agent.events import AgentReply, QuestionAnswered, QuestionAsked, ToolCall

    first, second = _thread(store), _thread(store)
    store.append(first, [_request(required=2)])
    store.append(second, [QuestionAsked(request_id="q1", question="which env?"), AgentReply(text="noise", final=False)])
    store.resolve("r1", _approve("alice", "p_alice"))
    store.resolve("q1", QuestionAnswered(request_id="q1", answer="prod", by="bob", identity=_who("bob")))
    store.append(first, [ToolCall(call_id="c9", tool="deploy", arguments={}, rule="staging needs no approval")])
    store.append(first, [ToolCall(call_id="c8", tool="status", arguments={})])  # no rule: not a request event
    found = store.audit_events()
    assert [(e.thread_id, e.event.type) for e in found] == [
        (first, "approval_requested"),
        (second, "question_asked"),
        (first, "approval_progress"),
        (second, "question_answered"),
        (first, "tool_call"),
    ]
    assert [e.event.type for e in store.audit_events(thread_id=second)] == ["question_asked", "question_answered"]
    assert store.audit_events(since=utcnow() + timedelta(minutes=1)) == []
    assert len(store.audit_events(limit=2)) == 2
    facts = store.request_facts(["r1", "q1", "nope"])
    assert (facts["r1"].tool, facts["r1"].requested_by, facts["q1"].tool) == ("deploy", "bob", None)
