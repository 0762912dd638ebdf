"""The clock on Slack, through signed requests to the real endpoint and the fake Web API, with a
test clock moved forward (never a sleep): a request that waits reminds in its thread the people it
still waits for (N of M aware), escalates to Dave and the on-call channel (the card then names him,
is posted there too, and his click there counts; both cards show the outcome), and, left alone, expires: the card says so, the model is told and tells the requester. Each
appears in the audit, filtered by type."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

from channels.slack.blocks import APPROVE_ACTION_ID
from storage.db import Database
from storage.store import Store
from tests.support.clock_file import ClockFile
from tests.support.fake_model import FakeModelServer, text, tool_call
from tests.support.fake_slack import FakeSlack
from tests.support.people import directory
from tests.support.signoff_process import wait_until
from tests.support.slack_requests import app_mention
from tests.support.slack_signoff import (
    ALICE,
    BOB,
    MakeSlackBot,
    SlackSignoff,
    button_value,
    posted,
    wait_for_card,
)
from tests.support.web_session import signed_in

DAVE = "U0DAVE"


def posts_saying(fake: FakeSlack, words: str) -> list[dict[str, Any]]:
    return [p for p in fake.calls_to("chat.postMessage") if words in str(p.get("text", ""))]


def start(make_slack_bot: MakeSlackBot, tmp_path: Path) -> tuple[SlackSignoff, ClockFile]:
    directory(f"sqlite:///{tmp_path / 'signoff.db'}")
    clock = ClockFile(tmp_path)
    return make_slack_bot(**clock.settings()), clock


def reminders_on_the_web_inbox(bot: SlackSignoff, person: str, request_id: str) -> str:
    """What "Waiting on me" says of the request's reminders, for `person` signed in with a token."""
    store = Store(Database(bot.process.env["SIGNOFF_DATABASE_URL"]))
    token, _row = store.create_token(person, expires_at=None)
    store.db.dispose()
    web = signed_in(bot.process, token)
    try:
        page = web.get("/").text
    finally:
        web.close()
    card = page.split(f'id="request-{request_id}"', 1)[1].split("</article>", 1)[0]
    found = re.search(r'<dd class="reminders">([^<]*)</dd>', card)
    return found.group(1) if found else "none"


def audit(bot: SlackSignoff, types: str) -> list[dict[str, Any]]:
    response = bot.api.get("/api/audit", params={"type": types})
    assert response.status_code == 200, response.text
    return [json.loads(line) for line in response.text.splitlines()]


def test_a_waiting_request_reminds_who_it_waits_for_then_escalates_to_dave(
    make_slack_bot: MakeSlackBot, fake: FakeSlack, model: FakeModelServer, tmp_path: Path
) -> None:
    bot, clock = start(make_slack_bot, tmp_path)
    model.script(tool_call("restart_service", {"name": "payments", "reason": "stuck"}), text("Restarted payments."))
    assert bot.event(app_mention("<@UBOT> restart payments", user=BOB, ts="1700000000.000100")).status_code == 200
    [(card_at, card)] = wait_for_card(fake)
    request_id = button_value(card)
    clock_of = bot.request(request_id)["clock"]  # the API shows when it reminds, escalates, expires
    assert [(t["kind"], t["fired_at"]) for t in clock_of] == [("remind", None), ("escalate", None), ("expire", None)]
    bot.click(APPROVE_ACTION_ID, request_id, user=ALICE, card=card_at)
    wait_until(lambda: bot.request(request_id)["progress"] == "1 of 2", message="alice's approval counted")
    assert reminders_on_the_web_inbox(bot, "carol", request_id) == "none"

    clock.advance(minutes=11)
    [reminder] = wait_until(lambda: posts_saying(fake, "Reminder"), message="a reminder in the thread")
    assert reminder["channel"] == "C1" and reminder["thread_ts"] == "1700000000.000100"
    assert "<@U0CAROL>" in reminder["text"] and ALICE not in reminder["text"]  # alice's approval counts
    assert "1 of 2 approvals so far" in reminder["text"]
    assert reminders_on_the_web_inbox(bot, "carol", request_id) == "1"  # the inbox counts it too

    clock.advance(minutes=20)
    [escalated] = wait_until(lambda: posts_saying(fake, "Escalated"), message="the escalation in the thread")
    assert f"<@{DAVE}>" in escalated["text"] and escalated["thread_ts"] == "1700000000.000100"
    wait_until(lambda: DAVE in str(fake.messages[card_at]["blocks"]), message="the card names Dave")
    assert len(posts_saying(fake, "Reminder")) == 1  # a timer fires once
    [_, (oncall_at, oncall_card)] = wait_for_card(fake, 2)  # and the card again, in the on-call channel
    assert oncall_at[0] == "C0ONCALL" and button_value(oncall_card) == request_id

    bot.click(APPROVE_ACTION_ID, request_id, user=DAVE, card=oncall_at)  # escalated to: he may decide
    thread = bot.wait_status(bot.request(request_id)["thread_id"], "done")
    events = thread["events"]
    assert [e["type"] for e in events].count("tool_result") == 1
    [decided] = [e for e in events if e["type"] == "approval_decided"]
    assert [a["subject"] for a in decided["approvals"]] == [ALICE, DAVE]
    for at in (card_at, oncall_at):  # both cards show the outcome, neither can be clicked again
        wait_until(lambda at=at: "Approved" in str(fake.messages[at].get("text")), message=f"{at} decided")

    records = audit(bot, "request_reminded,request_escalated,request_expired")
    assert [(r["type"], r["request_id"]) for r in records] == [
        ("request_reminded", request_id),
        ("request_escalated", request_id),
    ]
    assert (
        records[0]["outcome"] == "reminded carol" and records[1]["outcome"] == f"escalated to {DAVE}, dave@example.com"
    )
    assert bot.request(request_id)["status"] == "approved"


