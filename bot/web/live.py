"""Live pages by server-sent events: a thread's page and "Waiting on me" follow what changes.

A page is rendered with its version (`data-version`): a thread's `status:last_seq`, or a stamp of the
threads waiting on people (`Store.waiting_version`). Its stream (`/live/threads/{id}`, `/live/waiting`)
sends the version now, then each new one, as `event: version`; the page's script (static/live.js)
reloads when a version differs from its own. Without JavaScript, the pages refresh themselves.

Threads are stepped in worker processes and on other replicas, so changes are read from the
database: one poller per process, one query for all the threads followed and one for the waiting
list every `interval` seconds, and none while no page listens. A stream ends after `lifetime`
seconds (the browser reconnects after `RETRY_MS`), and within a tick when the server stops, so an
open page never holds up a stop.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import time
from collections import Counter
from collections.abc import AsyncIterator

from storage.async_store import AsyncStore

log = logging.getLogger(__name__)

WAITING = "waiting"
RETRY_MS = 2000


def thread_key(thread_id: str) -> str:
    return f"thread:{thread_id}"


class LiveHub:
    def __init__(
        self,
        storage: AsyncStore,
        *,
        interval: float = 1.0,
        lifetime: float = 300.0,
        keepalive: float = 15.0,
        max_streams: int = 500,
    ) -> None:
        self.storage = storage
        self.interval = interval
        self.lifetime = lifetime
        self.keepalive = keepalive
        self.max_streams = max_streams
        self._listening: Counter[str] = Counter()
        self._versions: dict[str, str | None] = {}
        self._tick = asyncio.Event()
        self._poller: asyncio.Task[None] | None = None
        self.closing = False

    @property
    def streams(self) -> int:
        return sum(self._listening.values())

    def close(self) -> None:
        """The server stops: every stream ends within a tick."""
        self.closing = True
        self._tick.set()

    async def stream(self, key: str) -> AsyncIterator[str]:
        """The text of an event stream for `key` (`WAITING` or `thread_key(id)`); the caller keeps
        `streams` under `max_streams`."""
        self._listening[key] += 1
        if self._poller is None or self._poller.done():
            self._poller = asyncio.create_task(self._poll(), name="web-live")
        try:
            async for chunk in self._events(key):
                yield chunk
        finally:
            self._listening[key] -= 1
            if self._listening[key] <= 0:
                del self._listening[key]
                self._versions.pop(key, None)

    async def _events(self, key: str) -> AsyncIterator[str]:
        yield f"retry: {RETRY_MS}\n\n"
        started = last_out = time.monotonic()
        sent: str | None = None
        while not self.closing and time.monotonic() - started < self.lifetime:
            tick = self._tick
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(tick.wait(), self.keepalive)
            if self.closing:
                return
            version = self._versions.get(key)
            if version is not None and version != sent:
                sent, last_out = version, time.monotonic()
                yield f"event: version\ndata: {json.dumps(version)}\n\n"
            elif time.monotonic() - last_out >= self.keepalive:
                last_out = time.monotonic()
                yield ": still here\n\n"  # a comment: keeps proxies from closing a quiet stream

    async def _poll(self) -> None:
        """Read every followed version, wake the streams, wait; while anyone listens."""
        while self._listening and not self.closing:
            keys = list(self._listening)
            threads = [k.removeprefix("thread:") for k in keys if k.startswith("thread:")]
            try:
                versions = await self.storage.thread_versions(threads)
                waiting = await self.storage.waiting_version() if WAITING in self._listening else None
                # Only for pages still listening: one that left meanwhile keeps nothing here.
                found = {thread_key(t): versions.get(t) for t in threads} | {WAITING: waiting}
                self._versions.update({k: v for k, v in found.items() if k in self._listening})
            except Exception as exc:  # the database is down: the pages keep what they show
                log.warning("web inbox: reading what changed failed: %s", exc)
            tick, self._tick = self._tick, asyncio.Event()
            tick.set()
            await asyncio.sleep(self.interval)
