"""Socket Mode keeps trying to connect while Slack refuses, with jittered, capped waits, then connects.

The fake Slack Web API refuses `apps.connections.open` three times; the service waits by
`retry_backoff.Backoff` (here with its random source pinned to the bottom of each window: half of
1 s, 2 s, 4 s) between tries, then opens the websocket on the fourth.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterator

import pytest
from slack_bolt.async_app import AsyncApp
from slack_sdk.web.async_client import AsyncWebClient

from channels.slack.connection import CONNECT_BACKOFF, socket_mode_service
from retry_backoff import Backoff
from tests.support.fake_slack import FakeSlack


@pytest.fixture
def fake() -> Iterator[FakeSlack]:
    with FakeSlack() as server:
        yield server


async def test_refused_connections_are_retried_after_growing_jittered_waits(fake: FakeSlack) -> None:
    client = AsyncWebClient(token=fake.bot_token, base_url=fake.api_url)
    app = AsyncApp(client=client, signing_secret="unused-in-socket-mode")
    waits: list[float] = []

    async def sleep(seconds: float) -> None:
        waits.append(seconds)

    fake.fail_next("apps.connections.open", error="internal_error", times=3)
    service = socket_mode_service(app, fake.app_token, client, backoff=Backoff(1.0, 60.0, rng=lambda: 0.0), sleep=sleep)
    task = asyncio.create_task(service())
    try:
        await fake.wait_for_socket(timeout=20)
        assert waits == [0.5, 1.0, 2.0]
        assert len(fake.calls_to("apps.connections.open")) == 4
    finally:
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task


def test_the_connect_schedule_is_capped_at_a_minute() -> None:
    assert [CONNECT_BACKOFF.ceiling(n) for n in (1, 2, 3, 6, 7, 8, 1000)] == [1, 2, 4, 32, 60, 60, 60]
