"""Schedules: a cron expression per entry fires a thread of its agent, once across replicas.

Every replica checks each `interval` seconds (one ingress per replica runs this). A schedule's
latest due time not dealt with yet (after `last_due` and after the schedule was first seen) is:
- on time (due at most `grace` ago): fired;
- late (the bot was down over it): fired once with `catch_up = "once"`, else skipped and recorded.
Only the latest missed time counts, however many were missed. The firing is made once by its
receipt (`schedule:<name>:<due>`): two replicas firing the same time make one thread; then the
schedule's row moves forward (storage/schedules.py). Times are UTC.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Literal

from croniter import croniter

from bot.core import SignoffCore
from bot.deployment import ScheduleEntry
from bot.outage_log import OutageLog
from bot.triggers import SCHEDULE_CHANNEL, trigger_humans, trigger_origin
from storage.async_store import AsyncStore
from storage.errors import DatabaseUnavailable
from storage.schedule_models import ScheduleRow
from storage.schedules import Schedules

log = logging.getLogger(__name__)

Action = Literal["fire", "skip"]


def _utc(value: datetime) -> datetime:
    return value.astimezone(UTC) if value.tzinfo else value.replace(tzinfo=UTC)


def latest_due(cron: str, now: datetime) -> datetime:
    """The latest time at or before `now` the expression matches."""
    found: datetime = croniter(cron, now + timedelta(microseconds=1)).get_prev(datetime)
    return _utc(found)


def next_due(cron: str, now: datetime) -> datetime:
    found: datetime = croniter(cron, now).get_next(datetime)
    return _utc(found)


def decide(entry: ScheduleEntry, row: ScheduleRow, now: datetime, grace: timedelta) -> tuple[Action, datetime] | None:
    """What to do about a schedule now: pure."""
    due = latest_due(entry.cron, now)
    start = max(row.since, row.last_due) if row.last_due else row.since
    if due <= start:
        return None
    if now - due <= grace or entry.catch_up == "once":
        return "fire", due
    return "skip", due


@dataclass
class Scheduler:
    core: SignoffCore
    storage: AsyncStore
    schedules: dict[str, ScheduleEntry]
    interval: float = 15.0
    grace: timedelta = timedelta(seconds=90)
    now: Callable[[], datetime] = lambda: datetime.now(UTC)

    def __post_init__(self) -> None:
        self.table = Schedules(self.storage.store.db)
        self._outage = OutageLog(log, "database (schedules)")

    async def run(self) -> None:
        while True:
            try:
                await self.tick()
                self._outage.succeeded()
            except DatabaseUnavailable as exc:
                self._outage.failed(exc)
            except Exception:
                log.exception("schedules: a check failed; trying again in %gs", self.interval)
            await asyncio.sleep(self.interval)

    async def tick(self) -> int:
        """Deal with every schedule due now; the number of threads this replica started."""
        now = self.now()
        await self.storage.run(self.table.ensure, list(self.schedules), now)
        rows = await self.storage.run(self.table.all)
        started = 0
        for name, entry in self.schedules.items():
            choice = decide(entry, rows[name], now, self.grace)
            if choice is None:
                continue
            action, due = choice
            if action == "skip":
                if await self.storage.run(self.table.advance, name, due, "skipped", None, now):
                    log.warning(
                        "schedule %s: its time %s passed while the bot was down; skipped (catch_up = skip)",
                        name,
                        due.isoformat(),
                    )
                continue
            thread_id, new = await self._fire(name, entry, due)
            started += new
            await self.storage.run(self.table.advance, name, due, "fired", thread_id, now)
        return started

    async def _fire(self, name: str, entry: ScheduleEntry, due: datetime) -> tuple[str | None, bool]:
        stamp = due.strftime("%Y-%m-%dT%H:%M:%SZ")
        receipt = f"schedule:{name}:{stamp}"
        origin = trigger_origin(SCHEDULE_CHANNEL, name, stamp, entry.ask, f"[{name}] {entry.message[:100]}")
        thread_id = await self.core.receive_message(
            receipt_key=receipt,
            origin=origin,
            text=entry.message,
            by=f"schedule:{name}",
            agent=entry.agent,
            humans=trigger_humans(entry.ask),
            trigger=receipt,
        )
        if thread_id is None:  # another replica fired it (or this one, before a crash)
            return await self.storage.receipt_thread(receipt), False
        log.info("schedule %s: fired for %s, thread %s (agent %s)", name, stamp, thread_id, entry.agent)
        return thread_id, True
