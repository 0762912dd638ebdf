"""An agent that lives elsewhere (`SIGNOFF_AGENT=webhook`), run the way the 12-factor workshop's
final agent runs on HumanLayer: a mail to the agent's address reaches it as
`agent_email.received`; it asks the human back with `create_human_contact` on an email channel in
reply to that message; the human's reply by mail comes back as `human_contact.completed`; all in
one mail thread. A Slack mention reaches it as `agent_slack.received`, once however often Slack
delivers it. No built-in agent runs (the model is never called).

A real `signoff serve` with email (Dovecot + aiosmtpd) or Slack (signed requests, the fake Web
API); the outside agent is a small HTTP server in this process (tests/support/outside_agent.py)
using the real `humanlayer` SDK, pointed at the server by HUMANLAYER_API_BASE."""

from __future__ import annotations

import base64
import hashlib
from collections.abc import Iterator
from email import message_from_bytes
from email.utils import getaddresses
from pathlib import Path

import pytest
from humanlayer import ContactChannel, EmailContactChannel, HumanContactSpec, HumanLayer, SlackContactChannel
from humanlayer.core.models_agent_webhook import V1Beta2EmailEventReceived, V1Beta2SlackEventReceived

from tests.support.dovecot import DovecotServer
from tests.support.email_signoff import AGENT, EmailSignoff, MakeEmailBot, body_of, mail, reply, sent_to
from tests.support.fake_model import FakeModelServer
from tests.support.fake_slack import FakeSlack
from tests.support.outside_agent import OutsideAgent
from tests.support.signoff_process import API_TOKEN, wait_until
from tests.support.slack_requests import app_mention, message_event
from tests.support.slack_signoff import ALICE, MakeSlackBot, posted
from tests.support.smtp_server import Received, SmtpServer

BOB = "bob@corp.example"
SECRET = "whsec_" + base64.b64encode(b"the outside agent's secret, 32 b").decode()


def mail_id(raw: bytes) -> str:
    return str(message_from_bytes(raw)["Message-ID"])


def ids(message: Received, header: str) -> list[str]:
    return str(message.message.get(header, "")).split()


@pytest.fixture
def outside() -> Iterator[OutsideAgent]:
    with OutsideAgent(SECRET) as agent:
        yield agent


