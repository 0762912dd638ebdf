"""Build the threads of messages acknowledged on one INSERT (storage/intake.py), right after the ack.

A Slack mention is acknowledged as soon as its row is in the intake; this turns the intake
into threads: woken by a recorded message, it waits 0.1 s for more (fewer, larger transactions
leave more CPU to the acks; the model call that follows takes longer than that), then builds up to
a batch in one transaction and wakes the worker for each new thread. It drains the queue when
the process starts (messages acknowledged before a crash) and polls for rows another replica left
behind or a failed build kept (the database was down). One drain at a time in this process.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable

from bot import failpoints
from bot.outage_log import OutageLog
from channels.base import Origin
from storage.async_store import AsyncStore
from storage.errors import DatabaseUnavailable
from storage.intake import Built, Queued

log = logging.getLogger(__name__)

Receive = Callable[..., Awaitable[str | None]]


def _crash_point() -> None:
    failpoints.hit("before_thread_built")


class ThreadBuilder:
    def __init__(
        self,
        storage: AsyncStore,
        agent: str | Callable[[Queued], str],
        *,
        wake_thread: Callable[[str], None],
        receive: Receive,
        poll_interval: float = 0.5,
        batch: int = 32,
        window: float = 0.1,
    ) -> None:
        self.storage = storage
        self.queue = storage.intake
        self.agent = agent
        self.wake_thread = wake_thread
        self.receive = receive
        self.poll_interval = poll_interval
        self.batch = batch
        self.window = window
        self._wanted = asyncio.Event()
        self._lock = asyncio.Lock()
        self._outage = OutageLog(log, "database (acknowledged messages wait for their threads)")

    def wake(self) -> None:
        """A message was queued (call on the event loop)."""
        self._wanted.set()

    async def run(self) -> None:
        while True:
            try:
                await self.drain()
                self._outage.succeeded()
            except DatabaseUnavailable as exc:
                self._outage.failed(exc)
            except Exception:
                log.exception("building threads failed; will retry")
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wanted.wait(), timeout=self.poll_interval)
                await asyncio.sleep(self.window)  # let a burst gather into one transaction
            self._wanted.clear()

    async def drain(self) -> int:
        """Build every queued message; the number of threads started."""
        started = 0
        async with self._lock:
            while True:
                built: Built = await self.storage.run(
                    self.queue.build, self.agent, limit=self.batch, on_claimed=_crash_point
                )
                for thread_id, _ in built.threads:
                    self.wake_thread(thread_id)
                if built.threads:
                    log.info(
                        "threads started: %s",
                        ", ".join(f"{tid} by {row.by} via {row.origin_channel}" for tid, row in built.threads),
                    )
                started += len(built.threads)
                # A conversation started another way meanwhile (its thread exists, so this never
                # drains again): the message joins that thread, once by its key.
                for row in built.leftovers:
                    origin = Origin(row.origin_channel, row.origin_key, row.origin_data)
                    await self.receive(receipt_key=row.key, origin=origin, text=row.text, by=row.by)
                    await self.storage.run(self.queue.forget, [row.key])
                if len(built.threads) + built.duplicates + len(built.leftovers) < self.batch:
                    return started
