"""Messages whose send failed together are tried again apart, at times kept in their outbox rows.

Two replies for two Slack threads meet a Slack that answers 503 (the fake Slack Web API, through
the real SlackChannel). The dispatcher's schedule (`OUTBOX_BACKOFF`, a `retry_backoff.Backoff`
with a random source injected here) puts each row's next attempt somewhere in the upper half of
the window, stored in the row: a dispatcher started afresh (a restart, another replica) sends
each one when its own time comes, not before.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import pytest
from slack_sdk.web.async_client import AsyncWebClient

from agent.events import AgentReply, HumanMessage
from bot.dispatcher import MAX_ATTEMPTS, OUTBOX_BACKOFF, Dispatcher
from channels.slack.deliver import SlackChannel
from retry_backoff import Backoff
from storage.async_store import AsyncStore
from storage.store import OutboxDraft, Store
from tests.support.fake_slack import FakeSlack


@pytest.fixture
def fake() -> Iterator[FakeSlack]:
    with FakeSlack() as server:
        yield server


def slack_thread(store: Store, ts: str) -> str:
    row = store.create_thread(
        agent="ops",
        first=HumanMessage(text="restart web", by="U0BOB"),
        requested_by="U0BOB",
        origin_channel="slack",
        origin_key=f"T1:C1:{ts}",
        origin_data={"channel": "C1", "thread_ts": ts, "team": "T1"},
    )
    assert row is not None
    store.append(row.id, [AgentReply(text=f"done {ts}")], outbox=[OutboxDraft("slack", "reply", text=f"done {ts}")])
    return row.id


async def test_rows_that_failed_together_are_retried_apart_on_their_stored_schedule(
    store: Store, fake: FakeSlack
) -> None:
    threads = [slack_thread(store, "1700000000.000100"), slack_thread(store, "1700000000.000200")]
    draws = iter([0.0, 0.99])  # one row at the bottom of its window, one near the top
    backoff = Backoff(initial=6.0, cap=600.0, rng=lambda: next(draws))
    channel = SlackChannel(AsyncWebClient(token=fake.bot_token, base_url=fake.api_url))
    fake.fail_next("chat.postMessage", status=503, times=2)

    before = datetime.now(UTC)
    assert await Dispatcher(AsyncStore(store, threads=2), {"slack": channel}, backoff=backoff).drain() == 0
    after = datetime.now(UTC)

    first, second = rows = [store.outbox_for_thread(t)[0] for t in threads]
    assert [(r.status, r.attempts) for r in rows] == [("pending", 1), ("pending", 1)]
    # The first failure's window is (3 s, 6 s]: 3.0 s and 5.97 s after the failure.
    for row, wait in zip(rows, [3.0, 5.97], strict=True):
        assert before + timedelta(seconds=wait) <= row.next_attempt_at <= after + timedelta(seconds=wait)
    assert store.due_outbox() == []

    fresh = Dispatcher(
        AsyncStore(store, threads=2), {"slack": channel}
    )  # as after a restart: the schedule is in the rows
    await asyncio.sleep(seconds_until(first.next_attempt_at))
    assert await fresh.drain() == 1
    assert [store.outbox_for_thread(t)[0].status for t in threads] == ["sent", "pending"]
    await asyncio.sleep(seconds_until(second.next_attempt_at))
    assert await fresh.drain() == 1
    assert [store.outbox_for_thread(t)[0].status for t in threads] == ["sent", "sent"]
    assert len(fake.calls_to("chat.postMessage")) == 4


def test_a_message_is_given_up_between_18_and_37_minutes_after_its_first_failure() -> None:
    # What README and docs/reliability.md promise: 11 waits of up to 2 s, 4 s, ... 512 s, 10 min,
    # 10 min, each at least half its ceiling, then the 12th attempt is the last.
    ceilings = [OUTBOX_BACKOFF.ceiling(n) for n in range(1, MAX_ATTEMPTS)]
    assert ceilings == [2, 4, 8, 16, 32, 64, 128, 256, 512, 600, 600]
    assert sum(ceilings) / 2 / 60 == pytest.approx(18.5, abs=0.1) and sum(ceilings) / 60 == pytest.approx(37, abs=0.1)


def seconds_until(moment: datetime) -> float:
    return max(0.0, (moment - datetime.now(UTC)).total_seconds()) + 0.05
