"""An email arrives (LMTP into Dovecot) -> a thread -> the model calls restart_service -> the
approver gets an approval request by email (threaded, a Reply-To token bound to them, Auto-Submitted)
-> their reply, delivered by LMTP, approves -> the tool runs once -> the final reply is threaded.
Everything through a real `signoff serve`, a real IMAP server and a real SMTP server."""

from __future__ import annotations

import re

import pytest

from tests.support.effects import service_actions
from tests.support.email_signoff import (
    AGENT,
    ALICE,
    BOB,
    WAIT,
    EmailSignoff,
    MakeEmailBot,
    body_of,
    mail,
    reply,
    sent_to,
    to_of,
)
from tests.support.fake_model import FakeModelServer, text, tool_call
from tests.support.signoff_process import wait_until

TOKEN_ADDRESS = re.compile(r"^agent\+[a-z2-7]{29,}@example\.test$")


@pytest.fixture
def bot(make_email_bot: MakeEmailBot) -> EmailSignoff:
    return make_email_bot()


def test_an_emailed_request_is_approved_by_reply_runs_once_and_is_answered_in_the_thread(
    bot: EmailSignoff, model: FakeModelServer
) -> None:
    model.script(
        tool_call("restart_service", {"name": "payments", "reason": "the payments worker is stuck"}),
        text("Restarted payments; it is running again."),
    )
    first = mail(BOB, "payments worker", "Hi, please restart the payments worker.", message_id="<ask-1@corp.example>")
    bot.send(first)

    # The approval request goes to the approver (not to Bob), threaded under Bob's message.
    [ask] = bot.wait_sent(1, sent_to(ALICE))
    msg = ask.message
    assert ask.rcpt_tos == [ALICE] and to_of(ask) == [ALICE]
    assert msg["In-Reply-To"] == "<ask-1@corp.example>"
    assert msg["References"].split() == ["<ask-1@corp.example>"]
    assert msg["Subject"] == "Re: payments worker"
    assert msg["Auto-Submitted"] == "auto-replied"
    assert msg["From"].addresses[0].addr_spec == AGENT
    reply_to = msg["Reply-To"].addresses[0].addr_spec
    assert TOKEN_ADDRESS.match(reply_to), reply_to
    assert re.fullmatch(r"<signoff\.approval-request\.[0-9a-f]{24}@example\.test>", msg["Message-ID"])
    body = body_of(ask)
    assert "restart_service" in body and '"name": "payments"' in body
    assert "the payments worker is stuck" in body and BOB in body  # why, and for whom
    assert "approve" in body and "deny <reason>" in body  # how to answer

    # Bob, who is not an approver, is told who was asked.
    [note] = bot.wait_sent(1, sent_to(BOB))
    assert ALICE in body_of(note) and note.message["In-Reply-To"] == "<ask-1@corp.example>"

    thread = bot.only_thread()
    assert thread["status"] == "waiting"
    first_event = thread["events"][0]
    assert first_event["type"] == "human_message" and first_event["by"] == BOB and first_event["channel"] == "email"
    assert first_event["text"] == "Subject: payments worker\n\nHi, please restart the payments worker."

    # Alice answers from Gmail: "approve" above the quoted request.
    bot.send(reply(msg, ALICE, "Approve", message_id="<alice-1@example.com>"))

    done = bot.wait_status(thread["id"], "done")
    assert [e["type"] for e in done["events"]] == [
        "human_message",
        "approval_requested",
        "approval_decided",
        "tool_started",
        "tool_result",
        "agent_reply",
    ]
    decided = done["events"][2]
    assert (decided["approved"], decided["by"]) == (True, ALICE)
    [action] = service_actions(bot.process.env["SIGNOFF_DATABASE_URL"])
    assert (action.service, action.action, action.approved_by) == ("payments", "restart", ALICE)

    # The outcome, then the final reply: both threaded; the reply goes to Bob.
    final = bot.wait_sent(1, lambda m: "Restarted payments" in body_of(m))[0]
    assert to_of(final) == [BOB]
    assert final.message["Subject"] == "Re: payments worker"
    assert final.message["Auto-Submitted"] == "auto-replied"
    assert final.message["In-Reply-To"] == "<ask-1@corp.example>"
    chain = final.message["References"].split()
    assert chain[0] == "<ask-1@corp.example>" and msg["Message-ID"] in chain
    outcome = bot.wait_sent(1, lambda m: "Approved by" in body_of(m))[0]
    assert set(to_of(outcome)) == {BOB, ALICE}

    # Each message went out once; the tool ran once; the model was asked twice.
    ids = [m.message["Message-ID"] for m in bot.sent()]
    assert len(ids) == len(set(ids)) == 4
    assert len(service_actions(bot.process.env["SIGNOFF_DATABASE_URL"])) == 1 and len(model.requests) == 2
    wait_until(
        lambda: bot.threads() and all(t["status"] == "done" for t in bot.threads()), timeout=WAIT, message="one thread"
    )
    assert len(bot.threads()) == 1
