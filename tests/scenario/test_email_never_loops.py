"""No mail loops: bounces, auto-replies, list mail, bulk mail, mail with an empty return path, from a
mailer daemon or from our own address are recorded but never answered and never decide anything.
A per-sender limit caps how many messages of one sender get an answer."""

from __future__ import annotations

from pathlib import Path

import pytest

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

FIXTURES = Path(__file__).parents[1] / "fixtures" / "email"
SENTINEL = "carol@corp.example"


@pytest.fixture
def bot(make_email_bot: MakeEmailBot) -> EmailSignoff:
    return make_email_bot(lambda body: text("Noted."), SIGNOFF_EMAIL_RATE_LIMIT="2")


def sentinel(bot: EmailSignoff, n: int) -> None:
    """A human's message after the others: once it is answered, everything before it was read."""
    bot.send(mail(SENTINEL, f"sentinel {n}", "are you there?"))
    bot.wait_sent(n, sent_to(SENTINEL))


def test_automated_mail_is_recorded_but_never_answered(bot: EmailSignoff) -> None:
    robots = [
        ("vacation_autoreply.eml", None),  # Auto-Submitted: auto-replied, from a person
        ("bounce_dsn.eml", ""),  # a delivery status report from MAILER-DAEMON, null sender
        ("mailing_list.eml", None),  # List-Id, Precedence: list
    ]
    for name, envelope_sender in robots:
        bot.send((FIXTURES / name).read_bytes(), to=AGENT, sender=envelope_sender)
    made = [
        mail("robot@corp.example", "Automatic reply", "I am out", headers={"Auto-Submitted": "auto-generated"}),
        mail("news@corp.example", "newsletter", "buy now", headers={"Precedence": "bulk"}),
        mail("announce@corp.example", "announce", "hello list", headers={"List-Unsubscribe": "<mailto:u@x>"}),
        mail("postmaster@corp.example", "Delivery failure", "your mail bounced"),
        mail(AGENT, "Re: payments", "a copy of our own mail"),
        mail("plain@corp.example", "hello", "a person, but an empty return path"),
    ]
    for n, raw in enumerate(made):
        bot.send(raw, sender="" if n == len(made) - 1 else None)
    sentinel(bot, 1)

    [only] = bot.threads()
    assert bot.thread(only["id"])["events"][0]["by"] == SENTINEL
    everyone = {to for m in bot.sent() for to in to_of(m)}
    assert everyone == {SENTINEL}


def test_an_auto_reply_to_an_approval_request_never_decides_it(bot: EmailSignoff, model: FakeModelServer) -> None:
    model.script(tool_call("restart_service", {"name": "web", "reason": "hung"}))
    bot.send(mail(BOB, "web", "restart web"))
    [ask] = bot.wait_sent(1, sent_to(ALICE))
    # Alice's vacation responder answers to her token address, first line "Approved" and all.
    bot.send(
        reply(ask.message, ALICE, "Approved leave: I am out until Monday.", headers={"Auto-Submitted": "auto-replied"})
    )
    bot.send(reply(ask.message, ALICE, "approve", headers={"Precedence": "bulk"}))
    sentinel(bot, 1)
    [request] = bot.pending()
    assert request["kind"] == "approval" and request["status"] == "pending"
    assert len(bot.sent(sent_to(ALICE))) == 1  # and nothing went back to the robot


def test_one_sender_gets_at_most_the_configured_number_of_answers_per_hour(bot: EmailSignoff) -> None:
    for n in range(4):
        bot.send(mail(BOB, f"question {n}", f"message number {n}"))
    sentinel(bot, 1)
    answered = wait_until(
        lambda: len(bot.sent(sent_to(BOB))) >= 2 and bot.sent(sent_to(BOB)), timeout=WAIT, message="answers"
    )
    assert len(bot.threads()) == 3  # Bob's first two, and the sentinel's
    assert len(answered) == 2 and {body_of(m).strip() for m in answered} == {"Noted."}
    bot.log_has("over the limit of 2 messages per sender per hour")
