"""Standing grants in the store, on SQLite and PostgreSQL: given only with an approval that decides,
used only inside their scope (this thread, exact arguments, never the giver's own requests, never
once revoked or expired), each use counted in the transaction that records it; and on PostgreSQL a
call racing a revocation from another thread gets exactly one outcome, recorded."""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import Sequence
from datetime import datetime, timedelta
from typing import Any

from agent import Agent
from agent.events import (
    ApprovalDecided,
    ApprovalRequested,
    DecisionIdentity,
    Event,
    GrantGiven,
    GrantUsed,
    HumanMessage,
    ProofMethod,
    voter_key,
)
from agent.grants import GrantTerms
from agent.thread import arguments_digest, status
from bot.grant_admin import revoke
from storage.async_store import AsyncStore
from storage.db import Database
from storage.event_log import OutboxDraft
from storage.grants import GrantDraft, GrantUse, new_grant_id
from storage.models import utcnow
from storage.status import DecisionStatus, RequestStatus
from storage.store import Store
from tests.support.databases import empty_tables

AGENT = "granter"


def _thread(store: Store, by: str = "bob") -> str:
    row = store.create_thread(agent=AGENT, first=HumanMessage(text="restart", by=by), requested_by=by)
    assert row is not None
    return row.id


def _gated(request_id: str, name: str = "web", required: int = 1) -> ApprovalRequested:
    args = {"name": name}
    return ApprovalRequested(
        request_id=request_id,
        call_id=f"c-{request_id}",
        tool="restart",
        arguments=args,
        digest=arguments_digest("restart", args),
        approvers=["alice", "bob", "carol"],
        required=required,
        no_self_approval=True,
    )


def _no_outbox(_events: Sequence[Event]) -> list[OutboxDraft]:
    return []


def _give(store: Store, scope: str, *, until: datetime | None = None, by: str = "alice", name: str = "web") -> str:
    """A thread of bob's whose restart `by` approves with a grant of `scope`; the grant's id."""
    thread_id = _thread(store)
    request = _gated(f"give-{thread_id}", name)
    store.append(thread_id, [request])
    terms = GrantTerms(
        scope=scope,  # type: ignore[arg-type]
        until=until or utcnow() + timedelta(hours=1),
        thread_id=thread_id if scope == "thread" else None,
        digest=request.digest if scope == "arguments" else None,
        match={},
    )
    decision = ApprovalDecided(
        request_id=request.request_id,
        approved=True,
        by=by,
        identity=DecisionIdentity(subject=by, method=ProofMethod.CONSOLE, channel="cli"),
    )
    draft = GrantDraft(new_grant_id(), AGENT, terms, (by,))
    result = store.resolve(
        request.request_id, decision, bind_digest=True, requester=voter_key("bob", None), grant=draft
    )
    assert result.status == DecisionStatus.ACCEPTED
    [given] = [e for e in result.events if isinstance(e, GrantGiven)]
    assert (given.grant_id, given.scope, given.by) == (draft.grant_id, scope, by)
    return draft.grant_id if scope != "thread" else f"{draft.grant_id}:{thread_id}"


def _call(store: Store, thread_id: str, request: ApprovalRequested, requester: str = "bob") -> list[Event]:
    _row, recorded = store.append_granted(
        thread_id, [request], use=GrantUse(AGENT, voter_key(requester, None)), outbox=_no_outbox
    )
    return recorded


def _used(events: list[Event]) -> GrantUsed | None:
    return next((e for e in events if isinstance(e, GrantUsed)), None)


def test_a_grant_covers_only_its_scope_and_is_counted(store: Store) -> None:
    any_thread = _give(store, "duration")
    elsewhere = _thread(store)
    used = _used(_call(store, elsewhere, _gated("r1", "search")))
    assert used is not None and (used.grant_id, used.by, used.call_id) == (any_thread, "alice", "c-r1")
    assert used.digest == arguments_digest("restart", {"name": "search"})
    request = store.get_request("r1")
    assert request is not None and request.status == RequestStatus.APPROVED and request.decided_by == "alice"
    assert status(store.snapshot(elsewhere).events) == "running"  # the call runs next, nobody asked
    grant = store.get_grant(any_thread)
    assert grant is not None and grant.uses == 1 and grant.last_used_at is not None

    # The giver's own requests are never covered by their grant: alice asks, a human decides.
    own = _thread(store, by="alice")
    assert _used(_call(store, own, _gated("r2"), requester="alice")) is None
    assert store.get_request("r2").status == RequestStatus.PENDING  # type: ignore[union-attr]

    # A request needing two approvers is never covered by one person's grant.
    assert _used(_call(store, _thread(store), _gated("r3", required=2))) is None

    assert store.revoke_grant(any_thread, by="carol")[0] == "revoked"
    assert store.revoke_grant(any_thread, by="carol")[0] == "already_revoked"
    assert store.revoke_grant("g_nope", by="carol")[0] == "unknown"
    assert _used(_call(store, _thread(store), _gated("r4"))) is None
    assert store.get_grant(any_thread).uses == 1  # type: ignore[union-attr]


