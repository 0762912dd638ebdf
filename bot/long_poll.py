"""Long polls on standalone requests (`GET /api/approvals/{id}?wait=30`): answer as soon as it is decided.

A waiter sleeps on an `asyncio.Event`, set by `notify` when this process records a decision (the
core's `on_decided`) or an expiry. A decision made elsewhere (another replica, the CLI) is seen by
one poller shared by every waiter: a single query for all the requests waited on, every
`interval` seconds, running only while someone waits. So a thousand waiters cost one query a
second, never a loop each.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable, Sequence

from storage.errors import DatabaseUnavailable

log = logging.getLogger(__name__)

DecidedAmong = Callable[[Sequence[str]], Awaitable[list[str]]]


class TooManyWaiters(Exception):
    """More long polls at once than the server keeps (`max_waiters`)."""


class Waiters:
    def __init__(self, decided_among: DecidedAmong, *, interval: float = 1.0, max_waiters: int = 1000) -> None:
        self.decided_among = decided_among
        self.interval = interval
        self.max_waiters = max_waiters
        self._events: dict[str, asyncio.Event] = {}
        self._counts: dict[str, int] = {}
        self._poller: asyncio.Task[None] | None = None
        self._loop: asyncio.AbstractEventLoop | None = None

    @property
    def waiting(self) -> int:
        return sum(self._counts.values())

    def notify(self, request_id: str) -> None:
        """A request was decided; safe to call from any thread."""
        if self._loop is not None:
            self._loop.call_soon_threadsafe(self._set, request_id)

    def _set(self, request_id: str) -> None:
        event = self._events.get(request_id)
        if event is not None:
            event.set()

    async def wait(self, request_id: str, seconds: float) -> bool:
        """Wait up to `seconds` for the request to be decided; whether it was signalled."""
        if self.waiting >= self.max_waiters:
            raise TooManyWaiters(f"{self.max_waiters} long polls are already waiting")
        self._loop = asyncio.get_running_loop()
        event = self._events.setdefault(request_id, asyncio.Event())
        self._counts[request_id] = self._counts.get(request_id, 0) + 1
        if self._poller is None or self._poller.done():
            self._poller = asyncio.create_task(self._poll(), name="long-poll")
        try:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(event.wait(), seconds)
            return event.is_set()
        finally:
            self._counts[request_id] -= 1
            if not self._counts[request_id]:
                del self._counts[request_id]
                self._events.pop(request_id, None)

    async def _poll(self) -> None:
        """One query for every request waited on, while anyone waits."""
        while self._counts:
            await asyncio.sleep(self.interval)
            ids = list(self._counts)
            if not ids:
                break
            try:
                decided = await self.decided_among(ids)
            except DatabaseUnavailable as exc:
                log.warning("long poll: cannot read decisions: %s", exc)
                continue
            for request_id in decided:
                self._set(request_id)

    async def close(self) -> None:
        if self._poller is not None:
            self._poller.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._poller
