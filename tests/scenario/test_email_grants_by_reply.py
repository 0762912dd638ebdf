"""Standing grants by email (Dovecot + aiosmtpd, a real `signoff serve`): the approval mail lists
the grants the approver may give; the person who asked replies `approve for 1h` and is told they
cannot grant; `approve for 2h` is wider than the tool allows and decides nothing; `approve for 1h`
approves and grants; bob's next restart, in a new conversation, runs on the grant without a mail
asking anyone."""

from __future__ import annotations

from pathlib import Path

from tests.scenario.test_grants_over_the_api_and_the_cli import GRANTS_AGENT
from tests.support.email_signoff import BOB, MakeEmailBot, body_of, mail, reply, sent_to
from tests.support.fake_model import FakeModelServer, text, tool_call
from tests.support.people import directory
from tests.support.signoff_process import wait_until
from tests.support.smtp_server import Received

ALICE = "alice@example.com"


def saying(address: str, words: str):  # type: ignore[no-untyped-def]
    return lambda m: sent_to(address)(m) and words in body_of(m)


def test_approve_for_an_hour_by_email(make_email_bot: MakeEmailBot, model: FakeModelServer, tmp_path: Path) -> None:
    directory(f"sqlite:///{tmp_path / 'signoff.db'}")
    bot = make_email_bot(**GRANTS_AGENT)
    model.script(tool_call("restart", {"name": "web", "reason": "stuck"}), text("Restarted web."))
    bot.send(mail(BOB, "restart", "Please restart web."))
    asks: dict[str, Received] = {}
    for who in (ALICE, BOB):
        [asks[who]] = bot.wait_sent(1, saying(who, "Approval needed"))
    body = body_of(asks[ALICE])
    assert "approve for this thread" in body and "approve for 1h" in body and "approve for these arguments" in body
    [request] = bot.pending()

    bot.send(reply(asks[BOB].message, BOB, "approve for 1h"))
    [own] = bot.wait_sent(1, saying(BOB, "decided nothing"))
    assert "cannot give a standing grant" in body_of(own)

    bot.send(reply(asks[ALICE].message, ALICE, "approve for 2h"))
    [wide] = bot.wait_sent(1, saying(ALICE, "decided nothing"))
    assert "at most 1 hour" in body_of(wide)
    assert bot.request(request["id"])["status"] == "pending"

    bot.send(reply(asks[ALICE].message, ALICE, "approve for 1h\nthanks"))
    thread = bot.wait_status(request["thread_id"], "done")
    [given] = [e for e in thread["events"] if e["type"] == "grant_given"]
    assert (given["scope"], given["by"], given["identity"]["person"]) == ("duration", ALICE, "alice")
    [decided] = [e for e in thread["events"] if e["type"] == "approval_decided"]
    assert decided["comment"] == "thanks"
    # The outcome's mail says what the grant allows, and until when.
    [outcome] = bot.wait_sent(1, saying(BOB, f"With standing grant {given['grant_id']}"))
    assert "also allowed the same calls for any thread until" in body_of(outcome)

    model.script(tool_call("restart", {"name": "search", "reason": "slow"}), text("Restarted search."))
    bot.send(mail(BOB, "restart search", "Please restart search too."))
    second = wait_until(lambda: [t for t in bot.threads() if t["id"] != request["thread_id"]], message="a 2nd thread")
    done = bot.wait_status(second[0]["id"], "done")
    [used] = [e for e in done["events"] if e["type"] == "grant_used"]
    assert (used["grant_id"], used["by"]) == (given["grant_id"], ALICE)
    bot.wait_sent(1, saying(BOB, "Restarted search."))
    assert len(bot.sent(saying(ALICE, "Approval needed"))) == 1  # nobody was asked the second time