def test_thread_and_argument_grants_stay_in_their_lane(store: Store) -> None:
    grant_id, thread_id = _give(store, "thread").split(":")
    assert _used(_call(store, _thread(store), _gated("other-thread"))) is None
    used = _used(_call(store, thread_id, _gated("same-thread", "search")))
    assert used is not None and used.grant_id == grant_id

    exact = _give(store, "arguments", name="payments")
    assert _used(_call(store, _thread(store), _gated("other-args", "web"))) is None
    used = _used(_call(store, _thread(store), _gated("same-args", "payments")))
    assert used is not None and used.grant_id == exact

    expired = _give(store, "duration", until=utcnow() + timedelta(milliseconds=200), name="cache")
    time.sleep(0.3)
    assert store.get_grant(expired) is not None
    assert _used(_call(store, _thread(store), _gated("too-late", "cache"))) is None
    assert {g.id for g in store.list_grants(active=True)} == {exact, grant_id}
    assert expired in {g.id for g in store.list_grants(active=False)}


def test_a_grant_comes_only_with_an_approval_that_decides(store: Store) -> None:
    thread_id = _thread(store)
    store.append(thread_id, [_gated("two", required=2)])
    terms = GrantTerms(scope="duration", until=utcnow() + timedelta(hours=1), thread_id=None, digest=None, match={})
    first = ApprovalDecided(request_id="two", approved=True, by="alice")
    result = store.resolve("two", first, grant=GrantDraft(new_grant_id(), AGENT, terms, ("alice",)))
    assert result.status == DecisionStatus.GRANT_REFUSED
    assert store.list_grants(active=False) == []
    assert store.get_request("two").status == RequestStatus.PENDING  # type: ignore[union-attr]


def _race(store: Store, thread_id: str, request: ApprovalRequested, grant_id: str) -> dict[str, Any]:
    """The gated call's append and the grant's revocation, started together on two threads."""
    start = threading.Barrier(2)
    results: dict[str, Any] = {}

    def use() -> None:
        start.wait()
        results["events"] = _call(store, thread_id, request)

    def revoke() -> None:
        start.wait()
        results["revoked"] = store.revoke_grant(grant_id, by="carol")

    workers = [threading.Thread(target=use), threading.Thread(target=revoke)]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join(timeout=30)
    return results


def test_a_call_racing_a_revocation_gets_one_outcome_on_postgresql(postgres_url: str) -> None:
    db = Database(postgres_url)
    empty_tables(db)
    store = Store(db)
    outcomes: dict[str, int] = {"used": 0, "asked": 0}
    try:
        for round_ in range(30):
            grant_id = _give(store, "duration", name=f"svc{round_}")
            thread_id = _thread(store)
            request = _gated(f"race{round_}", f"svc{round_}")
            results = _race(store, thread_id, request, grant_id)
            assert results["revoked"][0] == "revoked"
            grant = store.get_grant(grant_id)
            assert grant is not None and grant.revoked_at is not None
            used = _used(results["events"])
            events = store.snapshot(thread_id).events
            row = store.get_request(request.request_id)
            assert row is not None
            if used is not None:
                # Used first: the use committed before the revocation took the row.
                outcomes["used"] += 1
                assert grant.uses == 1 and grant.last_used_at is not None
                assert row.status == RequestStatus.APPROVED and [e.type for e in events][-1] == "grant_used"
            else:
                outcomes["asked"] += 1
                assert grant.uses == 0 and grant.last_used_at is None
                assert row.status == RequestStatus.PENDING and status(events) == "waiting"
        assert outcomes["used"] + outcomes["asked"] == 30
    finally:
        db.dispose()


def test_who_may_revoke_is_read_from_the_grants_own_agent(store: Store) -> None:
    """Several agents: an approver of the grant's agent's tool may revoke it, an approver of
    another agent's tool of the same name may not; with the agent gone, only its giver may."""

    def agent_with_restart(name: str, approvers: list[str]) -> Agent:
        agent = Agent(name, approvers=approvers)

        @agent.tool(needs_approval=True)
        def restart(name: str) -> str:
            """Restart.

            Args:
                name: The service.
            """
            return name

        return agent

    agents = {AGENT: agent_with_restart(AGENT, ["carol"]), "other": agent_with_restart("other", ["dave"])}
    storage = AsyncStore(store, threads=1)
    try:
        first, second = _give(store, "duration"), _give(store, "duration", name="search")
        refused = asyncio.run(revoke(storage, agents, first, by="dave", person=None))
        assert refused.status == "not_allowed" and "only its giver or an approver of restart" in refused.message
        assert asyncio.run(revoke(storage, agents, first, by="carol", person=None)).status == "revoked"
        gone = {"other": agents["other"]}  # the grant's agent is no longer deployed
        assert asyncio.run(revoke(storage, gone, second, by="carol", person=None)).status == "not_allowed"
        assert asyncio.run(revoke(storage, gone, second, by="alice", person=None)).status == "revoked"  # its giver
    finally:
        storage.close()
