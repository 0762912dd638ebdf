"""Send what the outbox holds through the channels, after the state change that caused it committed.

A row is claimed for a while, sent, then marked sent with the references the channel returns
(Slack ts, email Message-ID). A temporary failure is retried with backoff (`OUTBOX_BACKOFF`: the
n-th failure waits between half and all of min(10 min, 2**n s), or longer when the channel says
when to come back (`retry_after`); the time of the next attempt is kept in the row, so a restart
keeps the schedule; after `MAX_ATTEMPTS` it is given up); a permanent one is
marked failed, logged, and recorded on the thread as a `delivery_failed` event (a note the agent
ignores: it neither changes the thread's status nor calls the model). A message that went out but
not to everyone (the channel's references list them under `refused`) is marked sent, not retried,
and the ones it missed get the same note.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable, Mapping
from datetime import timedelta

from agent.events import DeliveryFailed
from bot import failpoints
from bot.identity import expand
from bot.metrics import Metrics
from bot.outage_log import OutageLog
from bot.views import origin_of, request_view
from channels.base import CLOCK_KINDS, Channel, HumanRequestView, Outbound, clock_note, clock_people
from channels.errors import PermanentDeliveryError, RetryableDeliveryError
from retry_backoff import Backoff
from storage.async_store import AsyncStore
from storage.errors import DatabaseUnavailable
from storage.models import OutboxRow, RequestRow, utcnow
from storage.people_models import PersonRow

log = logging.getLogger(__name__)

CLAIM = timedelta(seconds=60)
MAX_ATTEMPTS = 12
# 2 s, 4 s, 8 s, ... up to 10 min between tries, each somewhere in its upper half: replicas and
# rows that failed together (an SMTP server or Slack down) do not all come back in the same second.
OUTBOX_BACKOFF = Backoff(initial=2.0, cap=600.0)
# A wait the other side asks for (Slack's Retry-After, our own hourly mail limits) is kept when it
# is longer than the schedule's, up to an hour: a remote server cannot park a message for days.
MAX_RETRY_AFTER = 3600.0


def _aliases(names: list[str], people: Mapping[str, PersonRow]) -> dict[str, tuple[str, ...]]:
    """Each name with every name its person goes by (itself first)."""
    return {name: tuple(expand([name], people)) for name in names}


def _shows_outcome(row: OutboxRow, request: RequestRow) -> bool:
    """Whether this message shows an approved request's outcome (and so any grant given with it)."""
    return request.status == "approved" and row.kind in ("decision", "copy", "copy_update", "approval_request")


def _answered(request: RequestRow) -> list[str]:
    """Everyone who approved (toward N) or decided a request, as recorded."""
    names = [str(a.get(k) or "") for a in request.approvals or [] for k in ("by", "person")]
    return list(dict.fromkeys(n for n in [*names, request.decided_by or ""] if n))


