"""The App Home tab: an approver sees what waits on them (oldest first, who asked, the agent, the
arguments, a permalink to the thread) with the card's own controls; the person who asked sees their
open thread and no controls; someone else sees neither. Approve in the tab decides under the card's
rules and updates the card in the thread; a forged click for a request someone may not decide is
refused (told in a modal, since the tab has no conversation); a question is answered from the tab.
Every `views.publish` is validated by the fake Web API (tests/support/fake_slack.py)."""

from __future__ import annotations

import itertools
import json
from collections.abc import Iterator
from typing import Any

import pytest

from channels.slack.blocks import APPROVE_ACTION_ID
from channels.slack.home import ANSWER_ACTION_ID, ANSWER_BLOCK_ID, ANSWER_CALLBACK_ID, ANSWER_INPUT_ACTION_ID
from tests.support.fake_model import FakeModelServer, text, tool_call
from tests.support.fake_slack import FakeSlack
from tests.support.signoff_process import wait_until
from tests.support.slack_requests import app_mention, home_block_actions, home_opened, view_submission
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

_channels = (f"C{n}HOME" for n in itertools.count(1))


fake, model, bot = module_slack_bot(
    "home", SIGNOFF_SLACK_HOME_INTERVAL="0.5", SIGNOFF_WEB_URL="https://signoff.example.com"
)


@pytest.fixture(autouse=True)
def clean(fake: FakeSlack, model: FakeModelServer) -> Iterator[None]:
    fake.reset()
    model.reset()
    yield
    assert fake.errors == []


def waiting_restart(bot: SlackSignoff, fake: FakeSlack, model: FakeModelServer, name: str = "web") -> tuple[Any, str]:
    """BOB asks for a restart in a fresh channel: (the card's (channel, ts), the request id)."""
    model.script(tool_call("restart_service", {"name": name, "reason": f"{name} is slow"}), text(f"Restarted {name}."))
    channel = next(_channels)
    assert bot.event(app_mention(f"<@UBOT> restart {name}", user=BOB, channel=channel)).status_code == 200
    [(card_at, card)] = wait_until(lambda: [c for c in posted(fake, has_buttons) if c[0][0] == channel], message="card")
    return card_at, button_value(card)


def published(fake: FakeSlack, user: str, where: Any = None) -> dict[str, Any]:
    """The latest Home view published for `user` that satisfies `where` (waits for it)."""

    def latest() -> dict[str, Any] | None:
        views = [c["view"] for c in fake.calls_to("views.publish") if c["user_id"] == user]
        return views[-1] if views and (where is None or where(views[-1])) else None

    return dict(wait_until(latest, timeout=30, message=f"a Home tab for {user}"))


def buttons(view: dict[str, Any]) -> list[dict[str, Any]]:
    return [e for b in view["blocks"] if b["type"] == "actions" for e in b["elements"]]


def shows(view: dict[str, Any], request_id: str) -> bool:
    return any(e.get("value") == request_id for e in buttons(view))


def all_text(view: dict[str, Any]) -> str:
    return json.dumps(view["blocks"])


def test_the_approver_sees_the_request_with_its_controls_and_a_link(
    bot: SlackSignoff, fake: FakeSlack, model: FakeModelServer
) -> None:
    card_at, request_id = waiting_restart(bot, fake, model)
    assert bot.event(home_opened(ALICE)).status_code == 200
    view = published(fake, ALICE, lambda v: shows(v, request_id))
    assert view["type"] == "home"
    mine = [e for e in buttons(view) if e["value"] == request_id]
    assert [(e["action_id"], e["text"]["text"]) for e in mine] == [
        ("signoff_approve", "Approve"),
        ("signoff_edit", "Edit"),  # as on the card: the example's restart takes edits
        ("signoff_deny", "Deny"),
    ]
    body = all_text(view)
    assert "restart_service" in body and 'name = \\"web\\"' in body
    assert f"asked for <@{BOB}>" in body and "agent signoff-ops" in body and "^{ago}|" in body
    # The link is Slack's permalink of the thread's root message, asked of chat.getPermalink.
    assert fake.calls_to("chat.getPermalink")
    assert f"https://signoff-test.slack.com/archives/{card_at[0]}/p" in body
    assert "Waiting on you (" in body and "requests pending in all" in body


