"""Socket Mode (SLACK_APP_TOKEN, no public URL): the bot connects to the websocket Slack hands out
(`apps.connections.open` on SLACK_API_URL), acks each envelope once it is recorded, and works the
same: mention -> card -> Approve -> reply in the thread. A retried envelope is one event."""

from __future__ import annotations

import asyncio
import time

import pytest

from channels.slack.blocks import APPROVE_ACTION_ID
from tests.support.fake_model import FakeModelServer, text, tool_call
from tests.support.fake_slack import FakeSlack
from tests.support.signoff_process import wait_until
from tests.support.slack_requests import app_mention, block_actions, event_callback
from tests.support.slack_signoff import (
    ALICE,
    BOB,
    MakeSlackBot,
    SlackSignoff,
    button_value,
    posted,
    wait_for_card,
)


@pytest.fixture
def bot(make_slack_bot: MakeSlackBot) -> SlackSignoff:
    return make_slack_bot(http=False, socket_mode=True)


def send(fake: FakeSlack, kind: str, payload: dict, **kw: object) -> tuple[dict, float]:  # type: ignore[type-arg]
    """Deliver an envelope and wait for its ack; returns the ack and the seconds it took."""

    async def roundtrip() -> tuple[dict, float]:  # type: ignore[type-arg]
        started = time.perf_counter()
        envelope_id = await fake.send_envelope(kind, payload, **kw)  # type: ignore[arg-type]
        ack = await fake.wait_for_ack(envelope_id)
        return ack, time.perf_counter() - started

    return asyncio.run(roundtrip())


def test_socket_mode_mention_card_approve_reply(bot: SlackSignoff, fake: FakeSlack, model: FakeModelServer) -> None:
    model.script(
        tool_call("restart_service", {"name": "search", "reason": "search is slow"}), text("Restarted search.")
    )
    asyncio.run(fake.wait_for_socket(timeout=15))
    assert fake.calls_to("apps.connections.open")  # through SLACK_API_URL, with the app token

    mention = app_mention("<@UBOT> restart search", user=BOB, channel="C7")
    body = event_callback(mention, "Ev0SOCKET")
    ack, took = send(fake, "events_api", body)
    assert took < 3.0
    # Slack redelivers an envelope it thinks was lost: still one event.
    send(fake, "events_api", body, retry_attempt=1, retry_reason="timeout")

    [(card_at, card)] = wait_for_card(fake)
    assert card_at[0] == "C7" and card["thread_ts"] == mention["ts"]
    click = block_actions(
        APPROVE_ACTION_ID, button_value(card), user=ALICE, channel="C7", message_ts=card_at[1], thread_ts=mention["ts"]
    )
    send(fake, "interactive", click)

    thread = bot.wait_status(bot.only_thread()["id"], "done")
    assert [e["type"] for e in thread["events"]].count("human_message") == 1
    assert [e["by"] for e in thread["events"] if e["type"] == "approval_decided"] == [ALICE]
    wait_until(lambda: [m for _, m in posted(fake) if m["text"] == "Restarted search."], message="the reply")
    fake.wait_for_sync("chat.update")
