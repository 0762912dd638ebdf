"""A step that failed outside `agent.io.runner.advance` (its events could not be stored, say) is
recorded as an `error` event, like any other failure: it counts toward asking the thread's humans,
so a thread never fails the same way at every poll, silently and forever (nor calls the model each
time). Storage outages and conflicts are not failures of the step: the worker retries those."""

from __future__ import annotations

import logging

from agent.definition import Agent
from agent.io.runner import new_id
from agent.reducer import on_error
from bot.outbox_policy import outbox_for
from storage.errors import Conflict
from storage.store import Store

log = logging.getLogger(__name__)


def record_step_failure(store: Store, agent: Agent, thread_id: str, exc: Exception) -> bool:
    """Append the failure as an error event (and, after too many, the question); False if the
    thread moved on meanwhile or is no longer running."""
    snapshot = store.snapshot(thread_id)
    thread = snapshot.thread
    if thread.status != "running":
        return False
    detail = (str(exc).strip().splitlines() or [""])[0]
    events = on_error(
        agent,
        snapshot.events,
        new_id,
        source="step",
        message=f"the step failed: {type(exc).__name__}: {detail}",
    )
    try:
        # Only onto the thread as it was read: a failure is stale once someone else appended.
        store.append(thread_id, events, outbox=outbox_for(thread.origin_channel, events), expect_seq=thread.last_seq)
    except Conflict:
        return False
    return True