def test_the_requester_sees_their_open_thread_and_no_controls(
    bot: SlackSignoff, fake: FakeSlack, model: FakeModelServer
) -> None:
    _card_at, request_id = waiting_restart(bot, fake, model, "search")
    thread_id = bot.request(request_id)["thread_id"]
    bot.event(home_opened(BOB))
    view = published(fake, BOB, lambda v: "Your open threads (" in all_text(v))
    assert not shows(view, request_id)  # BOB may not approve: no buttons, not even listed as waiting on him
    assert "waiting" in all_text(view) and "agent signoff-ops" in all_text(view)
    assert bot.thread(thread_id)["status"] == "waiting"
    bot.event(home_opened(MALLORY))
    assert not shows(published(fake, MALLORY), request_id)


def test_approve_in_the_home_tab_updates_the_card_in_the_thread(
    bot: SlackSignoff, fake: FakeSlack, model: FakeModelServer
) -> None:
    card_at, request_id = waiting_restart(bot, fake, model, "payments")
    bot.event(home_opened(ALICE))
    published(fake, ALICE, lambda v: shows(v, request_id))
    assert bot.interaction(home_block_actions(APPROVE_ACTION_ID, request_id, user=ALICE)).status_code == 200
    thread_id = bot.request(request_id)["thread_id"]
    bot.wait_status(thread_id, "done")
    # The card in the thread shows the outcome, as after a click on the card itself.
    card = wait_until(lambda: (m := fake.messages[card_at]).get("edited") and m, message="the card updated")
    assert "Approved" in card["text"] and f"<@{ALICE}>" in card["text"]
    assert not has_buttons(card)
    # And the tab, published again for the approver, no longer lists it.
    published(fake, ALICE, lambda v: not shows(v, request_id))


def test_a_forged_click_for_a_request_someone_may_not_decide_is_refused(
    bot: SlackSignoff, fake: FakeSlack, model: FakeModelServer
) -> None:
    _card_at, request_id = waiting_restart(bot, fake, model)
    assert bot.interaction(home_block_actions(APPROVE_ACTION_ID, request_id, user=MALLORY)).status_code == 200
    [notice] = fake.wait_for_sync("views.open")
    assert "not allowed" in json.dumps(notice["view"]) and notice["view"]["type"] == "modal"
    assert bot.request(request_id)["status"] == "pending"
    assert not fake.calls_to("chat.postEphemeral")  # a click in the tab has no conversation to be ephemeral in


def test_a_question_is_answered_from_the_home_tab(bot: SlackSignoff, fake: FakeSlack, model: FakeModelServer) -> None:
    model.script(tool_call("ask_human", {"question": "Which region first?"}), text("Thanks."))
    channel = next(_channels)
    bot.event(app_mention("<@UBOT> plan a deploy", user=BOB, channel=channel))
    [request] = wait_until(lambda: [r for r in bot.pending() if r["kind"] == "question"], message="a question")
    bot.event(home_opened(ALICE))
    view = published(fake, ALICE, lambda v: shows(v, request["id"]))
    assert [e["action_id"] for e in buttons(view) if e["value"] == request["id"]] == [ANSWER_ACTION_ID]
    bot.interaction(home_block_actions(ANSWER_ACTION_ID, request["id"], user=ALICE))
    [modal] = fake.wait_for_sync("views.open")
    assert modal["view"]["callback_id"] == ANSWER_CALLBACK_ID and "Which region first?" in json.dumps(modal["view"])
    submitted = view_submission(
        ANSWER_CALLBACK_ID,
        request["id"],
        {ANSWER_BLOCK_ID: {ANSWER_INPUT_ACTION_ID: "eu-west first"}},
        user=ALICE,
        view_id="V0ANSWER",
    )
    assert bot.interaction(submitted).status_code == 200
    thread = bot.wait_status(request["thread_id"], "done")
    [answered] = [e for e in thread["events"] if e["type"] == "question_answered"]
    assert answered["by"] == ALICE and answered["answer"] == "eu-west first"
