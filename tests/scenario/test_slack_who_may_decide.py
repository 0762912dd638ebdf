"""Only an allowed person decides: someone else gets an ephemeral "not allowed" and the request
stays pending; a second click (or a replayed one) gets "already approved by X"; a click for an
unknown request is told so; approvers may be a user group. One `signoff serve` for the module."""

from __future__ import annotations

import itertools
from collections.abc import Iterator
from typing import Any

import pytest

from channels.slack.blocks import APPROVE_ACTION_ID, DENY_ACTION_ID
from tests.support.fake_model import FakeModelServer, text, tool_call
from tests.support.fake_slack import FakeSlack
from tests.support.signoff_process import wait_until
from tests.support.slack_requests import app_mention
from tests.support.slack_signoff import (
    ALICE,
    BOB,
    MALLORY,
    SlackSignoff,
    button_value,
    has_buttons,
    module_slack_bot,
    posted,
)

CAROL = "U0CAROL"  # in the user group S0OPS
_channels = (f"C{n}WHO" for n in itertools.count(1))


fake, model, bot = module_slack_bot(
    "who", prepare=lambda server: server.usergroups.update({"S0OPS": [CAROL, "U0DAVE"]}), approvers=f"{ALICE},S0OPS"
)


@pytest.fixture(autouse=True)
def clean(fake: FakeSlack, model: FakeModelServer) -> Iterator[None]:
    fake.reset()
    model.reset()
    yield
    assert fake.errors == []


def pending_card(bot: SlackSignoff, fake: FakeSlack, model: FakeModelServer) -> tuple[tuple[str, str], str, str]:
    """A fresh thread waiting on a restart approval: (card channel and ts, request id, thread id)."""
    model.script(tool_call("restart_service", {"name": "web", "reason": "web is slow"}), text("Restarted web."))
    channel = next(_channels)
    assert bot.event(app_mention("<@UBOT> restart web", user=BOB, channel=channel)).status_code == 200
    [(card_at, card)] = wait_until(lambda: [c for c in posted(fake, has_buttons) if c[0][0] == channel], message="card")
    request_id = button_value(card)
    request = bot.request(request_id)
    return card_at, request_id, request["thread_id"]


def ephemerals(fake: FakeSlack, user: str) -> list[dict[str, Any]]:
    return [p for p in fake.calls_to("chat.postEphemeral") if p["user"] == user]


def decisions(bot: SlackSignoff, thread_id: str) -> list[dict[str, Any]]:
    return [e for e in bot.thread(thread_id)["events"] if e["type"] == "approval_decided"]


def test_someone_not_allowed_is_told_and_the_request_stays_pending(
    bot: SlackSignoff, fake: FakeSlack, model: FakeModelServer
) -> None:
    card_at, request_id, thread_id = pending_card(bot, fake, model)

    assert bot.click(APPROVE_ACTION_ID, request_id, user=MALLORY, card=card_at).status_code == 200
    [told] = fake.wait_for_sync("chat.postEphemeral", where=lambda p: p["user"] == MALLORY)
    assert told["channel"] == card_at[0] and "not allowed" in told["text"] and "<@U0ALICE>" in told["text"]
    assert told["thread_ts"] == fake.messages[card_at]["thread_ts"]  # next to the card
    assert bot.request(request_id)["status"] == "pending" and decisions(bot, thread_id) == []

    # Deny from someone not allowed: told the same, and no modal opens.
    assert bot.click(DENY_ACTION_ID, request_id, user=MALLORY, card=card_at).status_code == 200
    fake.wait_for_sync("chat.postEphemeral", count=2, where=lambda p: p["user"] == MALLORY)
    assert fake.calls_to("views.open") == [] and bot.request(request_id)["status"] == "pending"

    assert bot.click(APPROVE_ACTION_ID, request_id, user=ALICE, card=card_at).status_code == 200
    bot.wait_status(thread_id, "done")
    assert [d["by"] for d in decisions(bot, thread_id)] == [ALICE]


def test_a_second_click_and_a_replayed_click_decide_nothing(
    bot: SlackSignoff, fake: FakeSlack, model: FakeModelServer
) -> None:
    card_at, request_id, thread_id = pending_card(bot, fake, model)
    first = bot.click(APPROVE_ACTION_ID, request_id, user=ALICE, card=card_at, trigger_id="1.1700000000.aaa")
    replay = bot.click(APPROVE_ACTION_ID, request_id, user=ALICE, card=card_at, trigger_id="1.1700000000.aaa")
    second = bot.click(APPROVE_ACTION_ID, request_id, user=CAROL, card=card_at)
    deny_late = bot.click(DENY_ACTION_ID, request_id, user=CAROL, card=card_at)
    assert {r.status_code for r in (first, replay, second, deny_late)} == {200}

    told_alice = fake.wait_for_sync("chat.postEphemeral", where=lambda p: p["user"] == ALICE)
    told_carol = fake.wait_for_sync("chat.postEphemeral", count=2, where=lambda p: p["user"] == CAROL)
    for told in [*told_alice, *told_carol]:
        assert "already approved by <@U0ALICE>" in told["text"]
    assert fake.calls_to("views.open") == []
    bot.wait_status(thread_id, "done")
    assert [d["by"] for d in decisions(bot, thread_id)] == [ALICE]
    assert sum(e["type"] == "tool_result" for e in bot.thread(thread_id)["events"]) == 1


def test_a_click_for_an_unknown_request_is_told_so(bot: SlackSignoff, fake: FakeSlack) -> None:
    threads_before = bot.threads()
    assert bot.click(APPROVE_ACTION_ID, "no-such-request", user=ALICE, channel="C0GONE").status_code == 200
    assert bot.click(DENY_ACTION_ID, "no-such-request", user=ALICE, channel="C0GONE").status_code == 200
    told = fake.wait_for_sync("chat.postEphemeral", count=2, where=lambda p: p["user"] == ALICE)
    assert all("unknown or has expired" in t["text"] and t["channel"] == "C0GONE" for t in told)
    assert fake.calls_to("views.open") == [] and bot.threads() == threads_before


def test_a_member_of_an_approver_group_may_decide(bot: SlackSignoff, fake: FakeSlack, model: FakeModelServer) -> None:
    card_at, request_id, thread_id = pending_card(bot, fake, model)
    assert (
        bot.click(DENY_ACTION_ID, request_id, user=CAROL, card=card_at, trigger_id="9.1700000000.bbb").status_code
        == 200
    )
    [opened] = fake.wait_for_sync("views.open")
    assert opened["trigger_id"] == "9.1700000000.bbb"
    assert bot.submit_deny(request_id, "not now", user=CAROL, view_id="V0CAROL").status_code == 200
    bot.wait_status(thread_id, "done")
    [decision] = decisions(bot, thread_id)
    assert (decision["approved"], decision["by"], decision["comment"]) == (False, CAROL, "not now")
    # Group membership is looked up (and cached for a minute), never guessed.
    assert {p["usergroup"] for p in fake.calls_to("usergroups.users.list")} <= {"S0OPS"}
