"""The clock's loop: fire the requests' timers that are due (storage/timers.py), in every worker
process of every replica (each timer fires once), then wake the threads and the outbox they touched.

What a fired timer says to people goes through the outbox like a decision: on an agent's thread, to
its channel (`outbox_policy.outbox_for`); on a standalone request's thread, to each channel it went
out on, and an expiry to its callback as well.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Sequence

from agent.events import Event, RequestEscalated, RequestExpired, RequestReminded
from bot.clock import Clock
from bot.outage_log import OutageLog
from bot.outbox_policy import outbox_for
from storage.async_store import AsyncStore
from storage.errors import DatabaseUnavailable
from storage.event_log import OutboxDraft
from storage.models import ThreadRow
from storage.standalone import outcome_outbox
from storage.status import STANDALONE_AGENT
from storage.timers import FiredTimer

log = logging.getLogger(__name__)

BATCH = 50


def timer_outbox(thread: ThreadRow, events: Sequence[Event]) -> list[OutboxDraft]:
    """The messages a fired timer's event causes, by where its thread lives."""
    if thread.agent != STANDALONE_AGENT:
        return outbox_for(thread.origin_channel, events)
    channels = [c for c in thread.origin_data.get("channels", []) if isinstance(c, str)]
    drafts: list[OutboxDraft] = []
    for event in events:
        if isinstance(event, RequestExpired):
            drafts.extend(outcome_outbox(thread, event.request_id))
        elif isinstance(event, RequestReminded):
            text = "\n".join(event.awaiting)
            drafts.extend(OutboxDraft(c, "reminder", request_id=event.request_id, text=text) for c in channels)
        elif isinstance(event, RequestEscalated):
            text = "\n".join(event.to)
            drafts.extend(OutboxDraft(c, "escalation", request_id=event.request_id, text=text) for c in channels)
    return drafts


class TimerService:
    def __init__(
        self,
        storage: AsyncStore,
        clock: Clock,
        *,
        poll_interval: float,
        wake_thread: Callable[[str], None],
        wake_outbox: Callable[[], None],
        on_closed: Callable[[str], None] = lambda _request_id: None,
    ) -> None:
        self.storage = storage
        self.clock = clock
        self.poll_interval = poll_interval
        self.wake_thread = wake_thread
        self.wake_outbox = wake_outbox
        self.on_closed = on_closed
        self._outage = OutageLog(log, "database (timers)")

    async def tick(self) -> list[FiredTimer]:
        """Fire every timer due now; what they did."""
        fired: list[FiredTimer] = []
        while True:
            batch = await self.storage.fire_due_timers(self.clock.now(), timer_outbox, limit=BATCH)
            fired.extend(batch)
            for timer in batch:
                if timer.outcome != "fired":
                    continue
                log.info("request %s: %s timer fired", timer.request_id, timer.kind)
                self.wake_thread(timer.thread_id)
                if timer.kind == "expire":
                    self.on_closed(timer.request_id)
            if any(t.messages for t in batch):
                self.wake_outbox()
            if len(batch) < BATCH:
                return fired

    async def run(self) -> None:
        while True:
            try:
                await self.tick()
                self._outage.succeeded()
            except DatabaseUnavailable as exc:
                self._outage.failed(exc)
            except Exception:  # a bug must not stop the clock: the next tick tries again
                log.exception("the timers' tick failed")
            await asyncio.sleep(self.poll_interval)
