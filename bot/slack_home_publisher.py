"""Publish the Home tabs that are due (`storage.home_tabs`), at most once per person per interval.

Each replica's ingress (or the one process) runs this loop. A due row is claimed for a while, its
tab built from the database (`bot.slack_home`) and sent with `views.publish`, unless it equals what
was published last (a digest of the view: then nothing is sent). A change made while the tab was
being built leaves the row due, for the next interval. A 429 pauses every publish here for Slack's
Retry-After and puts the row off as long; another temporary failure is retried with the outbox's
backoff; a permanent one (the user left, the Home tab is off) waits for the next change or opening.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import json
import logging
import time
from collections.abc import Callable
from datetime import timedelta
from typing import Any

from slack_sdk.web.async_client import AsyncWebClient

from bot.outage_log import OutageLog
from bot.slack_home import SlackHome
from channels.errors import PermanentDeliveryError, RetryableDeliveryError
from channels.slack.home import home_view
from channels.slack.home_publish import publish
from retry_backoff import Backoff
from storage.async_store import AsyncStore
from storage.errors import DatabaseUnavailable
from storage.models import HomeTabRow, utcnow

log = logging.getLogger(__name__)

CLAIM = timedelta(seconds=60)
BACKOFF = Backoff(initial=2.0, cap=300.0)
MAX_RETRY_AFTER = 600.0


def view_digest(view: dict[str, Any]) -> str:
    return hashlib.sha256(json.dumps(view, sort_keys=True, separators=(",", ":")).encode()).hexdigest()


class HomePublisher:
    def __init__(
        self,
        storage: AsyncStore,
        client: AsyncWebClient,
        home: SlackHome,
        *,
        interval: float = 5.0,
        poll_interval: float = 0.5,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.storage = storage
        self.client = client
        self.home = home
        self.gap = timedelta(seconds=interval)
        self.poll_interval = poll_interval
        self.clock = clock
        self._paused_until = 0.0
        self._nudge: asyncio.Event | None = None
        self._outage = OutageLog(log, "database (Home tabs)")
        home.wake = self.wake

    def wake(self) -> None:
        if self._nudge is not None:
            self._nudge.set()

    async def run(self) -> None:
        self._nudge = asyncio.Event()
        while True:
            self._nudge.clear()
            try:
                await self.drain()
                self._outage.succeeded()
            except DatabaseUnavailable as exc:
                self._outage.failed(exc)
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._nudge.wait(), timeout=self.poll_interval)

    async def drain(self) -> int:
        sent = 0
        while self.clock() >= self._paused_until:
            rows = await self.storage.run(self.storage.store.due_home_tabs, gap=self.gap, limit=20)
            if not rows:
                break
            for row in rows:
                if self.clock() < self._paused_until:
                    break
                sent += await self.publish_one(row)
        return sent

    async def publish_one(self, row: HomeTabRow) -> int:
        """Build and publish one due tab; 1 when `views.publish` was called and succeeded."""
        store = self.storage.store
        version = await self.storage.run(store.claim_home_tab, row.user, CLAIM)
        if version is None:
            return 0  # another replica has it
        try:
            view = home_view(await self.home.facts(row.user, row.team))
            digest = view_digest(view)
            if digest == row.digest:
                await self.storage.run(store.home_tab_published, row.user, version, digest, sent=False)
                return 0
            await publish(self.client, row.user, view)
        except RetryableDeliveryError as exc:
            wait = BACKOFF.delay(row.attempts + 1)
            if exc.retry_after is not None:
                wait = max(min(exc.retry_after, MAX_RETRY_AFTER), self.gap.total_seconds())
                self._paused_until = self.clock() + wait  # Slack's limit is per app: every tab waits
            log.warning("Home tab of %s not published (%s); retrying in %.0fs", row.user, exc, wait)
            retry_at = utcnow() + timedelta(seconds=wait)
            await self.storage.run(store.home_tab_failed, row.user, str(exc), retry_at=retry_at)
            return 0
        except PermanentDeliveryError as exc:
            log.warning("Home tab of %s not published: %s", row.user, exc)
            await self.storage.run(store.home_tab_failed, row.user, str(exc), retry_at=None)
            return 0
        except DatabaseUnavailable:
            raise
        except Exception as exc:
            log.exception("Home tab of %s could not be built", row.user)
            retry_at = utcnow() + timedelta(seconds=BACKOFF.delay(row.attempts + 1))
            await self.storage.run(store.home_tab_failed, row.user, repr(exc), retry_at=retry_at)
            return 0
        await self.storage.run(store.home_tab_published, row.user, version, digest, sent=True)
        return 1
