"""The clock by email (Dovecot + aiosmtpd, a real `signoff serve`, a test clock moved forward, never a
sleep): a waiting approval is mailed again as a reminder to each person it still waits for, with
their own reply address (a reply to the reminder decides); it escalates to Dave, whose reply to the
escalation counts; left alone, it expires: the mail says so, the model is told and tells the
requester, and a late reply changes nothing."""

from __future__ import annotations

import json
from pathlib import Path

from tests.support.clock_file import ClockFile
from tests.support.email_signoff import BOB, EmailSignoff, MakeEmailBot, body_of, mail, reply, sent_to
from tests.support.fake_model import FakeModelServer, text, tool_call
from tests.support.people import directory
from tests.support.signoff_process import wait_until
from tests.support.smtp_server import Received

ALICE = "alice@example.com"
CAROL = "carol@example.com"
DAVE = "dave@example.com"


def saying(address: str, words: str):  # type: ignore[no-untyped-def]
    return lambda m: sent_to(address)(m) and words in body_of(m)


def start(make_email_bot: MakeEmailBot, tmp_path: Path) -> tuple[EmailSignoff, ClockFile]:
    directory(f"sqlite:///{tmp_path / 'signoff.db'}")
    clock = ClockFile(tmp_path)
    return make_email_bot(**clock.settings()), clock


def asked(bot: EmailSignoff) -> dict[str, Received]:
    asks = {}
    for who in (ALICE, CAROL):
        [asks[who]] = bot.wait_sent(1, saying(who, "Approval needed"))
    return asks


def test_a_reminder_by_email_is_answered_and_the_escalation_reaches_dave(
    make_email_bot: MakeEmailBot, model: FakeModelServer, tmp_path: Path
) -> None:
    bot, clock = start(make_email_bot, tmp_path)
    model.script(tool_call("restart_service", {"name": "payments", "reason": "stuck"}), text("Restarted payments."))
    bot.send(mail(BOB, "restart", "Please restart payments."))
    asked(bot)
    [request] = bot.pending()

    clock.advance(minutes=11)
    reminders = {}
    for who in (ALICE, CAROL):
        [reminders[who]] = bot.wait_sent(1, saying(who, "Reminder: This approval request is still waiting"))
        body = body_of(reminders[who])
        assert "from alice, carol" in body and "0 of 2 approvals so far" in body
        assert "Approval needed: restart_service" in body and f"Request {request['id']}" in body
    bot.send(reply(reminders[ALICE].message, ALICE, "approve"))  # its own reply address: it decides
    wait_until(lambda: bot.request(request["id"])["progress"] == "1 of 2", message="alice's approval counted")

    clock.advance(minutes=20)
    [escalation] = bot.wait_sent(1, saying(DAVE, "Escalated to you"))
    assert "Approval needed: restart_service" in body_of(escalation)
    bot.send(reply(escalation.message, DAVE, "approve"))
    thread = bot.wait_status(request["thread_id"], "done")
    events = thread["events"]
    assert [e["type"] for e in events].count("tool_result") == 1
    [decided] = [e for e in events if e["type"] == "approval_decided"]
    assert [a["subject"] for a in decided["approvals"]] == [ALICE, DAVE]
    assert [e["type"] for e in events].count("request_reminded") == 1
    assert len(bot.sent(saying(CAROL, "Reminder:"))) == 1  # a timer fires once


def test_an_approval_nobody_answers_expires_by_email_and_the_requester_is_told(
    make_email_bot: MakeEmailBot, model: FakeModelServer, tmp_path: Path
) -> None:
    bot, clock = start(make_email_bot, tmp_path)
    model.script(
        tool_call("restart_service", {"name": "payments", "reason": "stuck"}),
        lambda body: (
            text("Nobody approved the restart in time, so payments was not restarted.")
            if "request_expired" in json.dumps(body)
            else text("I was not told.")
        ),
    )
    bot.send(mail(BOB, "restart", "Please restart payments."))
    asks = asked(bot)
    [request] = bot.pending()

    clock.advance(minutes=61)
    [notice] = bot.wait_sent(1, saying(ALICE, "Expired: nobody answered, so restart_service will not run."))
    [told] = bot.wait_sent(1, saying(BOB, "payments was not restarted"))
    thread = bot.wait_status(request["thread_id"], "done")
    assert [e["type"] for e in thread["events"]].count("tool_result") == 0
    assert bot.request(request["id"])["status"] == "expired"
    assert bot.sent(saying(ALICE, "Reminder:")) == []  # superseded by the expiry due as well

    bot.send(reply(asks[ALICE].message, ALICE, "approve"))  # too late
    bot.wait_sent(1, saying(ALICE, "Your reply came too late"))
    assert bot.request(request["id"])["status"] == "expired"