def test_the_workshop_loop_mail_in_question_back_answer_out_in_one_mail_thread(
    outside: OutsideAgent,
    make_email_bot: MakeEmailBot,
    dovecot: DovecotServer,
    smtp: SmtpServer,
    model: FakeModelServer,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    bot: EmailSignoff = make_email_bot(
        SIGNOFF_AGENT="webhook", SIGNOFF_WEBHOOK_URL=outside.url, SIGNOFF_WEBHOOK_SECRET=SECRET
    )
    monkeypatch.setenv("HUMANLAYER_API_BASE", f"{bot.process.url}/humanlayer/v1")
    monkeypatch.setenv("HUMANLAYER_API_KEY", API_TOKEN)
    hl = HumanLayer()

    def ask_back(received: V1Beta2EmailEventReceived) -> None:
        email = received.event  # the workshop's handler: clarify before acting, in the same thread
        hl.create_human_contact(
            HumanContactSpec(
                msg=f"Which version should I deploy? You wrote: {email.body.strip()}",
                channel=ContactChannel(
                    email=EmailContactChannel.in_reply_to(
                        from_address=email.from_address, subject=email.subject, message_id=email.message_id
                    )
                ),
                state={"asked_about": email.message_id},
            ),
            call_id="ask-" + hashlib.sha256(email.message_id.encode()).hexdigest()[:16],
        )

    outside.handlers["agent_email.received"] = ask_back

    first = mail(BOB, "Deploy the pricing page", "Please deploy the new pricing page today.")
    first_id = mail_id(first)
    bot.send(first)

    [inbound] = outside.wait_for("agent_email.received")
    email = inbound.event.event
    assert (email.from_address, email.to_address, email.subject) == (BOB, AGENT, "Deploy the pricing page")
    assert email.body.strip() == "Please deploy the new pricing page today." and email.message_id == first_id
    assert f"Message-ID: {first_id}" in email.raw_email and inbound.event.is_test is False

    [asked] = bot.wait_sent(1, sent_to(BOB))
    assert "Which version should I deploy?" in body_of(asked)
    assert ids(asked, "In-Reply-To") == [first_id] and first_id in ids(asked, "References")
    assert str(asked.message["Subject"]) == "Re: Deploy the pricing page"

    bot.send(reply(asked.message, BOB, "v2.3, after 5pm"))
    [completed] = outside.wait_for("human_contact.completed")
    contact = completed.event.event
    assert contact.status is not None and contact.status.response == "v2.3, after 5pm"
    assert contact.spec.state == {"asked_about": first_id} and contact.call_id.startswith("ask-")

    # The outcome's notice goes out in the same thread too: every mail names the first one.
    notices = bot.wait_sent(2, sent_to(BOB))
    assert all(first_id in ids(m, "References") or ids(m, "In-Reply-To") == [first_id] for m in notices)
    assert not [a for m in notices for _, a in getaddresses(m.message.get_all("To", [])) if a != BOB]

    # Each webhook once (its id from what caused it), no built-in agent ran, and the thread waits on the agent.
    assert len(outside.of("agent_email.received")) == 1 and len({r.webhook_id for r in outside.received}) == 2
    assert outside.refused == [] and outside.errors == []
    [thread] = [t for t in bot.threads() if t["agent"] == "signoff:webhook"]
    assert thread["status"] == "waiting" and thread["channel"] == "email"
    assert model.requests == []

    # A later mail in that thread carries the earlier ones as previous_thread.
    outside.handlers.pop("agent_email.received")
    bot.send(
        mail(BOB, "Re: Deploy the pricing page", "And the docs page.", in_reply_to=first_id, references=[first_id])
    )
    later = outside.wait_for("agent_email.received", 2)[1].event.event
    assert later.body.strip() == "And the docs page." and later.previous_thread is not None
    assert [(m.from_address, m.content.strip()) for m in later.previous_thread] == [
        (BOB, "Please deploy the new pricing page today.")
    ]


def test_a_slack_mention_reaches_the_outside_agent_once_however_often_slack_sends_it(
    outside: OutsideAgent, make_slack_bot: MakeSlackBot, fake: FakeSlack, model: FakeModelServer, tmp_path: Path
) -> None:
    bot = make_slack_bot(SIGNOFF_AGENT="webhook", SIGNOFF_WEBHOOK_URL=outside.url, SIGNOFF_WEBHOOK_SECRET=SECRET)
    event = app_mention("<@UBOT> what's the status of payments?", user="U0BOB", channel="C0OPS", ts="1700000000.000100")
    assert bot.event(event, "EvMention1").status_code == 200
    assert bot.event(event, "EvMention1", retry_num=1).status_code == 200  # Slack's retry of the same event
    [received] = outside.wait_for("agent_slack.received")
    thread = received.event.event
    assert (thread.channel_id, thread.thread_ts) == ("C0OPS", "1700000000.000100")
    [message] = thread.events
    assert (message.from_user_id, message.channel_id, message.message_id) == ("U0BOB", "C0OPS", "1700000000.000100")
    assert message.content == "what's the status of payments?"

    reply_event = app_mention(
        "<@UBOT> and search?", user="U0BOB", channel="C0OPS", ts="1700000000.000200", thread_ts="1700000000.000100"
    )
    assert bot.event(reply_event, "EvMention2").status_code == 200
    second = outside.wait_for("agent_slack.received", 2)[1].event.event
    assert second.thread_ts == "1700000000.000100" and second.events[0].content == "and search?"
    wait_until(lambda: len(bot.threads()) == 1, message="one thread")
    assert len(outside.of("agent_slack.received")) == 2 and outside.refused == []
    assert [t["status"] for t in bot.threads()] == ["waiting"] and model.requests == []


def test_the_workshop_loop_in_slack_questions_in_the_mention_thread_are_answered_by_replies_there(
    outside: OutsideAgent,
    make_slack_bot: MakeSlackBot,
    fake: FakeSlack,
    model: FakeModelServer,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    bot = make_slack_bot(SIGNOFF_AGENT="webhook", SIGNOFF_WEBHOOK_URL=outside.url, SIGNOFF_WEBHOOK_SECRET=SECRET)
    monkeypatch.setenv("HUMANLAYER_API_BASE", f"{bot.process.url}/humanlayer/v1")
    monkeypatch.setenv("HUMANLAYER_API_KEY", API_TOKEN)
    hl = HumanLayer()
    root = "1700000000.000100"

    def ask_back(received: V1Beta2SlackEventReceived) -> None:
        thread = received.event  # clarify in the thread it was asked in, twice
        for n, question in enumerate(["Which version?", "Which region?"], 1):
            hl.create_human_contact(
                HumanContactSpec(
                    msg=question,
                    channel=ContactChannel(
                        slack=SlackContactChannel(channel_or_user_id=thread.channel_id, thread_ts=thread.thread_ts)
                    ),
                ),
                call_id=f"ask-{n}",
            )

    outside.handlers["agent_slack.received"] = ask_back
    bot.event(app_mention("<@UBOT> deploy the pricing page", user=ALICE, channel="C0OPS", ts=root))
    outside.wait_for("agent_slack.received")
    asked = wait_until(lambda: len(posted(fake)) == 2 and posted(fake), message="both questions")
    assert [(at[0], p.get("thread_ts")) for at, p in asked] == [("C0OPS", root), ("C0OPS", root)]
    bot.wait_delivered()

    # Each reply in the mention's thread answers the question that waits longest, not the agent's thread.
    bot.event(message_event("v2.3", user=ALICE, channel="C0OPS", ts="1700000000.000300", thread_ts=root))
    [first] = outside.wait_for("human_contact.completed")
    assert (first.event.event.call_id, first.event.event.status.response) == ("ask-1", "v2.3")
    bot.event(message_event("eu-west", user=ALICE, channel="C0OPS", ts="1700000000.000400", thread_ts=root))
    second = outside.wait_for("human_contact.completed", 2)[1].event.event
    assert (second.call_id, second.status.response) == ("ask-2", "eu-west")
    assert hl.get_human_contact("ask-1").status.response == "v2.3"

    # Once nothing waits there, a reply is the agent's again.
    bot.event(message_event("thanks", user=ALICE, channel="C0OPS", ts="1700000000.000500", thread_ts=root))
    again = outside.wait_for("agent_slack.received", 2)[1].event.event
    assert again.thread_ts == root and again.events[0].content == "thanks"
    assert outside.refused == [] and outside.errors == [] and model.requests == []
