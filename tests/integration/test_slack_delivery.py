"""SlackChannel.deliver against the fake Slack Web API: where each kind of message lands, what it
returns for later updates, and how Slack's failures map onto retry / give up."""

from __future__ import annotations

import json
import socket
from collections.abc import Iterator
from dataclasses import replace
from datetime import UTC, datetime

import pytest
from slack_sdk.web.async_client import AsyncWebClient

from agent.policy import allows
from channels.base import HumanRequestView, Origin, Outbound
from channels.errors import PermanentDeliveryError, RetryableDeliveryError
from channels.slack.deliver import SlackChannel
from channels.slack.identity import GroupMembership
from tests.support.fake_slack import FakeSlack
from tests.support.request_views import approval_view

AT = datetime(2025, 3, 4, 12, 30, tzinfo=UTC)
ORIGIN = Origin("slack", "T1:C1:1700000000.000100", {"channel": "C1", "thread_ts": "1700000000.000100", "team": "T1"})
REQUEST = approval_view(
    tool="deploy",
    arguments={"service": "web", "version": "<!channel> 4.0.0"},
    reason="Release <http://evil.example|the docs>",
)


@pytest.fixture(name="fake")
def seeded_fake(fake: FakeSlack) -> Iterator[FakeSlack]:
    """The shared fake, holding the mention the thread starts from; by the end, no invalid call."""
    fake.seed_message("C1", "@signoff deploy web", user="U0BOB", ts="1700000000.000100")
    yield fake
    assert fake.errors == []


def channel_for(fake: FakeSlack, **kw: object) -> SlackChannel:
    client = AsyncWebClient(token=fake.bot_token, base_url=fake.api_url)
    return SlackChannel(client, now=lambda: AT, **kw)  # type: ignore[arg-type]


def outbound(kind: str, request: HumanRequestView | None = None, text: str = "") -> Outbound:
    return Outbound(id=1, thread_id="thr-1", kind=kind, origin=ORIGIN, text=text, request=request)  # type: ignore[arg-type]


async def test_a_reply_goes_into_the_thread_inert_and_unfurled_never(fake: FakeSlack) -> None:
    refs = await channel_for(fake).deliver(outbound("reply", text="done <!here> see <http://x|y>"))
    [call] = fake.calls_to("chat.postMessage")
    assert (call["channel"], call["thread_ts"]) == ("C1", "1700000000.000100")
    assert call["text"] == "done &lt;!here&gt; see &lt;http://x|y&gt;"
    assert call["unfurl_links"] in (False, "false", "0", 0) and call["unfurl_media"] in (False, "false", "0", 0)
    # Where it was posted, its thread too (a reply in that thread answers what was asked there).
    assert refs == {"channel": "C1", "ts": fake.messages[("C1", refs["ts"])]["ts"], "thread_ts": "1700000000.000100"}


async def test_the_card_in_the_thread_then_updated_with_the_outcome(fake: FakeSlack) -> None:
    slack = channel_for(fake)
    refs = await slack.deliver(outbound("approval_request", REQUEST))
    assert refs["channel"] == "C1" and refs["routed"] is False
    card = fake.messages[("C1", refs["ts"])]
    assert card["thread_ts"] == "1700000000.000100"
    assert "<!channel>" not in json.dumps(card) and "<http://evil" not in json.dumps(card)

    decided = replace(
        REQUEST, status="denied", decided_by="U0ALICE", comment="freeze", delivery={"approval_request": refs}
    )
    await slack.deliver(outbound("decision", decided))
    [update] = fake.calls_to("chat.update")
    assert (update["channel"], update["ts"]) == ("C1", refs["ts"])
    shown = json.dumps(fake.messages[("C1", refs["ts"])]["blocks"])
    assert "Denied" in shown and "freeze" in shown and "<!date^1741091400^" in shown and '"actions"' not in shown
    assert len(fake.calls_to("chat.postMessage")) == 1  # no extra note: the card is in the thread


