"""A message sent again after its first attempt may have gone out (the sender died between the post
and marking the row sent) finds its earlier post by its metadata and returns that ts, instead of
posting twice. Against the fake Slack Web API, which keeps metadata and returns it as Slack does."""

from __future__ import annotations

from dataclasses import replace
from typing import Any

import pytest
from slack_sdk.web.async_client import AsyncWebClient

from channels.base import Outbound
from channels.errors import RetryableDeliveryError
from channels.slack.deliver import SlackChannel
from channels.slack.sent_before import EVENT_TYPE
from tests.integration.test_slack_delivery import ORIGIN, REQUEST, seeded_fake  # noqa: F401 (the `fake` fixture)
from tests.support.fake_slack import FakeSlack


def slack(fake: FakeSlack, **kw: Any) -> SlackChannel:
    return SlackChannel(AsyncWebClient(token=fake.bot_token, base_url=fake.api_url), **kw)


def outbound(kind: str, *, id: int = 7, attempts: int = 0, **kw: Any) -> Outbound:
    return Outbound(id=id, thread_id="thr-1", kind=kind, origin=ORIGIN, attempts=attempts, **kw)  # type: ignore[arg-type]


def posts_of(fake: FakeSlack, outbox_id: int) -> list[dict[str, Any]]:
    return [p for p in fake.calls_to("chat.postMessage") if p["metadata"]["event_payload"]["outbox_id"] == outbox_id]


async def test_every_post_names_its_outbox_row_and_a_first_attempt_does_not_look(fake: FakeSlack) -> None:
    refs = await slack(fake).deliver(outbound("reply", text="done"))
    [call] = fake.calls_to("chat.postMessage")
    assert call["metadata"] == {
        "event_type": EVENT_TYPE,
        "event_payload": {"outbox_id": 7, "thread_id": "thr-1", "part": "message"},
    }
    assert fake.messages[("C1", refs["ts"])]["metadata"] == call["metadata"]
    assert fake.calls_to("conversations.replies") == []


async def test_a_retry_after_the_post_went_out_finds_it_and_posts_nothing(fake: FakeSlack) -> None:
    channel = slack(fake)
    first = await channel.deliver(outbound("approval_request", request=REQUEST))
    other_row = await channel.deliver(outbound("reply", id=8, text="another row in the same thread"))
    again = await channel.deliver(outbound("approval_request", request=REQUEST, attempts=1))
    assert again == first and other_row["ts"] != first["ts"]
    assert len(posts_of(fake, 7)) == 1
    [lookup] = fake.calls_to("conversations.replies")
    assert lookup["ts"] == "1700000000.000100" and lookup["include_all_metadata"] in ("1", "true", True)


async def test_a_retry_whose_first_attempt_never_posted_posts_once(fake: FakeSlack) -> None:
    refs = await slack(fake).deliver(outbound("reply", text="done", attempts=1))
    [post] = posts_of(fake, 7)
    assert fake.messages[("C1", refs["ts"])]["text"] == post["text"] == "done"


async def test_a_routed_card_is_found_in_its_channel_and_its_note_in_the_thread(fake: FakeSlack) -> None:
    channel = slack(fake, approvals_channel="C0APPROVALS")
    first = await channel.deliver(outbound("approval_request", request=REQUEST))
    again = await channel.deliver(outbound("approval_request", request=REQUEST, attempts=2))
    assert again == first == {"channel": "C0APPROVALS", "ts": first["ts"], "routed": True}
    parts = sorted(p["metadata"]["event_payload"]["part"] for p in posts_of(fake, 7))
    assert parts == ["message", "note"]  # the card once, the note in the thread once
    assert [c["channel"] for c in fake.calls_to("conversations.history")] == ["C0APPROVALS"]

    decided = replace(REQUEST, status="approved", decided_by="U0ALICE", delivery={"approval_request": first})
    await channel.deliver(outbound("decision", id=9, request=decided))
    await channel.deliver(outbound("decision", id=9, request=decided, attempts=1))
    assert len(fake.calls_to("chat.update")) == 2  # an update is the same message however often it is sent
    assert [p["metadata"]["event_payload"]["part"] for p in posts_of(fake, 9)] == ["note"]


async def test_a_lookup_slack_rate_limits_is_retried_later_without_posting(fake: FakeSlack) -> None:
    fake.fail_next("conversations.replies", error="ratelimited")
    with pytest.raises(RetryableDeliveryError):
        await slack(fake).deliver(outbound("reply", text="done", attempts=1))
    assert fake.calls_to("chat.postMessage") == []


async def test_a_lookup_slack_refuses_for_good_posts_rather_than_never(fake: FakeSlack) -> None:
    fake.fail_next("conversations.replies", error="missing_scope")
    await slack(fake).deliver(outbound("reply", text="done", attempts=1))
    assert len(posts_of(fake, 7)) == 1


async def test_without_include_all_metadata_slack_shows_only_the_event_type(fake: FakeSlack) -> None:
    await slack(fake).deliver(outbound("reply", text="done"))
    client = AsyncWebClient(token=fake.bot_token, base_url=fake.api_url)
    plain = await client.conversations_replies(channel="C1", ts="1700000000.000100")
    assert plain["messages"][-1]["metadata"] == {"event_type": EVENT_TYPE}
    full = await client.conversations_replies(channel="C1", ts="1700000000.000100", include_all_metadata=True)
    assert full["messages"][-1]["metadata"]["event_payload"]["outbox_id"] == 7