class Dispatcher:
    def __init__(
        self,
        storage: AsyncStore,
        channels: Mapping[str, Channel],
        *,
        poll_interval: float = 0.5,
        metrics: Metrics | None = None,
        claim: timedelta = CLAIM,
        backoff: Backoff = OUTBOX_BACKOFF,
        view: Callable[[HumanRequestView, str], HumanRequestView] = lambda request, _agent: request,
        speakers: bool = False,
    ) -> None:
        self.storage = storage
        # Several agents: each message names the one that speaks (the thread's).
        self.speakers = speakers
        # What the thread's agent adds to a request's view before a channel renders it: the grants it allows.
        self.view = view
        self.claim = claim
        self.backoff = backoff
        self.channels = channels
        self.poll_interval = poll_interval
        self.metrics = metrics or Metrics()
        self._nudge: asyncio.Event | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._warned: set[str] = set()
        self._outage = OutageLog(log, "database (outbox)")

    def wake(self) -> None:
        if self._loop is not None and self._nudge is not None:
            self._loop.call_soon_threadsafe(self._nudge.set)

    async def run(self) -> None:
        self._loop = asyncio.get_running_loop()
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
        while True:
            rows = await self.storage.due_outbox(limit=20)
            rows = [r for r in rows if r.channel in self.channels or self._warn_missing(r)]
            if not rows:
                return sent
            for row in rows:
                if await self.deliver(row):
                    sent += 1

    def _warn_missing(self, row: OutboxRow) -> bool:
        if row.channel not in self._warned:
            self._warned.add(row.channel)
            log.warning("outbox has messages for channel %r, which is not configured here", row.channel)
        return False

    async def deliver(self, row: OutboxRow) -> bool:
        assert row.id is not None
        if not await self.storage.claim_outbox(row.id, self.claim):
            return False
        message = await self.storage.run(self._outbound, row)
        channel = self.channels[row.channel]
        try:
            refs = await channel.deliver(message)
        except PermanentDeliveryError as exc:
            await self._give_up(row, exc, row.attempts + 1)
            return False
        except Exception as exc:  # temporary by default: a network blip must not lose a message
            attempts = row.attempts + 1
            if attempts >= MAX_ATTEMPTS:
                await self._give_up(row, exc, attempts)
                return False
            delay = self.backoff.delay(attempts)
            if isinstance(exc, RetryableDeliveryError) and exc.retry_after is not None:
                delay = max(delay, min(exc.retry_after, MAX_RETRY_AFTER))  # as asked, within reason
            log.warning(
                "%s %s message %d for thread %s failed (%s); retrying in %.0fs",
                row.channel,
                row.kind,
                row.id,
                row.thread_id,
                exc,
                delay,
            )
            await self.storage.outbox_failed(row.id, str(exc), retry_at=utcnow() + timedelta(seconds=delay))
            self.metrics.deliveries.labels(channel=row.channel, outcome="retry").inc()
            return False
        failpoints.hit("after_send")
        refused = (refs or {}).get("refused")
        note = self._partly_sent(row, refused) if refused else None
        await self.storage.outbox_sent(row.id, refs or {}, note=note)
        self.metrics.deliveries.labels(channel=row.channel, outcome="partial" if note else "sent").inc()
        lag = (utcnow() - row.created_at).total_seconds()
        self.metrics.outbox_lag_seconds.labels(channel=row.channel).observe(max(lag, 0.0))
        return True

    def _partly_sent(self, row: OutboxRow, refused: list[str]) -> DeliveryFailed:
        """Sent, so not retried (those who got it would get it again); said on the thread: the
        recipients it missed never got this message."""
        error = f"not delivered to {'; '.join(refused)}"
        log.error("%s %s message %d for thread %s sent, but %s", row.channel, row.kind, row.id, row.thread_id, error)
        return DeliveryFailed(channel=row.channel, kind=row.kind, error=error[:1000], attempts=row.attempts + 1)

    async def _give_up(self, row: OutboxRow, exc: Exception, attempts: int) -> None:
        """Marked failed, and said on the thread: its humans never got this message."""
        assert row.id is not None
        log.error(
            "giving up on %s %s message %d for thread %s after %d attempt(s): %s",
            row.channel,
            row.kind,
            row.id,
            row.thread_id,
            attempts,
            exc,
        )
        note = DeliveryFailed(channel=row.channel, kind=row.kind, error=str(exc)[:1000], attempts=attempts)
        await self.storage.outbox_failed(row.id, str(exc), retry_at=None, note=note)
        self.metrics.deliveries.labels(channel=row.channel, outcome="failed").inc()

    def _outbound(self, row: OutboxRow) -> Outbound:
        """The message as its channel takes it (runs on a storage thread: two reads)."""
        store = self.storage.store
        thread = store.get_thread(row.thread_id)
        assert thread is not None and row.id is not None
        request = store.get_request(row.request_id) if row.request_id else None
        grant = store.grant_given_with(request.id) if request is not None and _shows_outcome(row, request) else None
        people, slack_channel = clock_people(row.text) if row.kind in CLOCK_KINDS else ([], None)
        if row.kind == "copy_update" and request is not None:  # a copy's update: who answered already
            people = _answered(request)
        note = clock_note(row.text) if row.kind in CLOCK_KINDS else ""
        return Outbound(
            id=row.id,
            thread_id=row.thread_id,
            kind=row.kind,  # type: ignore[arg-type]
            origin=origin_of(thread),
            text=row.text,
            request=self.view(request_view(request, store.people_for(request.allowed), grant), thread.agent)
            if request
            else None,
            attempts=row.attempts,
            people=tuple(people),
            aliases=_aliases(people, store.people_for(people) if people else {}),
            slack_channel=slack_channel,
            note=note,
            speaker=thread.agent if self.speakers else "",
        )
