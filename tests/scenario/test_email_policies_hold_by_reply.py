"""Policies by email (Dovecot + aiosmtpd, a real `signoff serve`): the approval mail shows the rule
and "0 of 2"; the person who asked replies `approve` and is told why it decided nothing; the first
SRE's approval is counted and said (1 of 2); the same SRE's second reply is refused with a note;
the second SRE's approval runs the tool once, recorded with the email proof and the person."""

from __future__ import annotations

from pathlib import Path

from tests.support.email_signoff import BOB, MakeEmailBot, body_of, mail, reply, sent_to
from tests.support.fake_model import FakeModelServer, text, tool_call
from tests.support.people import POLICY_AGENT, directory
from tests.support.signoff_process import wait_until
from tests.support.smtp_server import Received

ALICE = "alice@example.com"
CAROL = "carol@example.com"


def saying(address: str, words: str):  # type: ignore[no-untyped-def]
    return lambda m: sent_to(address)(m) and words in body_of(m)


def test_no_self_approval_and_two_of_m_by_email(
    make_email_bot: MakeEmailBot, model: FakeModelServer, tmp_path: Path
) -> None:
    directory(f"sqlite:///{tmp_path / 'signoff.db'}")
    bot = make_email_bot(**POLICY_AGENT)
    model.script(tool_call("deploy", {"service": "web", "env": "prod", "reason": "release"}), text("Deployed."))
    bot.send(mail(BOB, "deploy", "Please deploy web to prod."))
    asks: dict[str, Received] = {}
    for who in (ALICE, BOB, CAROL):  # the SREs, named as people: each gets the request at their address
        [asks[who]] = bot.wait_sent(1, saying(who, "Approval needed"))
    body = body_of(asks[ALICE])
    assert "Rule: prod needs two SREs" in body and "0 of 2 so far" in body
    [request] = bot.pending()

    bot.send(reply(asks[BOB].message, BOB, "approve"))
    [own] = bot.wait_sent(1, saying(BOB, "decided nothing"))
    assert "may not approve their own request" in body_of(own)
    assert bot.request(request["id"])["progress"] == "0 of 2"

    bot.send(reply(asks[ALICE].message, ALICE, "approve"))
    [counted] = bot.wait_sent(1, saying(ALICE, "approval 1 of 2 recorded"))
    assert bot.request(request["id"])["progress"] == "1 of 2"
    bot.wait_sent(1, saying(BOB, "alice approved (1 of 2)"))  # the thread hears of the progress

    bot.send(reply(asks[ALICE].message, ALICE, "approve"))
    [twice] = bot.wait_sent(1, saying(ALICE, "already approved"))
    assert bot.request(request["id"])["status"] == "pending"

    bot.send(reply(asks[CAROL].message, CAROL, "approve\nlooks good"))
    thread = bot.wait_status(request["thread_id"], "done")
    events = thread["events"]
    assert [e["type"] for e in events].count("tool_result") == 1
    [decided] = [e for e in events if e["type"] == "approval_decided"]
    identity = decided["identity"]
    # SIGNOFF_EMAIL_REQUIRE_AUTH is off in these tests: the proof says From only.
    assert (identity["method"], identity["channel"], identity["person"]) == ("email_from", "email", "carol")
    assert identity["subject"] == CAROL and identity["detail"]["from"] == CAROL
    assert [a["person"] for a in decided["approvals"]] == ["alice", "carol"]
    wait_until(lambda: bot.request(request["id"])["status"] == "approved", message="approved")