def test_an_approval_on_the_escalations_card_shows_on_both_cards_while_it_waits_for_the_second(
    make_slack_bot: MakeSlackBot, fake: FakeSlack, model: FakeModelServer, tmp_path: Path
) -> None:
    bot, clock = start(make_slack_bot, tmp_path)
    model.script(tool_call("restart_service", {"name": "search", "reason": "slow"}), text("Restarted search."))
    assert bot.event(app_mention("<@UBOT> restart search", user=BOB, ts="1700000000.000300")).status_code == 200
    [(card_at, card)] = wait_for_card(fake)
    request_id = button_value(card)
    clock.advance(minutes=31)  # nobody answered: reminded, then escalated to Dave and the on-call channel
    [_, (oncall_at, _oncall_card)] = wait_for_card(fake, 2)

    bot.click(APPROVE_ACTION_ID, request_id, user=DAVE, card=oncall_at)
    wait_until(lambda: bot.request(request_id)["progress"] == "1 of 2", message="dave's approval counted")
    for at in (card_at, oncall_at):  # both cards count it, and both still ask for the second
        wait_until(lambda at=at: "1 of 2" in str(fake.messages[at]["blocks"]), message=f"{at} shows 1 of 2")
        assert "Approve" in str(fake.messages[at]["blocks"])
    bot.click(APPROVE_ACTION_ID, request_id, user=ALICE, card=card_at)
    bot.wait_status(bot.request(request_id)["thread_id"], "done")
    for at in (card_at, oncall_at):
        wait_until(lambda at=at: "Approved" in str(fake.messages[at].get("text")), message=f"{at} decided")


def test_a_request_nobody_answers_expires_and_the_model_tells_the_requester(
    make_slack_bot: MakeSlackBot, fake: FakeSlack, model: FakeModelServer, tmp_path: Path
) -> None:
    bot, clock = start(make_slack_bot, tmp_path)
    model.script(
        tool_call("restart_service", {"name": "payments", "reason": "stuck"}),
        lambda body: (
            text("Nobody approved the restart in time, so payments was not restarted.")
            if "request_expired" in json.dumps(body)
            else text("I was not told.")
        ),
    )
    bot.event(app_mention("<@UBOT> restart payments", user=BOB, ts="1700000000.000200"))
    [(card_at, card)] = wait_for_card(fake)
    request_id = button_value(card)

    clock.advance(minutes=61)  # a stop this long: the reminder and escalation are superseded
    wait_until(lambda: "Expired" in str(fake.messages[card_at].get("text")), message="the card says expired")
    assert not any(b.get("type") == "actions" for b in fake.messages[card_at]["blocks"])  # nothing to click
    thread = bot.wait_status(bot.request(request_id)["thread_id"], "done")
    assert thread["events"][-1]["text"] == "Nobody approved the restart in time, so payments was not restarted."
    [told] = wait_until(lambda: posts_saying(fake, "not restarted"), message="the requester is told")
    assert told["thread_ts"] == "1700000000.000200"
    assert posts_saying(fake, "Reminder") == [] and posts_saying(fake, "Escalated") == []
    assert [e["type"] for e in thread["events"]].count("tool_result") == 0
    assert bot.request(request_id)["status"] == "expired"
    assert [r["outcome"] for r in audit(bot, "request_expired")] == ["expired"]

    bot.click(APPROVE_ACTION_ID, request_id, user=ALICE, card=card_at)  # a late click changes nothing
    assert bot.request(request_id)["status"] == "expired"


def test_a_question_reminds_and_expires_on_the_agents_clock(
    make_slack_bot: MakeSlackBot, fake: FakeSlack, model: FakeModelServer, tmp_path: Path
) -> None:
    bot, clock = start(make_slack_bot, tmp_path)
    model.script(
        tool_call("ask_human", {"question": "Which service do you mean?"}),
        lambda body: (
            text("Nobody answered my question, so I did nothing.")
            if "request_expired" in json.dumps(body)
            else text("I was not told.")
        ),
    )
    bot.event(app_mention("<@UBOT> restart the thing", user=BOB, ts="1700000000.000300"))
    [(question_at, _question)] = wait_until(
        lambda: posted(fake, lambda m: "Question from the agent" in str(m.get("text"))), message="the question"
    )
    [request] = wait_until(lambda: bot.pending(), message="the pending question")

    clock.advance(minutes=11)
    [reminder] = wait_until(lambda: posts_saying(fake, "Reminder"), message="a reminder in the thread")
    assert "The agent's question is still waiting for" in reminder["text"] and f"<@{BOB}>" in reminder["text"]
    assert "reply in this thread" in reminder["text"] and reminder["thread_ts"] == "1700000000.000300"

    clock.advance(minutes=50)
    thread = bot.wait_status(request["thread_id"], "done")
    assert thread["events"][-1]["text"] == "Nobody answered my question, so I did nothing."
    assert bot.request(request["id"])["status"] == "expired"
    wait_until(lambda: "Expired" in str(fake.messages[question_at].get("text")), message="the question says expired")
