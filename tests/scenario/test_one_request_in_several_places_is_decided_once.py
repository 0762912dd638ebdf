"""One request in several places, decided once (issue #17), on real protocols: signed Slack
requests to the real endpoint with the fake Web API, Dovecot + aiosmtpd for mail.

The agent (tests/support/places_agent.py) sends each approval request to its thread, the approvers'
channel, alice's and bob's DMs and their mail. The first valid decision wins wherever it was made;
every Slack copy is updated to show it, the emailed approver who did not answer gets one "decided
by" mail, and late answers (a click, a mail) are told it is decided. For two of two, approvals
count across places, each person once. A place that fails for a while does not hold back the others."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import pytest

from channels.slack.blocks import APPROVE_ACTION_ID
from tests.scenario.test_slack_policies_hold_on_the_card import told
from tests.support.dovecot import DovecotServer
from tests.support.email_signoff import EmailSignoff, body_of, email_env, reply, sent_to, to_of
from tests.support.fake_model import FakeModelServer, text, tool_call
from tests.support.fake_slack import FakeSlack
from tests.support.people import ROOT, directory
from tests.support.places_agent import APPROVERS_CHANNEL
from tests.support.signoff_process import wait_until
from tests.support.slack_requests import app_mention
from tests.support.slack_signoff import ALICE, BOB, MakeSlackBot, SlackSignoff, button_value, has_buttons, posted
from tests.support.smtp_server import SmtpServer

CAROL = "U0CAROL"  # asks; the directory's carol
ALICE_MAIL, BOB_MAIL = "alice@example.com", "bob@corp.example"
ALICE_DM, BOB_DM = "D0ALICE", "D0BOB"  # where a post to U0ALICE / U0BOB lands
PLACES_AGENT = {
    "SIGNOFF_AGENT": "tests.support.places_agent:agent",
    "PYTHONPATH": os.pathsep.join(filter(None, [str(ROOT), os.environ.get("PYTHONPATH")])),
}


@pytest.fixture
def bot(
    make_slack_bot: MakeSlackBot,
    dovecot: DovecotServer,
    smtp: SmtpServer,
    model: FakeModelServer,
    tmp_path: Path,
) -> SlackSignoff:
    directory(f"sqlite:///{tmp_path / 'signoff.db'}")  # alice, bob and carol, with their Slack ids and mail
    return make_slack_bot(**{**email_env(dovecot, smtp, model, tmp_path), **PLACES_AGENT})


@pytest.fixture
def mail(bot: SlackSignoff, dovecot: DovecotServer, smtp: SmtpServer) -> EmailSignoff:
    return EmailSignoff(bot.process, dovecot, smtp)


def posted_in(fake: FakeSlack, channel: str) -> list[tuple[tuple[str, str], dict[str, Any]]]:
    return [(at, message) for at, message in posted(fake) if at[0] == channel]


def card_in(fake: FakeSlack, channel: str) -> tuple[tuple[str, str], dict[str, Any]]:
    """The one card posted in `channel` (top level or in a thread), once it is there."""
    [found] = wait_until(
        lambda: [(at, p) for at, p in posted_in(fake, channel) if has_buttons(p)], message=f"a card in {channel}"
    )
    return found


def updates_of(fake: FakeSlack, at: tuple[str, str]) -> list[dict[str, Any]]:
    return [p for p in fake.calls_to("chat.update") if (p["channel"], p["ts"]) == at]


def shown(fake: FakeSlack, at: tuple[str, str]) -> str:
    """What the message at `at` shows now (its last update, else as posted), as JSON text."""
    return json.dumps(fake.messages[at].get("blocks") or fake.messages[at].get("text"))


def test_a_request_in_the_thread_a_channel_dms_and_mail_is_decided_once_and_every_copy_says_so(
    bot: SlackSignoff, fake: FakeSlack, model: FakeModelServer, mail: EmailSignoff
) -> None:
    model.script(tool_call("restart", {"service": "web", "reason": "it is stuck"}), text("Restarted web."))
    assert bot.event(app_mention("<@UBOT> restart web", user=CAROL, channel="C1")).status_code == 200

    in_thread, in_channel = card_in(fake, "C1"), card_in(fake, APPROVERS_CHANNEL)
    in_alice_dm, in_bob_dm = card_in(fake, ALICE_DM), card_in(fake, BOB_DM)
    request_id = button_value(in_thread[1])
    assert {button_value(c) for _, c in (in_channel, in_alice_dm, in_bob_dm)} == {request_id}
    assert "thread_ts" in in_thread[1] and "thread_ts" not in in_channel[1]
    assert "restart" in shown(fake, in_channel[0]) and "archives/C1/" in shown(fake, in_channel[0])  # the thread
    asked = {to_of(m)[0]: m for m in mail.wait_sent(2, lambda m: "restart" in body_of(m))}
    assert set(asked) == {ALICE_MAIL, BOB_MAIL}

    # Alice approves in her DM: the first valid decision, and the only one.
    assert bot.click(APPROVE_ACTION_ID, request_id, user=ALICE, card=in_alice_dm[0]).status_code == 200
    thread = bot.wait_status(bot.request(request_id)["thread_id"], "done")
    types = [e["type"] for e in thread["events"]]
    assert types.count("approval_decided") == 1 and types.count("tool_result") == 1

    # Every Slack copy shows the outcome and who decided, without buttons.
    for at in (in_thread[0], in_channel[0], in_alice_dm[0], in_bob_dm[0]):
        wait_until(lambda at=at: updates_of(fake, at), message=f"the card at {at} updated")
        assert not has_buttons(fake.messages[at]) and "Approved" in shown(fake, at), at
    # Bob, who did not answer, is told by mail who decided; alice, who did, is not.
    [decided] = mail.wait_sent(1, lambda m: sent_to(BOB_MAIL)(m) and "Approved by" in body_of(m))
    assert ALICE in body_of(decided) or "alice" in body_of(decided)
    assert not [m for m in mail.sent(sent_to(ALICE_MAIL)) if "Approved by" in body_of(m)]

    # Late answers anywhere are told, and change nothing.
    assert bot.click(APPROVE_ACTION_ID, request_id, user=BOB, card=in_channel[0]).status_code == 200
    [late_click] = told(fake, BOB)
    assert "already" in late_click
    mail.send(reply(asked[BOB_MAIL].message, BOB_MAIL, "approve"))
    [late_mail] = mail.wait_sent(1, lambda m: sent_to(BOB_MAIL)(m) and "too late" in body_of(m))
    assert request_id in body_of(late_mail)
    assert [e["type"] for e in bot.thread(thread["id"])["events"]].count("tool_result") == 1
    assert [d["status"] for d in bot.thread(thread["id"])["deliveries"]].count("failed") == 0


def test_two_of_two_counts_each_person_once_across_a_mail_and_a_dm(
    bot: SlackSignoff, fake: FakeSlack, model: FakeModelServer, mail: EmailSignoff
) -> None:
    model.script(tool_call("deploy_prod", {"service": "web", "reason": "release 42"}), text("Deployed."))
    assert bot.event(app_mention("<@UBOT> deploy web to prod", user=CAROL, channel="C2")).status_code == 200
    in_alice_dm, in_bob_dm = card_in(fake, ALICE_DM), card_in(fake, BOB_DM)
    request_id = button_value(in_bob_dm[1])
    assert not posted_in(fake, APPROVERS_CHANNEL)  # the tool names its own places: DMs and mail only
    asked = {to_of(m)[0]: m for m in mail.wait_sent(2, lambda m: "deploy_prod" in body_of(m))}

    # Alice approves by mail: one of two. Her approval shows on the DM cards, which keep their buttons.
    mail.send(reply(asked[ALICE_MAIL].message, ALICE_MAIL, "approve"))
    wait_until(lambda: bot.request(request_id)["progress"] == "1 of 2", message="alice's approval counted")
    wait_until(lambda: updates_of(fake, in_bob_dm[0]), message="bob's DM card updated")
    assert has_buttons(fake.messages[in_bob_dm[0]]) and "1 of 2" in shown(fake, in_bob_dm[0])

    # Alice again, now from her DM: the same person, not a second approval.
    assert bot.click(APPROVE_ACTION_ID, request_id, user=ALICE, card=in_alice_dm[0]).status_code == 200
    assert "already" in told(fake, ALICE)[0]
    assert bot.request(request_id)["progress"] == "1 of 2"

    # Bob approves in his DM: two of two, decided; the deploy runs once.
    assert bot.click(APPROVE_ACTION_ID, request_id, user=BOB, card=in_bob_dm[0]).status_code == 200
    thread = bot.wait_status(bot.request(request_id)["thread_id"], "done")
    assert [e["type"] for e in thread["events"]].count("tool_result") == 1
    for at in (in_alice_dm[0], in_bob_dm[0]):
        wait_until(lambda at=at: not has_buttons(fake.messages[at]), message=f"the card at {at} decided")
    # Both answered (alice by mail, bob in Slack: the directory says which address is his): no "decided by" mail.
    bot.wait_delivered()
    assert not [m for m in mail.sent() if "Approved by" in body_of(m)]


def test_a_place_that_fails_for_a_while_does_not_hold_back_the_others(
    bot: SlackSignoff, fake: FakeSlack, model: FakeModelServer, mail: EmailSignoff
) -> None:
    fake.fail_next("conversations.open", status=503, times=4)  # the DMs wait for Slack to come back
    model.script(tool_call("restart", {"service": "search", "reason": "slow"}), text("Restarted search."))
    assert bot.event(app_mention("<@UBOT> restart search", user=CAROL, channel="C3")).status_code == 200
    in_channel = card_in(fake, APPROVERS_CHANNEL)
    mail.wait_sent(2, lambda m: "restart" in body_of(m))
    assert not posted_in(fake, ALICE_DM) and not posted_in(fake, BOB_DM)  # still retrying, on their own

    request_id = button_value(in_channel[1])
    assert bot.click(APPROVE_ACTION_ID, request_id, user=BOB, card=in_channel[0]).status_code == 200
    bot.wait_status(bot.request(request_id)["thread_id"], "done")
    # The DMs go out once Slack answers again, showing the outcome rather than asking.
    for dm in (ALICE_DM, BOB_DM):
        [(at, _post)] = wait_until(lambda dm=dm: posted_in(fake, dm), timeout=60, message=f"the copy in {dm}")
        wait_until(lambda at=at: not has_buttons(fake.messages[at]), message=f"the copy in {dm} decided")
        assert "Approved" in shown(fake, at)