async def test_a_tools_approval_channel_wins_over_the_default_and_may_be_a_person(fake: FakeSlack) -> None:
    slack = channel_for(fake, approvals_channel="C0APPROVALS", tool_channels={"deploy": "U0ALICE"})
    refs = await slack.deliver(outbound("approval_request", REQUEST))
    assert refs == {"channel": "D0ALICE", "ts": refs["ts"], "routed": True}  # the bot's DM with Alice
    restart = replace(REQUEST, id="req-2", tool="restart_service")
    other = await slack.deliver(outbound("approval_request", restart))
    assert other["channel"] == "C0APPROVALS"
    notes = [c for c in fake.calls_to("chat.postMessage") if c["channel"] == "C1"]
    assert len(notes) == 2 and all(n["thread_ts"] == "1700000000.000100" for n in notes)
    assert "https://signoff-test.slack.com/archives/D0ALICE/p" in notes[0]["text"]

    decided = replace(REQUEST, status="approved", decided_by="U0ALICE", delivery={"approval_request": refs, **refs})
    await slack.deliver(outbound("decision", decided))
    assert fake.calls_to("chat.update")[0]["channel"] == "D0ALICE"
    outcome = fake.calls_to("chat.postMessage")[-1]
    assert outcome["channel"] == "C1" and outcome["text"].startswith(":white_check_mark: Approved by <@U0ALICE>")


async def test_a_request_decided_before_its_card_went_out_gets_no_buttons(fake: FakeSlack) -> None:
    decided = replace(REQUEST, status="approved", decided_by="U0ALICE")
    await channel_for(fake).deliver(outbound("approval_request", decided))
    [posted] = fake.calls_to("chat.postMessage")
    assert all(b["type"] != "actions" for b in posted["blocks"])
    # ... and its decision, with no card to update, is said in the thread.
    await channel_for(fake).deliver(outbound("decision", decided))
    assert fake.calls_to("chat.update") == [] and "Approved" in fake.calls_to("chat.postMessage")[-1]["text"]


@pytest.mark.parametrize(
    ("fault", "expected"),
    [
        ({"error": "ratelimited"}, RetryableDeliveryError),
        ({"status": 503}, RetryableDeliveryError),
        ({"error": "internal_error", "status": 500}, RetryableDeliveryError),
        ({"error": "channel_not_found"}, PermanentDeliveryError),
        ({"error": "not_in_channel"}, PermanentDeliveryError),
    ],
)
async def test_slack_failures_map_to_retry_or_give_up(fake: FakeSlack, fault: dict, expected: type) -> None:  # type: ignore[type-arg]
    fake.fail_next("chat.postMessage", **fault)
    with pytest.raises(expected):
        await channel_for(fake).deliver(outbound("reply", text="hi"))


async def test_a_wrong_token_is_permanent_and_an_unreachable_slack_is_temporary(fake: FakeSlack) -> None:
    wrong = SlackChannel(AsyncWebClient(token="xoxb-wrong", base_url=fake.api_url))
    with pytest.raises(PermanentDeliveryError, match="invalid_auth"):
        await wrong.deliver(outbound("reply", text="hi"))
    fake.reset()  # the refused call is expected here
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        closed_port = sock.getsockname()[1]
    gone = SlackChannel(AsyncWebClient(token="xoxb-x", base_url=f"http://127.0.0.1:{closed_port}/api/"))
    with pytest.raises(RetryableDeliveryError):
        await gone.deliver(outbound("reply", text="hi"))


async def test_a_thread_without_a_slack_place_is_a_permanent_failure(fake: FakeSlack) -> None:
    lost = Outbound(id=1, thread_id="thr-1", kind="reply", origin=Origin("slack", "k", {}), text="hi")
    with pytest.raises(PermanentDeliveryError):
        await channel_for(fake).deliver(lost)


async def test_group_membership_is_looked_up_and_cached(fake: FakeSlack) -> None:
    fake.usergroups["S0OPS"] = ["U0CAROL"]
    now = [0.0]
    groups = GroupMembership(AsyncWebClient(token=fake.bot_token, base_url=fake.api_url), ttl=60, clock=lambda: now[0])
    allowed = ["U0ALICE", "S0OPS", "S0GONE"]
    assert await groups.identities("U0CAROL", allowed) == ["S0OPS"]
    assert await groups.identities("U0MALLORY", allowed) == []
    assert [c["usergroup"] for c in fake.calls_to("usergroups.users.list")] == ["S0OPS", "S0GONE", "S0GONE"]
    now[0] = 61.0
    fake.usergroups["S0OPS"] = ["U0MALLORY"]
    assert await groups.identities("U0MALLORY", allowed) == ["S0OPS"]
    assert allows(allowed, ["U0CAROL"]) is False and allows(allowed, ["u0alice"]) is True
    assert allows([], ["anyone"]) is True
    fake.reset()  # S0GONE answered no_such_subteam, on purpose
