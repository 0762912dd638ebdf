"""Advance threads: one worker per thread at a time, held by a lease in the database.

Woken right after an event is committed in this process, and polling for work committed by
others (another replica, the CLI) and for threads interrupted by a crash.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import time
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from datetime import timedelta
from typing import TypeVar

from agent.definition import Agent
from agent.events import ApprovalRequested, Event, ToolStarted
from agent.io.model import ModelClient
from agent.io.runner import StepOutcome, advance, start_to_commit
from agent.reducer import Append, CallModel, RunTool, outcome_to_record
from agent.thread import is_note
from bot import failpoints
from bot.agent_set import Agents
from bot.identity import voter
from bot.logs import current_thread
from bot.metrics import Metrics
from bot.outage_log import OutageLog
from bot.outbox_policy import outbox_for
from bot.step_failures import record_step_failure
from bot.tool_threads import ToolThreads
from storage.async_store import AsyncStore
from storage.errors import Conflict, DatabaseUnavailable
from storage.grants import GrantUse
from storage.models import ThreadRow
from storage.status import ThreadStatus
from storage.store import OutboxDraft, worker_identity

log = logging.getLogger(__name__)

T = TypeVar("T")


@dataclass
class _Held:
    """A thread this worker holds: its row (sequence number, status) and its events so far, and the
    start of an approved call committed with the lease, whose body has yet to run."""

    thread: ThreadRow
    events: list[Event]
    start: ToolStarted | None = None


def pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


class Worker:
    def __init__(
        self,
        storage: AsyncStore,
        agent: Agent,
        model: ModelClient,
        *,
        concurrency: int = 8,
        poll_interval: float = 0.5,
        lease_seconds: float = 30.0,
        tool_threads: int = 8,
        metrics: Metrics | None = None,
        on_outbox: Callable[[], None] = lambda: None,
        agents: Agents | None = None,
    ) -> None:
        # Its share of the storage threads (storage/async_store.py), never the default executor: litellm
        # runs part of every model call there, so a step's write would wait behind another's model call.
        self.storage = storage
        self.agent = agent
        # Each thread is stepped by the agent it records (several per deployment, bot/agent_set.py).
        self.agents = agents or Agents.single(agent)
        self._agent_of: dict[str, Agent] = {}
        self.model = model
        self.owner = worker_identity()
        self.concurrency = concurrency
        self.poll_interval = poll_interval
        self.lease = timedelta(seconds=lease_seconds)
        self.metrics = metrics or Metrics()
        self.on_outbox = on_outbox
        self._wanted: asyncio.Queue[str] | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._active: set[str] = set()
        self._again: set[str] = set()
        self._tasks: set[asyncio.Task[None]] = set()
        self._stopping = False
        self._poller: asyncio.Task[None] | None = None
        self._slots = asyncio.Semaphore(concurrency)
        self._outage = OutageLog(log, "database (worker)")
        self._tools = ToolThreads(tool_threads)

    def wake(self, thread_id: str) -> None:
        """Ask for a thread to be advanced soon; safe to call from any thread."""
        if self._loop is None or self._wanted is None or not thread_id:
            return
        self._loop.call_soon_threadsafe(self._wanted.put_nowait, thread_id)

    async def run(self) -> None:
        self._loop = asyncio.get_running_loop()
        self._poller = asyncio.current_task()
        self._wanted = asyncio.Queue()
        freed = await self.storage.release_dead_local_leases(pid_alive)
        if freed:
            log.info("took back %d thread(s) from crashed processes on this host", freed)
        next_poll = 0.0
        while True:
            # Poll on a schedule, not after every wake: a burst of new threads (each one a wake)
            # must not turn into a burst of the same query.
            if self._loop.time() >= next_poll:
                next_poll = self._loop.time() + self.poll_interval
                try:
                    for thread_id in await self.storage.runnable_threads(limit=self.concurrency * 4):
                        self._start(thread_id)
                    self._outage.succeeded()
                except DatabaseUnavailable as exc:
                    self._outage.failed(exc)
            with contextlib.suppress(TimeoutError):
                wait = max(0.0, next_poll - self._loop.time())
                thread_id = await asyncio.wait_for(self._wanted.get(), timeout=wait)
                self._start(thread_id)
                while not self._wanted.empty():
                    self._start(self._wanted.get_nowait())

    def _start(self, thread_id: str) -> None:
        if self._stopping:
            return  # still runnable in the database: the next start (or another replica) takes it
        if thread_id in self._active:
            self._again.add(thread_id)
            return
        self._active.add(thread_id)
        task = asyncio.create_task(self._drive_slot(thread_id), name=f"thread-{thread_id}")
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _drive_slot(self, thread_id: str) -> None:
        current_thread.set(thread_id)  # this task's own context: its log lines name the thread
        try:
            async with self._slots:
                while not self._stopping:
                    self._again.discard(thread_id)
                    await self.drive(thread_id)
                    if thread_id not in self._again:
                        break
        except (Conflict, DatabaseUnavailable):
            log.exception("thread %s: step failed; it will be retried", thread_id)
        except Exception as exc:
            log.exception("thread %s: step failed; recording it as an error", thread_id)
            try:
                agent = self._agent_of.get(thread_id, self.agent)
                await self.storage.run(record_step_failure, self.storage.store, agent, thread_id, exc)
                self.on_outbox()
            except Exception:
                log.exception("thread %s: could not record the failed step; it will be retried", thread_id)
        finally:
            self._active.discard(thread_id)
            self._agent_of.pop(thread_id, None)

    async def drive(self, thread_id: str) -> None:
        """Advance one thread until it waits, finishes, or another worker holds it.

        The thread is loaded once, with its lease. After each step the worker adds what it just
        recorded to what it holds, since the log only grows; when the append shows that someone
        else appended meanwhile (its sequence number moved further), it loads just those events.
        """
        held = await self._claim(thread_id)
        if held is None:
            return
        try:
            if held.thread.status == ThreadStatus.RUNNING:
                self._agent_of[thread_id] = self.agents.for_thread(held.thread.agent)
            while True:
                # A start committed with the lease is a step in flight: its body runs, stopping or not.
                if held.thread.status != ThreadStatus.RUNNING or (self._stopping and held.start is None):
                    return
                try:
                    began = time.perf_counter()
                    appended, outcome = await self._step(thread_id, held)
                    self.metrics.step_seconds.labels(kind=type(outcome.step).__name__).observe(
                        time.perf_counter() - began
                    )
                except Conflict as exc:
                    log.info("thread %s: %s; stepping again", thread_id, exc)
                    appended, outcome = None, None
                if outcome is not None and not outcome.events:
                    return
                if appended is None:  # others appended or hold the thread: load it again, if it is ours
                    reclaimed = await self._claim(thread_id)
                    if reclaimed is None:
                        return
                    held = reclaimed
                    continue
                assert outcome is not None
                if not outcome.more:
                    return
                await self._caught_up(thread_id, held, outcome.events, appended)
        finally:
            with contextlib.suppress(Exception):
                await self.storage.release(thread_id, self.owner)

    async def _claim(self, thread_id: str) -> _Held | None:
        """Take the thread's lease and load it; None when another worker holds it. When its next step
        is an approved call, the call's start is committed in the same transaction: one commit fewer
        between a decision and the tool's body (exactly once still needs the start committed first)."""
        committed: list[ToolStarted] = []

        def start_with_lease(row: ThreadRow, events: list[Event]) -> list[Event]:
            committed.clear()
            if row.status != ThreadStatus.RUNNING or self._stopping:
                return []
            try:
                agent = self.agents.for_thread(row.agent)
            except Exception:
                return []  # the step itself finds and records what is wrong
            start = start_to_commit(agent, events)
            if start is not None:
                committed.append(start)
            return list(committed)

        snapshot = await self.storage.claim_snapshot(thread_id, self.owner, self.lease, then=start_with_lease)
        if snapshot is None:
            return None
        self.metrics.events(committed)
        return _Held(snapshot.thread, list(snapshot.events), committed[0] if committed else None)

    async def _step(self, thread_id: str, held: _Held) -> tuple[ThreadRow | None, StepOutcome]:
        """Take one step and record it: the row after the append, or None when the thread must be
        loaded again (a gated call's outcome was recorded against others' appends)."""
        started: list[str] = []

        async def record_start(events: list[Event]) -> None:
            # Committed before the body runs; Conflict (the lease was lost) and the body never runs.
            row = await self.storage.append(thread_id, events, lease_owner=self.owner)
            assert row is not None
            await self._caught_up(thread_id, held, events, row)
            self.metrics.events(events)
            started.extend(e.call_id for e in events if isinstance(e, ToolStarted))

        committed, held.start = held.start, None
        if committed is not None:
            started.append(committed.call_id)
        heartbeat = asyncio.create_task(self._heartbeat(thread_id))
        try:
            outcome = await advance(
                self.agents.for_thread(held.thread.agent),
                thread_id,
                held.events,
                self.model,
                record_start=record_start,
                run_sync=self._tools.run,
                started=committed,
            )
        finally:
            heartbeat.cancel()
        self.metrics.step(outcome.step)
        if not outcome.events:
            return None, outcome
        if isinstance(outcome.step, CallModel):
            failpoints.hit("after_model_answer")
        if started and isinstance(outcome.step, RunTool):
            appended = await self._record_outcome(thread_id, held, outcome.step, outcome.events)
            failpoints.hit("after_state_commit")
            return appended, outcome
        if isinstance(outcome.step, CallModel) and any(isinstance(e, ApprovalRequested) for e in outcome.events):
            return await self._record_gated_call(thread_id, held, outcome)
        outbox = outbox_for(held.thread.origin_channel, outcome.events)
        # A decision (the model's, or a limit's) is only valid for the thread it saw; a tool's result is a fact.
        seen = held.thread.last_seq if isinstance(outcome.step, (CallModel, Append)) else None
        appended = await self._append_past_notes(thread_id, outcome.events, outbox, seen)
        self._committed(outcome.events, outbox)
        return appended, outcome

    async def _append_past_notes(
        self, thread_id: str, events: list[Event], outbox: list[OutboxDraft], seen: int | None
    ) -> ThreadRow:
        """Append a step's events to the thread as it was at `seen` (None: as it is)."""

        async def append(expect_seq: int | None) -> ThreadRow:
            row = await self.storage.append(
                thread_id, events, outbox=outbox, expect_seq=expect_seq, lease_owner=self.owner
            )
            assert row is not None
            return row

        return await self._past_notes(thread_id, seen, append)

    async def _past_notes(self, thread_id: str, seen: int | None, append: Callable[[int | None], Awaitable[T]]) -> T:
        """Run a conditional append of a decision made on the thread as it was at `seen`. Notes the
        model never sees (a failed delivery, progress toward N of M, a reminder) appended since do
        not change what the decision was made on: the append goes after them, and no model call is
        made again. Anything else appended since (or a lost lease) is the caller's Conflict."""
        for _ in range(5):
            try:
                return await append(seen)
            except Conflict:
                if seen is None:
                    raise
                since = await self.storage.events_since(thread_id, seen)
                if not since or not all(is_note(e) for e in since):
                    raise
                log.info("thread %s: %d note(s) appended during the step; appending after them", thread_id, len(since))
                seen += len(since)
        raise Conflict(f"thread {thread_id}: notes keep being appended; stepping again")

    async def _record_gated_call(
        self, thread_id: str, held: _Held, outcome: StepOutcome
    ) -> tuple[ThreadRow, StepOutcome]:
        """Record the model's gated call: a standing grant that covers it now is used in the same
        transaction (`grant_used`, and no card goes out), else its request waits for a human."""
        requester = held.thread.requested_by
        person = (await self.storage.people_for([requester])).get(requester)
        use = GrantUse(agent=held.thread.agent, requester_voter=voter(requester, person) if requester else None)
        channel = held.thread.origin_channel
        outboxes: list[OutboxDraft] = []

        def outbox(events: Sequence[Event]) -> list[OutboxDraft]:
            outboxes[:] = outbox_for(channel, events)
            return outboxes

        async def append(expect_seq: int | None) -> tuple[ThreadRow, list[Event]]:
            return await self.storage.append_granted(
                thread_id, outcome.events, use=use, outbox=outbox, expect_seq=expect_seq, lease_owner=self.owner
            )

        appended, recorded = await self._past_notes(thread_id, held.thread.last_seq, append)
        self._committed(recorded, outboxes)
        return appended, StepOutcome(outcome.step, recorded)

    async def _record_outcome(
        self, thread_id: str, held: _Held, step: RunTool, outcome: list[Event]
    ) -> ThreadRow | None:
        """Record a started gated call's outcome, once. Usually nothing was appended since its start
        and this worker still holds the thread: one conditional append. Otherwise (a reply came in,
        or this process was paused past its lease and another one gave the outcome up as unknown)
        the outcome is recorded against the thread as it is now, unless one already is."""
        events = outcome_to_record(held.events, step, outcome)
        if not events:
            return None
        outbox = outbox_for(held.thread.origin_channel, events)
        try:
            row = await self.storage.append(
                thread_id,
                events,
                outbox=outbox,
                expect_seq=held.thread.last_seq,
                lease_owner=self.owner,
            )
            self._committed(events, outbox)
            return row
        except Conflict as exc:
            log.info(
                "thread %s: %s; recording call %s's outcome against the thread as it is now",
                thread_id,
                exc,
                step.call_id,
            )
        for _ in range(50):
            now = await self.storage.snapshot(thread_id)
            events = outcome_to_record(now.events, step, outcome)
            if not events:
                log.warning(
                    "thread %s: call %s (%s) already has its outcome recorded; this run's is dropped",
                    thread_id,
                    step.call_id,
                    step.tool,
                )
                return None
            outbox = outbox_for(now.thread.origin_channel, events)
            try:
                await self.storage.append(thread_id, events, outbox=outbox, expect_seq=now.thread.last_seq)
            except Conflict:
                continue
            self._committed(events, outbox)
            log.info("thread %s: recorded call %s's outcome after others appended", thread_id, step.call_id)
            return None
        raise Conflict(f"thread {thread_id}: could not record call {step.call_id}'s outcome: the thread keeps moving")

    def _committed(self, events: list[Event], outbox: list[OutboxDraft]) -> None:
        self.metrics.events(events)
        if outbox:
            self.on_outbox()

    async def _caught_up(self, thread_id: str, held: _Held, appended: list[Event], row: ThreadRow) -> None:
        """Add what this worker just appended to what it holds (and what others appended meanwhile)."""
        if row.last_seq == held.thread.last_seq + len(appended):
            held.events.extend(appended)
        else:
            held.events.extend(await self.storage.events_since(thread_id, held.thread.last_seq))
        held.thread = row

    async def _heartbeat(self, thread_id: str) -> None:
        """Renew the lease while a step runs (a model call, a tool of any length): the loop is free
        for it, since plain tools run on tool threads. A failed renewal is tried again next time;
        a lost lease ends it (the step's appends then find the thread taken)."""
        interval = self.lease.total_seconds() / 3
        while True:
            await asyncio.sleep(interval)
            try:
                renewed = await self.storage.renew(thread_id, self.owner, self.lease)
            except DatabaseUnavailable as exc:
                log.warning("thread %s: could not renew the lease (%s); trying again", thread_id, exc)
                continue
            if not renewed:
                log.warning("thread %s: lease lost while stepping", thread_id)
                return

    def stop_taking_work(self) -> None:
        """Start no new step: no more polling, wakes are ignored; steps in flight go on."""
        self._stopping = True
        if self._poller is not None:
            self._poller.cancel()

    async def stop(self, grace: float = 0.0) -> None:
        """Stop taking work, let the steps in flight finish for up to `grace` seconds, then cancel
        what is left. A step cut short is taken again at the next start, by the rules of the events
        it recorded (a gated tool that started and has no result is never simply run again)."""
        self.stop_taking_work()
        if self._poller is not None:
            await asyncio.gather(self._poller, return_exceptions=True)
        in_flight = set(self._tasks)
        if in_flight and grace > 0:
            log.info("stopping: waiting up to %gs for %d thread(s) in flight", grace, len(in_flight))
            _, in_flight = await asyncio.wait(in_flight, timeout=grace)
        if in_flight:
            log.warning(
                "stopping: %d thread(s) still stepping after the %gs grace were cut short; "
                "they are taken again at the next start",
                len(in_flight),
                grace,
            )
            for task in in_flight:
                task.cancel()
            await asyncio.gather(*in_flight, return_exceptions=True)
