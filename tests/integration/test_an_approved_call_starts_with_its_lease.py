"""Between a decision and the approved tool's body the worker commits once: the `tool_started` that
exactly once needs before the body runs goes into the same transaction as the thread's lease. At
the moment the body runs, another connection already sees the start and the lease.

A thread whose next step is not an approved call (or whose approval does not match the call) is
claimed as before: nothing appended with the lease, and such a call never runs."""

from __future__ import annotations

import threading
from typing import Any

import pytest
from sqlalchemy import event

from agent import Agent
from agent.events import ApprovalDecided, ApprovalRequested, Event, HumanMessage, ToolResult, ToolStarted
from agent.io.runner import advance, start_to_commit
from agent.testing import ScriptedModel, reply
from agent.thread import arguments_digest
from bot.worker import Worker
from storage.async_store import AsyncStore
from storage.db import Database
from storage.store import Store

ARGS = {"name": "payments"}


class WriteCommits:
    """Counts the commits of transactions that wrote, on every connection of an engine."""

    def __init__(self, db: Database) -> None:
        self.count = 0
        self._wrote: set[int] = set()
        self._lock = threading.Lock()
        event.listen(db.engine, "before_cursor_execute", self._statement)
        event.listen(db.engine, "commit", self._commit)

    def _statement(self, conn: Any, _cursor: Any, statement: str, *_: Any) -> None:
        if statement.lstrip().split(" ", 1)[0].upper() in {"INSERT", "UPDATE", "DELETE"}:
            with self._lock:
                self._wrote.add(id(conn.connection))

    def _commit(self, conn: Any) -> None:
        with self._lock:
            if id(conn.connection) in self._wrote:
                self._wrote.discard(id(conn.connection))
                self.count += 1


def approved(arguments: dict[str, Any]) -> list[Event]:
    """A person's message, then restart(arguments) asked and approved as restart(payments)."""
    digest = arguments_digest("restart", ARGS)
    return [
        HumanMessage(text="restart payments", by="bob"),
        ApprovalRequested(
            request_id="r1", call_id="c1", tool="restart", arguments=arguments, digest=digest, approvers=["alice"]
        ),
        ApprovalDecided(request_id="r1", approved=True, by="alice", digest=digest),
    ]


def approved_thread(store: Store, arguments: dict[str, Any]) -> str:
    first, *rest = approved(arguments)
    row = store.create_thread(agent="ops", first=first, requested_by="bob")
    assert row is not None
    for later in rest:
        store.append(row.id, [later])
    return row.id


def restarting_agent(ran: list[str]) -> Agent:
    """An agent whose one tool, gated, notes each service it restarts."""
    agent = Agent("ops", approvers=["alice"])

    @agent.tool(needs_approval=True)
    def restart(name: str) -> str:
        """Restart a service."""
        ran.append(name)
        return "restarted"

    return agent


async def drive(store: Store, agent: Agent, thread_id: str) -> Worker:
    storage = AsyncStore(store, threads=2)
    worker = Worker(storage, agent, ScriptedModel(reply("Restarted.")))
    try:
        await worker.drive(thread_id)
    finally:
        storage.close()
    return worker


async def test_the_start_is_committed_with_the_lease(database: Database) -> None:
    store = Store(database)
    thread_id = approved_thread(store, ARGS)
    writes = WriteCommits(database)
    seen: dict[str, Any] = {}
    agent = Agent("ops", approvers=["alice"])

    @agent.tool(needs_approval=True)
    def restart(name: str) -> str:
        """Restart a service."""
        seen["writes"] = writes.count
        other = Store(Database(database.url))  # another connection: what is committed, not what is held
        try:
            snapshot = other.snapshot(thread_id)
            seen["last"] = snapshot.events[-1]
            seen["lease"] = snapshot.thread.lease_owner
        finally:
            other.db.dispose()
        return f"restarted {name}"

    worker = await drive(store, agent, thread_id)

    assert seen["writes"] == 1, "the lease and the start: one transaction"
    assert seen["last"] == ToolStarted(call_id="c1", tool="restart", attempt=1)
    assert seen["lease"] == worker.owner
    events = store.snapshot(thread_id).events
    started = [e for e in events if isinstance(e, ToolStarted)]
    results = [e for e in events if isinstance(e, ToolResult)]
    assert len(started) == 1 and [r.result for r in results] == ["restarted payments"]
    assert store.snapshot(thread_id).thread.status == "done"


async def test_a_call_not_approved_as_asked_is_not_started_with_the_lease(database: Database) -> None:
    store = Store(database)
    thread_id = approved_thread(store, {"name": "billing"})  # the digest approved is of "payments"
    ran: list[str] = []
    agent = restarting_agent(ran)

    await drive(store, agent, thread_id)

    events: list[Event] = store.snapshot(thread_id).events
    assert ran == []
    assert not any(isinstance(e, ToolStarted) for e in events)
    assert "needs a human approval of exactly these arguments" in str(events[-1])


async def test_a_start_given_to_the_runner_must_be_the_one_the_step_makes() -> None:
    """The runner trusts a start committed elsewhere only when it is the start of the very step the
    thread's events lead to: otherwise nothing runs."""
    ran: list[str] = []
    agent = restarting_agent(ran)

    events = approved(ARGS)
    start = start_to_commit(agent, events)
    assert start == ToolStarted(call_id="c1", tool="restart", attempt=1)

    with pytest.raises(ValueError, match="not the last event"):
        await advance(agent, "t1", events, ScriptedModel(), started=start)
    other = ToolStarted(call_id="c2", tool="restart", attempt=1)
    outcome = await advance(agent, "t1", [*events, other], ScriptedModel(), started=other)
    assert ran == [] and "step failed" in str(outcome.events)

    outcome = await advance(agent, "t1", [*events, start], ScriptedModel(), started=start)
    assert ran == ["payments"] and outcome.events == [ToolResult(call_id="c1", tool="restart", result="restarted")]
    # Nothing to start: a thread waiting on its approval.
    assert start_to_commit(agent, events[:2]) is None


class StoppedRightAfterTheClaim(Worker):
    """A worker told to stop (a SIGTERM) just after its claim committed an approved call's start."""

    async def _claim(self, thread_id: str) -> Any:
        held = await super()._claim(thread_id)
        self.stop_taking_work()
        return held


async def test_a_stop_right_after_the_claim_still_runs_the_started_call(database: Database) -> None:
    """The start and the body go together: a call whose start was committed is run, stop or not
    (else its next start would find it started without a result and ask the approvers again)."""
    store = Store(database)
    thread_id = approved_thread(store, ARGS)
    ran: list[str] = []
    storage = AsyncStore(store, threads=2)
    worker = StoppedRightAfterTheClaim(storage, restarting_agent(ran), ScriptedModel())
    try:
        await worker.drive(thread_id)
    finally:
        storage.close()
    events = store.snapshot(thread_id).events
    assert ran == ["payments"]
    assert [type(e).__name__ for e in events[-2:]] == ["ToolStarted", "ToolResult"]
