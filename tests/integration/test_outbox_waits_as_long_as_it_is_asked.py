"""A message the other side says to send later is tried again then, not on the backoff's schedule.

Slack answers 429 with `Retry-After: 30` (the fake Slack Web API; a day is held to an hour); our own outbound mail limit is
full for the next 3,500 s (a real SMTP server, aiosmtpd). Either way the outbox row's next attempt
is put where it was asked to be (before: 1 to 2 s later, so a rate-limited mail used up its 12
attempts within 37 minutes while the hourly window was still full, and was given up).
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime

import pytest
from slack_sdk.web.async_client import AsyncWebClient

from agent.events import AgentReply, HumanMessage
from bot.dispatcher import MAX_RETRY_AFTER, Dispatcher
from bot.email_wiring import StoreMailIndex
from channels.email.addresses import Mailbox
from channels.email.deliver import SmtpChannel
from channels.email.limits import OutboundRateLimit
from channels.email.mailer import EmailConfig, Mailer
from channels.email.smtp_send import SmtpSettings
from channels.email.threads import received_key
from channels.slack.deliver import SlackChannel
from storage.async_store import AsyncStore
from storage.store import OutboxDraft, Store
from tests.support.fake_slack import FakeSlack
from tests.support.smtp_server import SmtpServer

AGENT, BOB, ROOT = "agent@example.test", "bob@corp.example", "<root@corp.example>"

pytestmark = pytest.mark.filterwarnings("ignore:Session.login_data is deprecated:DeprecationWarning")


@pytest.fixture
def fake() -> Iterator[FakeSlack]:
    with FakeSlack() as server:
        yield server


@pytest.fixture
def smtp() -> Iterator[SmtpServer]:
    server = SmtpServer.start()
    yield server
    server.stop()


def seconds_from_now(moment: datetime) -> float:
    return (moment - datetime.now(UTC)).total_seconds()


@pytest.mark.parametrize(("asked", "waited"), [(30, 30.0), (86_400, MAX_RETRY_AFTER)])
async def test_slack_retry_after_is_waited_up_to_an_hour(
    store: Store, fake: FakeSlack, asked: int, waited: float
) -> None:
    row = store.create_thread(
        agent="ops",
        first=HumanMessage(text="restart web", by="U0BOB"),
        requested_by="U0BOB",
        origin_channel="slack",
        origin_key="T1:C1:1700000000.000100",
        origin_data={"channel": "C1", "thread_ts": "1700000000.000100", "team": "T1"},
    )
    assert row is not None
    store.append(row.id, [AgentReply(text="done")], outbox=[OutboxDraft("slack", "reply", text="done")])
    fake.fail_next("chat.postMessage", error="ratelimited", retry_after=asked)
    channel = SlackChannel(AsyncWebClient(token=fake.bot_token, base_url=fake.api_url))

    assert await Dispatcher(AsyncStore(store, threads=2), {"slack": channel}).drain() == 0
    (outbox,) = store.outbox_for_thread(row.id)
    assert (outbox.status, outbox.attempts) == ("pending", 1)
    assert waited - 1 < seconds_from_now(outbox.next_attempt_at) <= waited


async def test_mail_over_the_hourly_thread_limit_waits_until_the_window_has_room(
    store: Store, smtp: SmtpServer
) -> None:
    clock = [0.0]
    index = StoreMailIndex(AsyncStore(store, threads=2), Mailbox(AGENT))
    mailer = Mailer(
        EmailConfig(address=AGENT, secret="s"),
        SmtpSettings(host=smtp.host, port=smtp.port, tls="off", timeout=5),
        index,
        rate=OutboundRateLimit(1, 0, clock=lambda: clock[0]),  # one mail per thread per hour
    )
    thread = store.create_thread(
        agent="ops",
        first=HumanMessage(text="restart payments", by=BOB, channel="email"),
        requested_by=BOB,
        origin_channel="email",
        origin_key=ROOT,
        origin_data={"subject": "payments", "participants": [BOB], "references": []},
        receipt_key=received_key(ROOT),
    )
    assert thread is not None
    dispatcher = Dispatcher(AsyncStore(store, threads=2), {"email": SmtpChannel(mailer, index)})
    store.append(thread.id, [AgentReply(text="first")], outbox=[OutboxDraft("email", "reply", text="first")])
    assert await dispatcher.drain() == 1  # the first goes out at 0 s
    clock[0] = 100.0
    store.append(thread.id, [AgentReply(text="second")], outbox=[OutboxDraft("email", "reply", text="second")])
    assert await dispatcher.drain() == 0  # the second, 100 s later, is over the limit
    first, second = store.outbox_for_thread(thread.id)
    assert (first.status, second.status, second.attempts) == ("sent", "pending", 1)
    assert "SIGNOFF_EMAIL_THREAD_RATE_LIMIT" in (second.last_error or "")
    assert 3499 < seconds_from_now(second.next_attempt_at) <= 3500  # when the first is an hour old
    assert len(smtp.messages) == 1
