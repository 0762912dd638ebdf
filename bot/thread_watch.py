"""Long polls on threads: `GET /api/threads/{id}?wait=30` answers when the thread's status changes.

The steps that change a status may run in another process (a worker process, another replica,
the CLI), so the change is seen in the database: one query every `interval` for all the threads
being waited on together, however many clients wait, and none while nobody waits.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections import defaultdict

from storage.async_store import AsyncStore

log = logging.getLogger(__name__)


class ThreadWatch:
    def __init__(self, storage: AsyncStore, *, interval: float = 0.05) -> None:
        self.storage = storage
        self.interval = interval
        self._waiters: dict[str, list[tuple[str, asyncio.Future[str]]]] = defaultdict(list)
        self._poller: asyncio.Task[None] | None = None

    async def changed(self, thread_id: str, status: str, within: float) -> str | None:
        """The thread's new status once it is no longer `status`, or None after `within` seconds."""
        future: asyncio.Future[str] = asyncio.get_running_loop().create_future()
        entry = (status, future)
        self._waiters[thread_id].append(entry)
        if self._poller is None or self._poller.done():
            self._poller = asyncio.create_task(self._poll(), name="thread-watch")
        try:
            return await asyncio.wait_for(future, within)
        except TimeoutError:
            return None
        finally:
            waiting = self._waiters.get(thread_id, [])
            with contextlib.suppress(ValueError):
                waiting.remove(entry)
            if not waiting:
                self._waiters.pop(thread_id, None)

    async def _poll(self) -> None:
        while self._waiters:
            await asyncio.sleep(self.interval)
            try:
                statuses = await self.storage.thread_statuses(list(self._waiters))
            except Exception as exc:  # the database is down: the waits end by their timeout
                log.warning("watching threads for their status failed: %s", exc)
                continue
            for thread_id, now in statuses.items():
                for known, future in self._waiters.get(thread_id, []):
                    if now != known and not future.done():
                        future.set_result(now)
