"""What a schedule does at a check: fire a due time once, and after downtime skip it or fire the
latest missed time once, as its catch-up policy says; nothing before it was first seen."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from bot.deployment import ScheduleEntry
from bot.scheduler import decide, latest_due, next_due
from storage.schedule_models import ScheduleRow

GRACE = timedelta(seconds=60)
SINCE = datetime(2026, 12, 1, 12, 0, tzinfo=UTC)


def entry(catch_up: str = "skip") -> ScheduleEntry:
    return ScheduleEntry.model_validate({"agent": "ops", "cron": "0 3 * * *", "message": "m", "catch_up": catch_up})


def row(last_due: datetime | None = None) -> ScheduleRow:
    return ScheduleRow(name="nightly", since=SINCE, last_due=last_due, updated_at=SINCE)


def test_due_times_are_utc_and_inclusive() -> None:
    at_three = datetime(2026, 12, 2, 3, 0, tzinfo=UTC)
    assert latest_due("0 3 * * *", at_three) == at_three
    assert latest_due("0 3 * * *", at_three - timedelta(seconds=1)) == at_three - timedelta(days=1)
    assert next_due("0 3 * * *", at_three) == at_three + timedelta(days=1)


def test_on_time_it_fires_and_then_waits_for_the_next_time() -> None:
    due = datetime(2026, 12, 2, 3, 0, tzinfo=UTC)
    assert decide(entry(), row(), due + timedelta(seconds=10), GRACE) == ("fire", due)
    assert decide(entry(), row(last_due=due), due + timedelta(seconds=20), GRACE) is None


def test_nothing_before_the_schedule_was_first_seen() -> None:
    assert decide(entry("once"), row(), SINCE + timedelta(hours=1), GRACE) is None


def test_after_downtime_skip_skips_and_once_fires_the_latest_missed_time_once() -> None:
    now = datetime(2026, 12, 5, 9, 0, tzinfo=UTC)  # down since before the 3rd's firing
    latest = datetime(2026, 12, 5, 3, 0, tzinfo=UTC)
    last = datetime(2026, 12, 2, 3, 0, tzinfo=UTC)
    assert decide(entry("skip"), row(last_due=last), now, GRACE) == ("skip", latest)
    assert decide(entry("once"), row(last_due=last), now, GRACE) == ("fire", latest)
    assert decide(entry("once"), row(last_due=latest), now, GRACE) is None
